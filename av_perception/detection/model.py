"""What a model is: format, input size, letterbox, normalisation and class names.

Sources, strongest first: the configuration, a sidecar YAML next to the model
(``<model>.yaml`` or ``<model>.onnx.yaml``), the ONNX ``custom_metadata_map`` (ultralytics and
YOLOv5 exports store ``names``, ``stride`` and ``imgsz`` there), then the model's shapes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
import functools
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from av_perception.detection.config import (DetectorConfig, LETTERBOX_MODES, MODEL_FORMATS,
                                            NORMALIZATIONS)
from av_perception.detection.decode import DEFAULT_STRIDES, yolox_grid_count
from av_perception.detection.errors import DetectorError

COCO_LABELS_FILE = Path(__file__).with_name('coco_classes.txt')
SIDECAR_KEYS = ('format', 'names', 'labels', 'input_size', 'letterbox', 'normalization',
                'strides')
FORMAT_DEFAULTS = {
    'yolox': ('top_left', 'bgr_0_255'),
    'yolov5': ('center', 'rgb_0_1'),
    'yolov8': ('center', 'rgb_0_1'),
}


@dataclass(frozen=True)
class ModelInfo:
    """Everything the detector needs to know about its model, and where each value came from."""

    path: str
    format: str
    input_name: str
    input_width: int
    input_height: int
    letterbox: str
    normalization: str
    strides: tuple[int, ...]
    class_names: tuple[str, ...]
    output_shape: tuple[int, ...]
    sources: tuple[tuple[str, str], ...]  # (setting, where it came from)

    @property
    def num_classes(self) -> int:
        """Return the number of classes the model scores."""
        return len(self.class_names)

    def describe(self) -> str:
        """Return a one-line human summary (for logs and diagnostics)."""
        origin = ', '.join(f'{key} from {source}' for key, source in self.sources)
        return (f'{Path(self.path).name}: {self.format} {self.input_width}x{self.input_height} '
                f'{self.letterbox} {self.normalization}, {self.num_classes} classes, output '
                f'{list(self.output_shape)} ({origin})')


def load_class_names(path: str | Path) -> tuple[str, ...]:
    """Read class names, one per line (blank lines skipped)."""
    path = Path(path)
    try:
        names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    except (OSError, UnicodeDecodeError) as err:
        raise DetectorError(f'cannot read labels file {path}: {err}') from err
    if not names:
        raise DetectorError(f'labels file {path} holds no class names')
    return names


@functools.lru_cache(maxsize=1)
def coco_class_names() -> tuple[str, ...]:
    """Return the 80 COCO class names in COCO order (shipped with the package; read once)."""
    return load_class_names(COCO_LABELS_FILE)


def sidecar_path(model_path: str | Path) -> Path | None:
    """Return the sidecar YAML of a model (``x.yaml`` or ``x.onnx.yaml``) if one exists."""
    model_path = Path(model_path)
    for candidate in (model_path.with_suffix('.yaml'),
                      model_path.with_name(model_path.name + '.yaml')):
        if candidate.is_file():
            return candidate
    return None


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read and check a sidecar YAML; ``labels`` paths become absolute (relative to it)."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise DetectorError(f'cannot read model sidecar {path}: {err}') from err
    if not isinstance(values, dict):
        raise DetectorError(f'model sidecar {path}: top level must be a mapping')
    unknown = sorted(set(values) - set(SIDECAR_KEYS))
    if unknown:
        raise DetectorError(f'model sidecar {path}: unknown key(s) {unknown}; known: '
                            f'{list(SIDECAR_KEYS)}')
    checked: dict[str, Any] = {}
    if 'format' in values:
        checked['format'] = _choice(values['format'], MODEL_FORMATS, f'{path}: format')
    if 'letterbox' in values:
        checked['letterbox'] = _choice(values['letterbox'], LETTERBOX_MODES, f'{path}: letterbox')
    if 'normalization' in values:
        checked['normalization'] = _choice(values['normalization'], NORMALIZATIONS,
                                           f'{path}: normalization')
    if 'input_size' in values:
        checked['input_size'] = _size(values['input_size'], f'{path}: input_size')
    if 'strides' in values:
        strides = values['strides']
        if (not isinstance(strides, list) or not strides
                or not all(isinstance(s, int) and s > 0 for s in strides)):
            raise DetectorError(f'model sidecar {path}: strides={strides!r} must be a list of '
                                'positive integers')
        checked['strides'] = tuple(strides)
    if 'names' in values:
        checked['names'] = _names(values['names'], f'model sidecar {path}: names')
    if 'labels' in values:
        checked['labels'] = load_class_names(path.parent / str(values['labels']))
    return checked


def _choice(value: Any, choices: Sequence[str], what: str) -> str:
    if value not in choices:
        raise DetectorError(f'{what}={value!r}: must be one of {list(choices)}')
    return value


def _size(value: Any, what: str) -> tuple[int, int]:
    """Return (width, height) from an int or a [width, height] list."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, value
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        return value[0], value[1]
    raise DetectorError(f'{what}={value!r}: must be a positive int or [width, height]')


