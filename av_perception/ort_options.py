"""ONNX Runtime session options shared by every model of the package."""

from __future__ import annotations

import onnxruntime as ort


def session_options(cpu_threads: int = 0) -> ort.SessionOptions:
    """Return session options: full graph optimisation, sequential execution, quiet logs.

    ``cpu_threads`` 0 leaves the intra-op thread count to ONNX Runtime (one per core). Idle
    threads sleep instead of spinning: the perception nodes share a few cores (a 2-core CI box,
    a Jetson's CPU), and a spinning pool in one node steals the time another node needs.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    if cpu_threads > 0:
        options.intra_op_num_threads = cpu_threads
        options.inter_op_num_threads = 1
    return options
