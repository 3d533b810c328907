"""``av-perception launch FILE [name:=value ...]``: run an XML launch file without ros2 launch."""

from __future__ import annotations

import argparse
from pathlib import Path
import signal
import threading


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``launch`` command."""
    parser = subparsers.add_parser(
        'launch', help='run one of our XML launch files where ros2 launch is not installed')
    parser.add_argument('file', help='launch file path, or a name in launch/ '
                                     '(e.g. perception.launch.xml)')
    parser.add_argument('arguments', nargs='*', metavar='name:=value',
                        help='launch arguments')
    parser.add_argument('--log-dir', default='out/launch_logs',
                        help='where each process writes its output (default out/launch_logs)')
    parser.add_argument('--print', action='store_true', dest='print_only',
                        help='print the processes and their command lines, start nothing')
    parser.set_defaults(func=run_launch)


def resolve_launch_file(name: str) -> Path:
    """Return the path of a launch file given as a path or as a name in our launch/ folder."""
    from av_perception.launch_xml import LaunchFileError, package_share
    path = Path(name)
    if path.exists():
        return path
    candidate = package_share('av_perception') / 'launch' / name
    if candidate.exists():
        return candidate
    raise LaunchFileError(f'launch file {name!r} not found (neither a path nor in '
                          f'{candidate.parent})')


def run_launch(args: argparse.Namespace) -> int:
    """Start the processes, wait for Ctrl-C / SIGTERM, stop them; exit 1 if one failed."""
    from av_perception.launch_xml import LaunchRunner, load_launch, parse_launch_arguments
    plan = load_launch(resolve_launch_file(args.file), parse_launch_arguments(args.arguments))
    if args.print_only:
        for spec in plan.processes:
            print(f'{spec.name}: {" ".join(spec.command)}')
        return 0
    runner = LaunchRunner(plan, args.log_dir)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runner.start()
    print(f'started {", ".join(runner.processes)}; logs in {args.log_dir}; Ctrl-C stops')
    stop.wait()
    codes = runner.stop()
    for name, code in codes.items():
        print(f'{name}: exit code {code}')
    return 0 if all(code == 0 for code in codes.values()) else 1