def _names(value: Any, what: str) -> tuple[str, ...]:
    """Return class names from a list or an {index: name} mapping (ultralytics style)."""
    if isinstance(value, Mapping):
        try:
            indexed = {int(k): str(v) for k, v in value.items()}
        except (TypeError, ValueError) as err:
            raise DetectorError(f'{what}: keys must be class indices, got {value!r}') from err
        if sorted(indexed) != list(range(len(indexed))):
            raise DetectorError(f'{what}: indices must be 0..{len(indexed) - 1}, got '
                                f'{sorted(indexed)}')
        return tuple(indexed[i] for i in range(len(indexed)))
    if isinstance(value, (list, tuple)) and value:
        return tuple(str(v) for v in value)
    raise DetectorError(f'{what}={value!r}: must be a list of names or an index->name mapping')


def parse_metadata(metadata: Mapping[str, str]) -> dict[str, Any]:
    """Parse ONNX ``custom_metadata_map`` entries written by ultralytics/YOLOv5 exports.

    ``names`` is a Python dict literal ``{0: 'person', ...}``, ``imgsz`` a ``[height, width]``
    list, ``stride`` the largest stride. Unknown entries are ignored; unparsable ones raise.
    """
    parsed: dict[str, Any] = {}
    task = metadata.get('task')
    if task is not None and task != 'detect':
        raise DetectorError(f'model metadata task={task!r}: only detection models are '
                            'supported')
    if 'names' in metadata:
        parsed['names'] = _names(_literal(metadata['names'], 'names'), 'model metadata names')
    if 'imgsz' in metadata:
        imgsz = _literal(metadata['imgsz'], 'imgsz')
        if isinstance(imgsz, int):
            imgsz = [imgsz, imgsz]
        if not isinstance(imgsz, (list, tuple)) or len(imgsz) != 2:
            raise DetectorError(f'model metadata imgsz={metadata["imgsz"]!r}: expected '
                                '[height, width]')
        parsed['input_size'] = _size([int(imgsz[1]), int(imgsz[0])], 'model metadata imgsz')
    if 'stride' in metadata:
        stride = _literal(metadata['stride'], 'stride')
        if not isinstance(stride, int) or stride <= 0:
            raise DetectorError(f'model metadata stride={metadata["stride"]!r}: expected a '
                                'positive integer')
        parsed['max_stride'] = stride
    return parsed


