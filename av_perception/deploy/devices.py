"""Peak throughput of deployment targets and a roofline latency estimate.

Every figure is a published peak (or derived from published core counts and clocks, with the
derivation checked against the published total in the unit tests); none is a measurement.
The estimate is a roofline: a layer stack cannot run faster than its arithmetic at the peak
rate, nor faster than its memory traffic at the peak bandwidth, so

    estimate = max(FLOPs / (peak * efficiency), bytes / bandwidth)

With ``efficiency`` 1 it is a lower bound. Real latency is higher: small layers do not fill
the GPU, every layer costs a kernel launch, and pre-/post-processing run on the CPU. Measure
on the device (``benchmarks/gpu_check.py``) before trusting a budget that is close.

Sources:

* [AGX-TB] NVIDIA Jetson AGX Orin Series Technical Brief v1.2 (2022): Orin GPU = 16 SMs of
  128 CUDA cores and 4 third-generation Tensor Cores; AGX Orin 64GB: GPU 170 sparse INT8
  TOPS and 5.3 FP32 TFLOPS at 1.3 GHz; 204.8 GB/s LPDDR5.
* [ORIN-DS] NVIDIA Jetson Orin NX Series and Orin Nano Series data sheets: Orin NX 16GB
  1024-core GPU with 32 Tensor Cores at up to 918 MHz, 100 TOPS (sparse INT8, GPU and two
  DLAs), 102.4 GB/s; Orin Nano 8GB 1024 cores / 32 Tensor Cores at 625 MHz, 40 TOPS (GPU
  only: no DLA), 68 GB/s.
* [SUPER] NVIDIA JetPack 6.2 "Super" mode announcement (Dec 2024): Orin Nano 8GB GPU at
  1020 MHz, 67 sparse INT8 TOPS, 102 GB/s; Orin NX 16GB GPU at 1173 MHz, 157 TOPS.
* [H100-DS] NVIDIA H100 Tensor Core GPU data sheet: H100 SXM 989.4 dense FP16 Tensor TFLOPS,
  1,978.9 dense INT8 TOPS, 66.9 FP32 TFLOPS, 3.35 TB/s. [H200-DS] NVIDIA H200 data sheet:
  the same compute, 4.8 TB/s.

Orin dense rates are derived from the Ampere GA10B Tensor Core rate that [AGX-TB] implies:
170 sparse INT8 TOPS / 2 (sparsity) / (64 Tensor Cores x 1.3 GHz) = 1024 dense INT8 ops per
Tensor Core per clock (512 MACs); FP16 runs at half the INT8 rate. The GPU alone counts: ONNX
Runtime's TensorRT provider does not use the DLAs unless told to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PRECISION_BYTES = {'fp32': 4, 'fp16': 2, 'int8': 1}
# Dense INT8 operations per Ampere (GA10B) Tensor Core per clock, from [AGX-TB] (see above).
ORIN_INT8_OPS_PER_TENSOR_CORE_CLOCK = 1024


def orin_gpu_peaks(tensor_cores: int, cuda_cores: int, clock_mhz: float
                   ) -> tuple[float, float, float]:
    """Return dense (INT8 TOPS, FP16 TFLOPS, FP32 TFLOPS) of an Orin GPU at ``clock_mhz``."""
    int8 = tensor_cores * ORIN_INT8_OPS_PER_TENSOR_CORE_CLOCK * clock_mhz * 1e6 / 1e12
    fp32 = cuda_cores * 2 * clock_mhz * 1e6 / 1e12  # one FMA per core per clock
    return int8, int8 / 2, fp32


@dataclass(frozen=True)
class DeviceSpec:
    """Peak dense throughput and memory bandwidth of one target (GPU only)."""

    key: str
    name: str
    int8_tops: float
    fp16_tflops: float
    fp32_tflops: float
    memory_gbs: float
    source: str

    def peak_ops(self, precision: str) -> float:
        """Return the peak operations per second at ``precision`` (fp32, fp16 or int8)."""
        return {'int8': self.int8_tops, 'fp16': self.fp16_tflops,
                'fp32': self.fp32_tflops}[precision] * 1e12


def _orin(key: str, name: str, tensor_cores: int, cuda_cores: int, clock_mhz: float,
          memory_gbs: float, source: str) -> DeviceSpec:
    int8, fp16, fp32 = orin_gpu_peaks(tensor_cores, cuda_cores, clock_mhz)
    return DeviceSpec(key, name, int8, fp16, fp32, memory_gbs,
                      f'{source}; {tensor_cores} Tensor Cores at {clock_mhz:g} MHz')


DEVICES = {spec.key: spec for spec in (
    _orin('orin-nano', 'Jetson Orin Nano 8GB (JetPack 6.0, 15 W)', 32, 1024, 625, 68.0,
          '[ORIN-DS]'),
    _orin('orin-nano-super', 'Jetson Orin Nano 8GB, Super mode (JetPack 6.2, 25 W)', 32, 1024,
          1020, 102.0, '[SUPER]'),
    _orin('orin-nx', 'Jetson Orin NX 16GB (25 W)', 32, 1024, 918, 102.4, '[ORIN-DS]'),
    _orin('orin-nx-super', 'Jetson Orin NX 16GB, Super mode (JetPack 6.2, 40 W)', 32, 1024,
          1173, 102.4, '[SUPER]'),
    _orin('orin-agx', 'Jetson AGX Orin 64GB (MAXN)', 64, 2048, 1300, 204.8, '[AGX-TB]'),
    DeviceSpec('h100-sxm', 'NVIDIA H100 SXM', 1978.9, 989.4, 66.9, 3350.0, '[H100-DS]'),
    DeviceSpec('h200', 'NVIDIA H200 SXM', 1978.9, 989.4, 66.9, 4800.0, '[H200-DS]'),
)}


@dataclass(frozen=True)
class LatencyEstimate:
    """A roofline estimate of one model run on one device (not a measurement)."""

    device: str
    precision: str
    efficiency: float
    flops: float
    traffic_bytes: float
    compute_ms: float
    memory_ms: float

    @property
    def estimate_ms(self) -> float:
        """Return the roofline estimate: the larger of the compute and memory times."""
        return max(self.compute_ms, self.memory_ms)

    @property
    def bound(self) -> str:
        """``compute`` or ``memory``: which limit sets the estimate."""
        return 'compute' if self.compute_ms >= self.memory_ms else 'memory'

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (``kind: roofline estimate``, so nobody reads it as measured)."""
        return {'kind': 'roofline estimate, not a measurement', 'device': self.device,
                'precision': self.precision, 'efficiency': self.efficiency,
                'flops': self.flops, 'traffic_bytes': self.traffic_bytes,
                'compute_ms': self.compute_ms, 'memory_ms': self.memory_ms,
                'estimate_ms': self.estimate_ms, 'bound': self.bound}


