"""Device peaks reproduce NVIDIA's published totals; the roofline estimate does its arithmetic."""

import math

import pytest

from av_perception.deploy.devices import (DEVICES, estimate_latency, memory_traffic_bytes,
                                          orin_gpu_peaks)


@pytest.mark.parametrize('device,published_sparse_int8_tops', [
    ('orin-agx', 170),         # Jetson AGX Orin Technical Brief: GPU 170 sparse INT8 TOPS
    ('orin-nano', 40),         # Orin Nano 8GB data sheet: 40 TOPS (GPU only, no DLA)
    ('orin-nano-super', 67),   # JetPack 6.2 Super mode: 67 TOPS
])
def test_derived_orin_peaks_match_the_published_totals(device, published_sparse_int8_tops):
    spec = DEVICES[device]
    # structured sparsity doubles the dense rate
    assert math.isclose(2 * spec.int8_tops, published_sparse_int8_tops, rel_tol=0.025)
    assert spec.fp16_tflops == pytest.approx(spec.int8_tops / 2)


def test_agx_orin_fp32_matches_the_technical_brief():
    assert DEVICES['orin-agx'].fp32_tflops == pytest.approx(5.3, rel=0.01)
    int8, fp16, fp32 = orin_gpu_peaks(32, 1024, 625)
    assert (int8, fp16, fp32) == pytest.approx((20.48, 10.24, 1.28))


def test_every_device_cites_a_source_and_the_nano_is_the_slowest_orin():
    assert all(spec.source for spec in DEVICES.values())
    orins = [spec for key, spec in DEVICES.items() if key.startswith('orin')]
    assert min(orins, key=lambda s: s.fp16_tflops).key == 'orin-nano'
    assert min(orins, key=lambda s: s.memory_gbs).key == 'orin-nano'


def test_roofline_takes_the_larger_of_compute_and_memory_time():
    spec = DEVICES['orin-nano']
    compute_bound = estimate_latency(2e9, 1e6, 'orin-nano', 'fp16')
    assert compute_bound.compute_ms == pytest.approx(2e9 / (spec.fp16_tflops * 1e12) * 1e3)
    assert compute_bound.memory_ms == pytest.approx(1e6 / 68e9 * 1e3)
    assert compute_bound.bound == 'compute'
    assert compute_bound.estimate_ms == compute_bound.compute_ms
    memory_bound = estimate_latency(1e6, 1e9, spec, 'int8', efficiency=0.5)
    assert memory_bound.bound == 'memory' and memory_bound.estimate_ms == memory_bound.memory_ms
    assert memory_bound.compute_ms == pytest.approx(1e6 / (spec.int8_tops * 1e12 * 0.5) * 1e3)
    assert 'not a measurement' in memory_bound.to_dict()['kind']
    with pytest.raises(ValueError, match='efficiency'):
        estimate_latency(1, 1, 'orin-nano', efficiency=0)
    with pytest.raises(ValueError, match='precision'):
        estimate_latency(1, 1, 'orin-nano', precision='fp8')


def test_memory_traffic_counts_weights_input_and_each_output_twice():
    assert memory_traffic_bytes(1000, 300, 50, 'fp16') == (1000 + 300 + 100) * 2
    assert memory_traffic_bytes(1000, 300, 50, 'int8') == 1400