def _literal(text: str, key: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as err:
        raise DetectorError(f'model metadata {key}={text!r} cannot be parsed: {err}') from err


def input_size_of(config: DetectorConfig, sidecar: Mapping[str, Any],
                  metadata: Mapping[str, Any], input_shape: Sequence[int | None],
                  model_path: str | Path) -> tuple[tuple[int, int], str]:
    """Return the network input (width, height) and where it came from."""
    static = (input_shape[3], input_shape[2]) if len(input_shape) == 4 else (None, None)
    if config.input_width > 0:
        size, source = (config.input_width, config.input_height), 'config'
    elif 'input_size' in sidecar:
        size, source = sidecar['input_size'], 'sidecar'
    elif 'input_size' in metadata:
        size, source = metadata['input_size'], 'metadata'
    elif None not in static:
        return (int(static[0]), int(static[1])), 'model input shape'
    else:
        raise DetectorError(f'model {model_path} has a dynamic input shape {list(input_shape)}; '
                            'set input_width/input_height or input_size in its sidecar')
    for got, fixed, axis in ((size[0], static[0], 'width'), (size[1], static[1], 'height')):
        if fixed is not None and got != fixed:
            raise DetectorError(f'input {axis} {got} (from {source}) does not match the fixed '
                                f'input shape {list(input_shape)} of model {model_path}')
    return (int(size[0]), int(size[1])), source


def infer_format(output_shape: Sequence[int], input_size: tuple[int, int],
                 strides: Sequence[int] = DEFAULT_STRIDES) -> str:
    """Guess the output layout from a concrete output shape.

    [1, N, C] with N equal to the YOLOX grid of the input size (one row per cell of strides
    8/16/32) is a raw YOLOX head; [1, C, N] with N equal to that grid is the ultralytics
    YOLOv8/YOLO11 layout (4 + classes rows); [1, 3 x grid, C] is a YOLOv5 export (3 anchors
    per cell). Otherwise the longer axis is taken as N.
    """
    shape = list(output_shape)
    if len(shape) != 3 or shape[0] != 1 or min(shape) <= 0:
        raise DetectorError(f'model output shape {shape}: expected [1, N, 5 + classes] '
                            '(YOLOX/YOLOv5) or [1, 4 + classes, N] (YOLOv8/YOLO11)')
    cells = yolox_grid_count(input_size[0], input_size[1], strides)
    # The grid size decides first: at small inputs N can be smaller than 5 + classes.
    if shape[1] == cells and shape[2] >= 6:
        return 'yolox'
    if shape[2] == cells and shape[1] >= 5:
        return 'yolov8'
    if shape[1] == 3 * cells and shape[2] >= 6:
        return 'yolov5'
    if shape[1] < shape[2]:
        if shape[1] < 5:
            raise DetectorError(f'model output shape {shape}: too few rows for '
                                '[1, 4 + classes, N]')
        return 'yolov8'
    if shape[2] < 6:
        raise DetectorError(f'model output shape {shape}: too few columns for '
                            '[1, N, 5 + classes]')
    return 'yolov5'


def resolve_model_info(model_path: str | Path, input_name: str,
                       input_size: tuple[int, int], input_size_source: str,
                       output_shape: Sequence[int], metadata: Mapping[str, Any],
                       sidecar: Mapping[str, Any], config: DetectorConfig,
                       config_labels: tuple[str, ...] | None = None) -> ModelInfo:
    """Combine config, sidecar, parsed metadata and the concrete output shape into ModelInfo.

    ``metadata`` is the output of :func:`parse_metadata`, ``sidecar`` that of
    :func:`read_sidecar`; ``config_labels`` the names read from ``config.labels_path``.
    """
    sources = [('input size', input_size_source)]
    strides = tuple(sidecar.get('strides', DEFAULT_STRIDES))
    shape = tuple(int(d) for d in output_shape)
    if config.model_format != 'auto':
        fmt, source = config.model_format, 'config'
    elif 'format' in sidecar:
        fmt, source = sidecar['format'], 'sidecar'
    else:
        fmt, source = infer_format(shape, input_size, strides), f'output shape {list(shape)}'
    sources.append(('format', source))
    num_classes = _check_output_shape(fmt, shape, input_size, strides, model_path)

    letterbox_default, normalization_default = FORMAT_DEFAULTS[fmt]
    letterbox, source = _pick('letterbox', config.letterbox, sidecar, letterbox_default, fmt)
    sources.append(('letterbox', source))
    normalization, source = _pick('normalization', config.normalization, sidecar,
                                  normalization_default, fmt)
    sources.append(('normalization', source))

    if config_labels is not None:
        names, source = config_labels, f'labels file {config.labels_path}'
    elif 'names' in sidecar:
        names, source = sidecar['names'], 'sidecar names'
    elif 'labels' in sidecar:
        names, source = sidecar['labels'], 'sidecar labels file'
    elif 'names' in metadata:
        names, source = metadata['names'], 'model metadata'
    elif num_classes == 80:
        names, source = coco_class_names(), 'COCO-80 default'
    else:
        names = tuple(f'class_{i}' for i in range(num_classes))
        source = 'generic (no names found)'
    if len(names) != num_classes:
        raise DetectorError(f'model {model_path} scores {num_classes} classes (output '
                            f'{list(shape)}) but {source} gives {len(names)} names')
    sources.append(('class names', source))
    return ModelInfo(path=str(model_path), format=fmt, input_name=input_name,
                     input_width=input_size[0], input_height=input_size[1],
                     letterbox=letterbox, normalization=normalization, strides=strides,
                     class_names=tuple(names), output_shape=shape, sources=tuple(sources))


def _pick(key: str, configured: str, sidecar: Mapping[str, Any], default: str,
          fmt: str) -> tuple[str, str]:
    if configured != 'auto':
        return configured, 'config'
    if key in sidecar:
        return sidecar[key], 'sidecar'
    return default, f'{fmt} default'


def _check_output_shape(fmt: str, shape: tuple[int, ...], input_size: tuple[int, int],
                        strides: Sequence[int], model_path: str | Path) -> int:
    """Check ``shape`` fits ``fmt``; return the number of classes."""
    if len(shape) != 3 or shape[0] != 1:
        raise DetectorError(f'model {model_path} output shape {list(shape)} does not fit '
                            f'{fmt}: expected 3 dimensions with batch 1')
    if fmt == 'yolov8':
        if shape[1] < 5:
            raise DetectorError(f'model {model_path} output shape {list(shape)} does not fit '
                                'yolov8 [1, 4 + classes, N]')
        return shape[1] - 4
    if shape[2] < 6:
        raise DetectorError(f'model {model_path} output shape {list(shape)} does not fit '
                            f'{fmt} [1, N, 5 + classes]')
    if fmt == 'yolox':
        cells = yolox_grid_count(input_size[0], input_size[1], strides)
        if shape[1] != cells:
            raise DetectorError(
                f'model {model_path} output shape {list(shape)} does not fit yolox: a '
                f'{input_size[0]}x{input_size[1]} input with strides {list(strides)} has '
                f'{cells} grid cells')
    return shape[2] - 5
