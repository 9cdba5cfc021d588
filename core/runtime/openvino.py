"""The network compiled by OpenVINO for this CPU, and its int8 quantization by NNCF.

Only the network (backbone + heads) runs here; preprocessing and postprocessing stay this
project's own code (core.detector), so a detection is computed the same way on every runtime.

fp32 compiles with ``INFERENCE_PRECISION_HINT=f32``: on CPUs with bf16 units OpenVINO's default
would otherwise run "fp32" models in bf16 (outputs off by ~1e-2 instead of ~1e-5).
"""
from __future__ import annotations

import contextlib
import io
import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from core.io.text import first_error_line
from core.jobs import ProgressFn, StopFn, check_stop, report
from core.runtime.metadata import OUTPUT_NAMES, NetworkMeta
from core.ssd.postprocess import float32_numpy

#: OpenVINO's CPU plugin options per precision of this project, the same on every CPU kind measured
#: (README, Performance: AVX-512 with VNNI, and AVX-512 without VNNI and AVX2 by limiting oneDNN's ISA):
#: the latency hint (one stream, every core on the one request the app has in flight) beat the
#: throughput hint and one thread; threads left unpinned kept the network's latency lower on a busy
#: machine, where a pinned thread waits for its core while another is free.
_COMPILE_OPTIONS = {
    "fp32": {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False},
    # The quantized layers run in int8 whatever the hint; the hint keeps the others in f32.
    "int8": {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False},
}

#: CPU flags (Linux names) of int8 dot-product instructions: VNNI in AVX-512 or AVX, and AMX.
INT8_DOT_PRODUCT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
#: The same in NumPy's table of the CPU's features (its names), used where /proc/cpuinfo does not exist.
_NUMPY_INT8_FEATURES = ("AVX512VNNI", "AVXVNNI", "AVX512_SPR")


def openvino_available() -> bool:
    """True when the ``openvino`` package can be imported."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def openvino_version() -> str:
    import openvino as ov

    return str(ov.get_version())


@lru_cache(maxsize=1)
def ov_core() -> Any:
    """The process's ``openvino.Core`` (one per process, as OpenVINO recommends)."""
    import openvino as ov

    return ov.Core()


def cpu_int8_dot_product(flags: Iterable[str] | None = None) -> bool | None:
    """Whether the CPU has int8 dot-product instructions (VNNI or AMX), which make int8 convolutions faster
    than fp32; None when it cannot be told.

    ``flags``: the CPU's flags by their Linux names (as ``lscpu`` lists them); None reads this machine's, from
    /proc/cpuinfo or else NumPy's table of the CPU's features. Without these instructions (AVX2, AVX-512 before
    Cascade Lake) OpenVINO's int8 SSDlite320 is no faster than fp32, or slower.
    """
    if flags is None:
        flags = _linux_cpu_flags()
    if flags is not None:
        have = set(flags)
        return any(flag in have for flag in INT8_DOT_PRODUCT_FLAGS)
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:
        return None
    return any(features.get(name, False) for name in _NUMPY_INT8_FEATURES)


