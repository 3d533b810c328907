"""``av-perception model``: the layer table and device budget of a model; TensorRT engines.

``model info MODEL``: parameters, MACs and activation memory per layer of any ONNX model (or
of both graphs of a controller directory), and a roofline latency estimate on a named device.
``model build-engine MODEL``: build and cache the TensorRT engine before driving.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
from typing import Any, Sequence

EXIT_NO_TENSORRT = 2


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition('=')
    if not sep or not name:
        raise argparse.ArgumentTypeError(f'{text!r}: expected NAME=VALUE')
    return name, value


def _dim(text: str) -> tuple[str, int]:
    name, value = _assignment(text)
    try:
        return name, int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r}: expected NAME=INTEGER, e.g. batch=1') \
            from None


def _shape(text: str) -> tuple[str, tuple[int, ...]]:
    name, value = _assignment(text)
    try:
        return name, tuple(int(v) for v in value.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r}: expected NAME=DxDxD, e.g. '
                                         'images=1x3x416x416') from None


def _add_shape_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--shape', type=_shape, action='append', default=[],
                        metavar='INPUT=1x3xHxW', help='static shape of an input (repeatable)')
    parser.add_argument('--dim', type=_dim, action='append', default=[], metavar='NAME=N',
                        help='value of a named dynamic dimension, e.g. batch=1 (others: 1)')


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``model`` command with its ``info`` and ``build-engine`` subcommands."""
    from av_perception.deploy.devices import DEVICES, PRECISION_BYTES

    parser = subparsers.add_parser(
        'model', help='layer table, device budget and TensorRT engines of ONNX models',
        description='Inspect ONNX models before deploying them (info) and build their TensorRT '
                    'engines ahead of time (build-engine). See docs/jetson.md.')
    commands = parser.add_subparsers(dest='model_command', metavar='SUBCOMMAND')
    commands.required = True

    info = commands.add_parser(
        'info', help='parameters, MACs, activation memory per layer; latency estimate',
        description='Layer table of any ONNX model from its graph (ONNX shape inference; no '
                    'weights are needed): output shape, parameters, MACs and output bytes per '
                    'layer, totals, and a roofline latency ESTIMATE on a device from its '
                    'published peak throughput (not a measurement). A directory with '
                    'controller.yaml is analysed as the controller runs per frame (encoder at '
                    'batch 1, temporal graph at 2 lanes x 1 step).')
    info.add_argument('models', nargs='+', metavar='MODEL',
                      help='ONNX file, or a controller directory')
    info.add_argument('--device', action='append', default=[], metavar='D',
                      choices=list(DEVICES) + ['all'],
                      help=f'estimate latency on D (repeatable; all = every one): '
                           f'{", ".join(DEVICES)}')
    info.add_argument('--precision', choices=sorted(PRECISION_BYTES), default='fp16',
                      help='arithmetic and storage precision of the estimate (default fp16, '
                           'what TensorRT runs with trt_fp16)')
    info.add_argument('--efficiency', type=float, default=1.0, metavar='E',
                      help='fraction of the peak compute rate reached (default 1: the '
                           'roofline lower bound)')
    info.add_argument('--summary', action='store_true',
                      help='one row per op type instead of one per layer')
    info.add_argument('--json', action='store_true', help='print JSON instead of tables')
    _add_shape_options(info)
    info.set_defaults(func=run_info)

    build = commands.add_parser(
        'build-engine', help='build and cache TensorRT engines before driving',
        description='Create the ONNX Runtime session with the TensorRT execution provider, '
                    'engine and timing caches in --cache-dir, run one warm-up inference so the '
                    'engine is built and written, and list the files written. Use the settings '
                    'of the nodes (--config config/jetson.param.yaml): they look for the engine '
                    'in their cache directory by model file name and graph, so build it with '
                    'their FP16 and workspace settings. Exit code 2 when this ONNX Runtime has '
                    'no TensorRT provider.')
    build.add_argument('models', nargs='+', metavar='MODEL',
                       help='ONNX file, or a controller directory (both graphs)')
    build.add_argument('--cache-dir', metavar='DIR',
                       help="engine and timing cache directory (default: the nodes' default, "
                            '$AV_PERCEPTION_MODEL_CACHE/tensorrt or '
                            '~/.cache/av_perception/models/tensorrt)')
    build.add_argument('--fp16', action=argparse.BooleanOptionalAction, default=None,
                       help='let TensorRT use FP16 (default: on, as trt_fp16)')
    build.add_argument('--workspace', type=int, metavar='MIB',
                       help='TensorRT builder workspace in MiB (default 1024)')
    build.add_argument('--device-id', type=int, metavar='N', help='GPU index (default 0)')
    build.add_argument('--config', metavar='YAML',
                       help='take cuda_device_id and trt_* from this parameter file (e.g. '
                            'config/jetson.param.yaml); the options above override it')
    build.add_argument('--node', metavar='NAME',
                       help='section of --config to read (default: object_detector for ONNX '
                            'files, temporal_controller for controller directories)')
    build.add_argument('--json', action='store_true', help='print JSON instead of text')
    _add_shape_options(build)
    build.set_defaults(func=run_build_engine)


def _is_controller_dir(path: Path) -> bool:
    from av_perception.control.metadata import SIDECAR_NAME
    return path.is_dir() and (path / SIDECAR_NAME).is_file()


