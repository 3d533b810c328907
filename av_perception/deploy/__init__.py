"""Deployment tools (pure core): ONNX layer tables, device budgets, TensorRT engine builds.

``av-perception model info`` and ``av-perception model build-engine`` are thin front ends of
:mod:`~av_perception.deploy.onnx_table`, :mod:`~av_perception.deploy.devices` and
:mod:`~av_perception.deploy.engine`; docs/jetson.md shows them in use.
"""
