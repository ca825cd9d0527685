"""Which precision suits this machine: fp16 where the CUDA provider really runs, int8 on the CPU.

``onnxruntime-gpu`` lists the CUDA provider even on a machine without a GPU (it then fails to
start and the CPU takes over), so the only reliable test is to start a session on a tiny graph
and look at the providers it actually got.
"""

from __future__ import annotations

import logging

from . import release

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def _probe_graph() -> bytes:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Neg", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return bytes(model.SerializeToString())


def cuda_usable() -> tuple[bool, str]:
    """Whether the CUDA provider starts and runs here, and in words why not."""
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - a broken install
        return False, f"onnxruntime cannot be imported: {exc}"
    from engine.embedder import cuda_provider_present, preload_cuda_libraries

    if CUDA not in ort.get_available_providers() or not cuda_provider_present():
        return False, "this onnxruntime has no GPU support"
    preload_cuda_libraries()
    ort.set_default_logger_severity(4)
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    try:
        session = ort.InferenceSession(_probe_graph(), sess_options=opts, providers=[CUDA, CPU])
        if CUDA not in session.get_providers():
            return False, (
                "CUDA could not start (no NVIDIA GPU, or its CUDA/cuDNN libraries are missing)"
            )
        session.run(None, {"x": np.ones(1, dtype=np.float32)})
    except Exception as exc:
        log.debug("CUDA probe failed: %s", exc)
        return False, f"CUDA failed: {exc}"
    return True, "an NVIDIA GPU runs the CUDA provider"


def default_variant(device: str) -> tuple[str, str]:
    """The variant to fetch for ``--device`` (auto, cpu or cuda), and why."""
    if device == "cpu":
        return release.DEFAULT_CPU_VARIANT, "the CPU was asked for"
    if device == "cuda":
        return release.DEFAULT_GPU_VARIANT, "the GPU was asked for"
    usable, why = cuda_usable()
    if usable:
        return release.DEFAULT_GPU_VARIANT, why
    return release.DEFAULT_CPU_VARIANT, f"no usable GPU: {why}"