def _tables(path: Path, dims: dict[str, int], shapes: dict[str, tuple[int, ...]]) -> list:
    """Return the layer tables of one MODEL argument (two for a controller directory)."""
    from av_perception.control.metadata import read_metadata
    from av_perception.control.model import HISTORY_LANES
    from av_perception.deploy.onnx_table import layer_table

    if _is_controller_dir(path):
        meta = read_metadata(path)
        return [layer_table(path / meta.encoder_file, {'batch': 1, **dims}, shapes,
                            str(path / meta.encoder_file)),
                layer_table(path / meta.temporal_file,
                            {'batch': HISTORY_LANES, 'time': 1, **dims}, shapes,
                            str(path / meta.temporal_file))]
    return [layer_table(path, dims, shapes, str(path))]


def _estimates(tables: Sequence[Any], devices: Sequence[str], precision: str,
               efficiency: float) -> list:
    from av_perception.deploy.devices import estimate_latency, memory_traffic_bytes

    flops = sum(t.flops for t in tables)
    traffic = sum(memory_traffic_bytes(t.param_count, t.input_values,
                                       t.activation_values_layers - t.input_values, precision)
                  for t in tables)
    return [estimate_latency(flops, traffic, device, precision, efficiency)
            for device in devices]


def format_estimates(estimates: Sequence[Any]) -> str:
    """Return the latency estimates as a labelled text table."""
    from av_perception.deploy.devices import DEVICES

    lines = ['latency ESTIMATE (roofline, not a measurement): max(FLOPs / (peak x efficiency), '
             'bytes / bandwidth)',
             f'{"device":16s} {"prec":5s} {"peak T(FL)OPS":>13s} {"GB/s":>7s} '
             f'{"compute ms":>10s} {"memory ms":>9s} {"estimate ms":>11s}  bound']
    for est in estimates:
        spec = DEVICES[est.device]
        lines.append(f'{est.device:16s} {est.precision:5s} '
                     f'{spec.peak_ops(est.precision) / 1e12:13.1f} {spec.memory_gbs:7.1f} '
                     f'{est.compute_ms:10.4f} {est.memory_ms:9.4f} {est.estimate_ms:11.4f}  '
                     f'{est.bound}')
    if estimates:
        lines.append(f'efficiency {estimates[0].efficiency:g}; peaks: published GPU figures '
                     '(sources in av_perception/deploy/devices.py and docs/jetson.md); real '
                     'latency is higher (kernel launches, small layers, CPU pre/post-processing)')
    return '\n'.join(lines)


def run_info(args: argparse.Namespace) -> int:
    """Print the layer tables and estimates of every MODEL; return the exit code."""
    from av_perception.deploy.devices import DEVICES
    from av_perception.deploy.onnx_table import format_table

    devices = list(DEVICES) if 'all' in args.device else list(dict.fromkeys(args.device))
    report = []
    for model in args.models:
        tables = _tables(Path(model), dict(args.dim), dict(args.shape))
        estimates = _estimates(tables, devices, args.precision, args.efficiency)
        report.append((model, tables, estimates))
    if args.json:
        json.dump([{'model': model, 'graphs': [t.to_dict() for t in tables],
                    'estimates': [e.to_dict() for e in estimates]}
                   for model, tables, estimates in report], sys.stdout, indent=1)
        sys.stdout.write('\n')
        return 0
    blocks = []
    for model, tables, estimates in report:
        text = [format_table(t, layers=not args.summary) for t in tables]
        if len(tables) > 1:
            text.append(f'{model} per frame: {sum(t.param_count for t in tables):,} parameters, '
                        f'{sum(t.macs for t in tables):,} MACs')
        if estimates:
            text.append(format_estimates(estimates))
        blocks.append('\n\n'.join(text))
    print('\n\n'.join(blocks))
    return 0


def engine_options(args: argparse.Namespace, node: str) -> Any:
    """Return the ProviderOptions of ``build-engine``: defaults < --config section < flags."""
    from av_perception.node_configs import config_class
    from av_perception.params import load_config

    overrides = {'cuda_device_id': args.device_id, 'trt_fp16': args.fp16,
                 'trt_workspace_mb': args.workspace, 'trt_engine_cache_path': args.cache_dir,
                 'trt_engine_cache': True, 'trt_timing_cache': True}
    config = load_config(config_class(node), args.config, overrides, node)
    return config.execution_provider_options()


def run_build_engine(args: argparse.Namespace) -> int:
    """Build the TensorRT engines of every MODEL; return the exit code."""
    from av_perception.deploy.engine import (build_controller_engines, build_engine,
                                             TensorRtUnavailableError)

    builds = []
    for model in args.models:
        path = Path(model)
        controller = _is_controller_dir(path)
        if not controller and not path.is_file():
            print(f'av-perception model build-engine: error: {path}: no such ONNX file or '
                  'controller directory', file=sys.stderr)
            return 1
        node = args.node or ('temporal_controller' if controller else 'object_detector')
        options = engine_options(args, node)
        try:
            if controller:
                build = build_controller_engines(path, options)
            else:
                build = build_engine(path, options, dict(args.dim), dict(args.shape))
        except TensorRtUnavailableError as err:
            print(f'av-perception model build-engine: {err}', file=sys.stderr)
            return EXIT_NO_TENSORRT
        builds.append(build)
        if not args.json:
            print(f'{build.model}: runs on {list(build.providers)}; session {build.session_s:.1f} '
                  f's, warm-up {build.warmup_s:.1f} s; cache {options.trt_engine_cache_path}')
            for file, size in build.files:
                print(f'  wrote {file} ({size:,} bytes)')
            if not build.files:
                print('  no new files: the cached engine was up to date')
    if args.json:
        json.dump([b.to_dict() for b in builds], sys.stdout, indent=1)
        sys.stdout.write('\n')
    return 0
