"""The two ONNX Runtime sessions of a controller: per-frame encoder and temporal step.

``encoder.onnx``: ``frames`` ``(B, 3, H, W)`` float32 -> ``features`` ``(B, F)``.
``temporal.onnx``: ``features`` ``(B, T, F)``, ``h`` and ``c`` ``(layers, B, hidden)`` ->
``command`` ``(B, T, 2)`` (steering rad, speed m/s), ``h_out``, ``c_out``. Batch and time are
dynamic, so the same graph runs one step per frame or a whole sequence.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import onnxruntime as ort

from av_perception.control.errors import ControllerError
from av_perception.control.metadata import ControllerMetadata, read_metadata
from av_perception.ort_options import session_options

LOGGER = logging.getLogger('av_perception.control')
CPU = 'CPUExecutionProvider'


def choose_providers(available: Sequence[str], preferred: Sequence[str]) -> list[str]:
    """Return the ``preferred`` providers that are ``available``, CPU always last."""
    chosen = [p for p in preferred if p in set(available) and p != CPU]
    return list(dict.fromkeys(chosen)) + [CPU]


def _session(path: Path, providers: Sequence[str], cpu_threads: int) -> ort.InferenceSession:
    if not path.is_file():
        raise ControllerError(f'{path}: model file not found')
    options = session_options(cpu_threads)
    try:
        session = ort.InferenceSession(str(path), options, providers=list(providers))
    except Exception as err:  # onnxruntime raises several unrelated types for bad files
        raise ControllerError(f'{path}: cannot load the ONNX model: {err}') from err
    wanted = [p for p in providers if p != CPU]
    running = session.get_providers()
    if wanted and wanted[0] not in running:
        LOGGER.warning('%s: %s did not start, running on %s', path.name, wanted[0], running)
    return session


class ControllerModel:
    """Loads a controller directory (sidecar + two ONNX graphs) and runs its graphs."""

    def __init__(self, model_dir: str | Path, providers: Sequence[str] = (CPU,),
                 cpu_threads: int = 1) -> None:
        """Read the sidecar and open both sessions; raise ControllerError when unusable."""
        self.model_dir = Path(model_dir)
        self.metadata: ControllerMetadata = read_metadata(self.model_dir)
        chosen = choose_providers(ort.get_available_providers(), providers)
        meta = self.metadata
        self._encoder = _session(self.model_dir / meta.encoder_file, chosen, cpu_threads)
        self._temporal = _session(self.model_dir / meta.temporal_file, chosen, cpu_threads)
        self.providers = tuple(self._encoder.get_providers())
        self._check_interfaces()

    def _check_interfaces(self) -> None:
        meta = self.metadata
        enc_in = self._encoder.get_inputs()
        if [i.name for i in enc_in] != ['frames'] or \
                [o.name for o in self._encoder.get_outputs()] != ['features']:
            raise ControllerError(f'{self.model_dir / meta.encoder_file}: expected input '
                                  "'frames' and output 'features'")
        shape = enc_in[0].shape
        expected = [3, meta.input.height, meta.input.width]
        if [d if isinstance(d, int) else None for d in shape[1:]] != expected:
            raise ControllerError(f'{self.model_dir / meta.encoder_file}: input shape {shape} '
                                  f'does not match the sidecar (N, {expected})')
        names = [i.name for i in self._temporal.get_inputs()]
        outputs = [o.name for o in self._temporal.get_outputs()]
        if names != ['features', 'h', 'c'] or outputs != ['command', 'h_out', 'c_out']:
            raise ControllerError(f'{self.model_dir / meta.temporal_file}: expected inputs '
                                  f'features, h, c and outputs command, h_out, c_out; got '
                                  f'{names} -> {outputs}')

    def zero_state(self, batch: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Return zero ``(h, c)`` of shape ``(layers, batch, hidden)``."""
        meta = self.metadata
        shape = (meta.lstm_layers, batch, meta.hidden_size)
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """Run the CNN on ``(B, 3, H, W)`` normalised frames; return ``(B, F)`` features."""
        return self._encoder.run(None, {'frames': np.ascontiguousarray(frames, np.float32)})[0]

    def run_temporal(self, features: np.ndarray, h: np.ndarray, c: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the LSTM over ``(B, T, F)`` features from state ``(h, c)``.

        Returns ``(command (B, T, 2), h_out, c_out)``.
        """
        command, h_out, c_out = self._temporal.run(None, {
            'features': np.ascontiguousarray(features, np.float32),
            'h': np.ascontiguousarray(h, np.float32), 'c': np.ascontiguousarray(c, np.float32)})
        return command, h_out, c_out
