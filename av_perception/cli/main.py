"""Entry point of the ``av-perception`` command.

Each subcommand lives in its own module under ``av_perception.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (returning an exit code).
Heavy imports happen inside the subcommand functions so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from av_perception import __version__

# Modules under av_perception.cli that register subcommands, in --help order.
SUBCOMMAND_MODULES = (
    'demo',
    'bag',
    'launch',
    'replay',
    'detect',
    'lanes',
    'simulate',
    'controller',
    'model',
)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog='av-perception',
        description='Camera perception for ROS 2: lanes, objects, temporal control, bags.')
    parser.add_argument('--version', action='version', version=f'%(prog)s {__version__}')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    subparsers.required = True
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f'av_perception.cli.{name}').register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError) as err:
        # Our error types all derive from ValueError and name the offending input.
        print(f'av-perception {args.command}: error: {err}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