def _linux_cpu_flags() -> list[str] | None:
    """The flags line of /proc/cpuinfo, or None where there is none."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), None)
    except OSError:
        return None


def int8_speed_note(flags: Iterable[str] | None = None) -> str | None:
    """A sentence for the user when int8 will not run faster than fp32 on this CPU (``flags``: see
    :func:`cpu_int8_dot_product`), else None."""
    if cpu_int8_dot_product(flags) is False:
        return ("this CPU has no int8 dot-product instructions (VNNI or AMX): int8 runs no faster than fp32 here, "
                "and fp32 gives the exact detections")
    return None


def compile_model(model: Any, precision: str, cache_dir: Path | None = None) -> Any:
    """Compile an ``openvino.Model`` (or a model file path) for the CPU.

    ``cache_dir``: where OpenVINO may keep the compiled blob (``CACHE_DIR``) so a later start skips
    the compilation; None when the cache folder is not writable.
    """
    options = dict(_COMPILE_OPTIONS["int8" if precision == "int8" else "fp32"])
    if cache_dir is not None:
        options["CACHE_DIR"] = str(cache_dir)
    try:
        return ov_core().compile_model(model if not isinstance(model, Path) else str(model), "CPU", options)
    except RuntimeError as exc:
        raise ValueError(f"OpenVINO could not compile the network for this CPU ({first_error_line(exc)})") from None


class OpenVINONetwork:
    """A compiled network as a callable: ``images`` Tensor[N, 3, S, S] float32 ->
    (cls_logits Tensor[N, P, C], bbox_regression Tensor[N, P, 4]) float32 on the CPU.

    A network compiled for a fixed batch B runs larger inputs in chunks of B (the last one padded).
    Calls are serialised (one infer request, reused: its buffers are allocated once).
    """

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()
        shape = compiled.inputs[0].get_partial_shape()
        self.batch: int | None = shape[0].get_length() if shape[0].is_static else None
        self._outputs = []
        for name in OUTPUT_NAMES:
            match = [o for o in compiled.outputs if name in o.get_names()]
            self._outputs.append(match[0] if match else compiled.outputs[len(self._outputs)])

    def __call__(self, x: Tensor) -> tuple[Tensor, Tensor]:
        arr = np.ascontiguousarray(float32_numpy(x))
        b = self.batch or arr.shape[0]
        parts: list[list[np.ndarray]] = [[], []]
        with self._lock:
            for start in range(0, arr.shape[0], b):
                chunk = arr[start:start + b]
                n = chunk.shape[0]
                chunk = _padded(chunk, b)
                # The request reads the array in place and returns no copies of its outputs: the one copy
                # made below (the request's buffers are reused by the next call) is the only one.
                self._request.infer({0: chunk}, share_inputs=True, share_outputs=True)
                for i, out in enumerate(self._outputs):
                    parts[i].append(self._request.get_tensor(out).data[:n].copy())
        logits, deltas = (torch.from_numpy(p[0] if len(p) == 1 else np.concatenate(p)) for p in parts)
        return logits, deltas

    @contextlib.contextmanager
    def lent_outputs(self, x: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """:meth:`__call__` without copying the outputs: inside the ``with`` block they are views of the request's
        own buffers, valid until the block ends; the network is locked until then (the next call would
        overwrite them). A batch larger than the compiled one runs as :meth:`__call__` (copies)."""
        n = x.shape[0]
        if self.batch is not None and n > self.batch:
            yield self(x)
            return
        arr = np.ascontiguousarray(float32_numpy(x))
        if self.batch is not None:
            arr = _padded(arr, self.batch)
        with self._lock:
            self._request.infer({0: arr}, share_inputs=True, share_outputs=True)
            logits, deltas = (torch.from_numpy(self._request.get_tensor(out).data[:n]) for out in self._outputs)
            yield logits, deltas


def _padded(arr: np.ndarray, batch: int) -> np.ndarray:
    """float32 [n, ...] with n <= ``batch`` -> [batch, ...]: zeros after the n images (a fixed-batch network)."""
    n = arr.shape[0]
    return arr if n >= batch else np.concatenate([arr, np.zeros((batch - n, *arr.shape[1:]), np.float32)])


def _quiet_nncf() -> Any:
    """Import NNCF without its usage reporting and INFO logging.

    A desktop app sends nothing anywhere; NNCF itself swaps in this stub in CI and under pytest.
    """
    # NNCF imports torch.utils.cpp_extension, which logs a warning when there is no CUDA toolkit.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    import nncf
    import nncf.telemetry.decorator as decorator
    import nncf.telemetry.wrapper as wrapper

    stub = wrapper.NNCFTelemetryStub()
    wrapper.telemetry = stub
    decorator.telemetry = stub
    from nncf.common.logging.logger import set_log_level

    set_log_level(logging.WARNING)
    return nncf


def quantize_int8(model: Any, batches: Sequence[np.ndarray], on_progress: ProgressFn | None = None,
                  should_stop: StopFn | None = None) -> Any:
    """NNCF post-training quantization of an ``openvino.Model`` to int8.

    Args:
        model: the fp32 network.
        batches: calibration inputs, each float32 [B, 3, S, S] preprocessed exactly as for detection.
        on_progress: Progress(done, total, "quantize") per calibration batch seen.
        should_stop: polled per batch; True raises core.jobs.Cancelled.

    Returns:
        the quantized ``openvino.Model`` (weights and activations of convolutions in int8).
    """
    if not batches:
        raise ValueError("int8 quantization needs at least one calibration image")
    nncf = _quiet_nncf()
    total = len(batches)
    seen = [0]

    def feed(item: np.ndarray) -> np.ndarray:
        check_stop(should_stop, "quantization cancelled")
        seen[0] += 1
        report(on_progress, min(seen[0], total), total, "quantize", "collecting activation statistics")
        return item

    # NNCF draws rich progress bars on stdout; ours go through on_progress instead.
    with contextlib.redirect_stdout(io.StringIO()):
        quantized = nncf.quantize(model, nncf.Dataset(list(batches), feed), subset_size=total,
                                  fast_bias_correction=True)
    report(on_progress, total, total, "quantize", "done")
    return quantized
