"""The two ONNX Runtime sessions of a controller: per-frame encoder and temporal step.

``encoder.onnx``: ``frames`` ``(B, 3, H, W)`` float32 -> ``features`` ``(B, F)``.
``temporal.onnx``: ``features`` ``(B, T, F)``, ``h`` and ``c`` ``(layers, B, hidden)`` ->
``command`` ``(B, T, 2)`` (steering rad, speed m/s), ``h_out``, ``c_out``. Batch and time are
dynamic, so the same graph runs one step per frame or a whole sequence.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import onnxruntime as ort

from av_perception.control.errors import ControllerError
from av_perception.control.metadata import ControllerMetadata, read_metadata
from av_perception.ort_options import create_session, report_providers, session_options
from av_perception.providers import CPU, ProviderOptions, select_providers

LOGGER = logging.getLogger('av_perception.control')
# The node runs the temporal graph on two staggered history lanes at once (a batch of two).
HISTORY_LANES = 2


class ControllerModel:
    """Loads a controller directory (sidecar + two ONNX graphs) and runs its graphs.

    Both sessions use the provider choice of the detector (:mod:`av_perception.providers`):
    the ``preferred`` providers that are available, CPU last, TensorRT with the FP16 and
    engine-cache ``options``, CPU alone when a GPU provider fails to start. One warm-up step
    at the node's shapes runs at load, so a TensorRT engine is built (or read from the cache)
    before the first frame, not on it.
    """

    def __init__(self, model_dir: str | Path, providers: Sequence[str] = (CPU,),
                 cpu_threads: int = 1, options: ProviderOptions = ProviderOptions(),
                 available: Sequence[str] | None = None,
                 session_factory: Callable[..., Any] | None = None) -> None:
        """Read the sidecar, open both sessions and warm them up.

        ``available``/``session_factory`` replace ONNX Runtime's in tests. Raises
        ControllerError when the directory, the sidecar or a graph is unusable.
        """
        self.model_dir = Path(model_dir)
        self.metadata: ControllerMetadata = read_metadata(self.model_dir)
        if available is None:
            available = ort.get_available_providers()
        self.requested_providers = tuple(select_providers(available, providers, options))
        meta = self.metadata
        self._encoder = self._session(meta.encoder_file, options, cpu_threads, session_factory)
        self._temporal = self._session(meta.temporal_file, options, cpu_threads,
                                       session_factory)
        self._check_interfaces()
        self.providers = report_providers(self._encoder, meta.encoder_file,
                                          self.requested_providers, LOGGER)
        self.temporal_providers = report_providers(self._temporal, meta.temporal_file,
                                                   self.requested_providers, LOGGER)
        self.warm_up()

    def _session(self, name: str, options: ProviderOptions, cpu_threads: int,
                 factory: Callable[..., Any] | None) -> Any:
        path = self.model_dir / name
        if not path.is_file():
            raise ControllerError(f'{path}: model file not found')
        return create_session(path, self.requested_providers, session_options(cpu_threads),
                              engine_cache_dir=options.trt_engine_cache_path, factory=factory,
                              logger=LOGGER, error=ControllerError)

    def warm_up(self, lanes: int = HISTORY_LANES) -> None:
        """Run both graphs once at the per-frame shapes (builds TensorRT engines)."""
        spec = self.metadata.input
        features = self.encode(np.zeros((1, 3, spec.height, spec.width), np.float32))
        h, c = self.zero_state(lanes)
        self.run_temporal(np.repeat(features[:, None, :], lanes, axis=0), h, c)

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
