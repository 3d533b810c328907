"""The sidecar ``controller.yaml`` that travels with the two ONNX graphs of a controller.

It records what inference needs (input size, crop, normalisation, state sizes, history length)
and what a reader wants to know (training data and command, validation metrics, layer table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from av_perception.control.errors import ControllerError
from av_perception.control.layer_table import LayerRow
from av_perception.control.preprocess import InputSpec

SIDECAR_NAME = 'controller.yaml'
FORMAT_NAME = 'av_perception.temporal_controller'
FORMAT_VERSION = 1
TEMPORAL_TYPES = ('lstm', 'none')


@dataclass(frozen=True)
class ControllerMetadata:
    """Everything the sidecar says about a controller model.

    ``temporal_type`` is ``lstm`` (CNN + LSTM) or ``none`` (the same CNN on single frames:
    the temporal graph then passes its state through unchanged). ``training`` and
    ``validation`` are free-form records; ``layers`` is the layer table of one frame.
    """

    input: InputSpec
    feature_size: int
    hidden_size: int
    lstm_layers: int
    history_length: int
    temporal_type: str = 'lstm'
    encoder_file: str = 'encoder.onnx'
    temporal_file: str = 'temporal.onnx'
    frame_period_s: float = 0.05
    training: Mapping[str, Any] = field(default_factory=dict)
    validation: Mapping[str, Any] = field(default_factory=dict)
    layers: tuple[LayerRow, ...] = ()

    def __post_init__(self) -> None:
        """Check the sizes and the temporal type."""
        for name in ('feature_size', 'hidden_size', 'lstm_layers', 'history_length'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ControllerError(f'controller metadata {name}={value!r}: must be a '
                                      'positive integer')
        if self.temporal_type not in TEMPORAL_TYPES:
            raise ControllerError(f'controller metadata temporal_type={self.temporal_type!r}: '
                                  f'one of {list(TEMPORAL_TYPES)}')

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML document of the sidecar."""
        spec = self.input
        return {
            'format': FORMAT_NAME,
            'version': FORMAT_VERSION,
            'encoder': self.encoder_file,
            'temporal': self.temporal_file,
            'input': {'width': spec.width, 'height': spec.height, 'crop': list(spec.crop),
                      'channel_order': spec.channel_order, 'mean': list(spec.mean),
                      'std': list(spec.std)},
            'feature_size': self.feature_size,
            'temporal_type': self.temporal_type,
            'hidden_size': self.hidden_size,
            'lstm_layers': self.lstm_layers,
            'history_length': self.history_length,
            'frame_period_s': self.frame_period_s,
            'outputs': {'steering': 'front-wheel angle, rad, positive left',
                        'speed': 'target speed, m/s'},
            'training': dict(self.training),
            'validation': dict(self.validation),
            'layers': [row.to_dict() for row in self.layers],
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], source: str = 'sidecar'
                  ) -> 'ControllerMetadata':
        """Build from a sidecar document; raise ControllerError naming what is wrong."""
        if not isinstance(document, Mapping):
            raise ControllerError(f'{source}: top level must be a mapping')
        if document.get('format') != FORMAT_NAME:
            raise ControllerError(f'{source}: format={document.get("format")!r}, expected '
                                  f'{FORMAT_NAME!r}')
        if document.get('version') != FORMAT_VERSION:
            raise ControllerError(f'{source}: version={document.get("version")!r}, this code '
                                  f'reads version {FORMAT_VERSION}')
        try:
            raw_input = document['input']
            spec = InputSpec(int(raw_input['width']), int(raw_input['height']),
                             tuple(raw_input['crop']), str(raw_input['channel_order']),
                             tuple(raw_input['mean']), tuple(raw_input['std']))
            return cls(
                input=spec, feature_size=document['feature_size'],
                hidden_size=document['hidden_size'], lstm_layers=document['lstm_layers'],
                history_length=document['history_length'],
                temporal_type=document.get('temporal_type', 'lstm'),
                encoder_file=str(document.get('encoder', 'encoder.onnx')),
                temporal_file=str(document.get('temporal', 'temporal.onnx')),
                frame_period_s=float(document.get('frame_period_s', 0.05)),
                training=dict(document.get('training') or {}),
                validation=dict(document.get('validation') or {}),
                layers=tuple(LayerRow.from_dict(r) for r in document.get('layers') or ()))
        except ControllerError as err:
            raise ControllerError(f'{source}: {err}') from err
        except (KeyError, TypeError, ValueError) as err:
            raise ControllerError(f'{source}: missing or bad entry: {type(err).__name__}: '
                                  f'{err}') from err


def read_metadata(model_dir: str | Path) -> ControllerMetadata:
    """Read ``<model_dir>/controller.yaml``; raise ControllerError when absent or invalid."""
    path = Path(model_dir) / SIDECAR_NAME
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ControllerError(f'{path}: cannot read the controller sidecar: {err}') from err
    except yaml.YAMLError as err:
        raise ControllerError(f'{path}: not valid YAML: {err}') from err
    return ControllerMetadata.from_dict(document, str(path))


def write_metadata(model_dir: str | Path, metadata: ControllerMetadata) -> Path:
    """Write ``<model_dir>/controller.yaml`` and return its path."""
    path = Path(model_dir) / SIDECAR_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(metadata.to_dict(), sort_keys=False, width=99))
    return path