def memory_traffic_bytes(param_count: int, input_values: int, layer_output_values: int,
                         precision: str) -> float:
    """Bytes a run moves at least: weights and input once, each layer output written and read.

    ``layer_output_values`` are the materialised outputs (in-place activations and views
    excluded: TensorRT fuses them into the layer before); every value is stored at
    ``precision``.
    """
    width = PRECISION_BYTES[precision]
    return float((param_count + input_values + 2 * layer_output_values) * width)


def estimate_latency(flops: float, traffic_bytes: float, device: DeviceSpec | str,
                     precision: str = 'fp16', efficiency: float = 1.0) -> LatencyEstimate:
    """Return the roofline estimate of ``flops`` and ``traffic_bytes`` on ``device``."""
    spec = DEVICES[device] if isinstance(device, str) else device
    if precision not in PRECISION_BYTES:
        raise ValueError(f'precision {precision!r}: one of {sorted(PRECISION_BYTES)}')
    if not 0.0 < efficiency <= 1.0:
        raise ValueError(f'efficiency {efficiency}: must be in (0, 1]')
    compute_ms = flops / (spec.peak_ops(precision) * efficiency) * 1e3
    memory_ms = traffic_bytes / (spec.memory_gbs * 1e9) * 1e3
    return LatencyEstimate(spec.key, precision, efficiency, flops, traffic_bytes, compute_ms,
                           memory_ms)
