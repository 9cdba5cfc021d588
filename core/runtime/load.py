"""From a file and a runtime choice to a ready detector (called by core.resolve.load_detector).

Sources: a checkpoint (any layout of core.weights), or an exported network (ONNX, OpenVINO IR,
TorchScript, see core.runtime.formats). Runtimes: "torch" (checkpoints: core.detector's own
path; TorchScript files: the traced graph) and "openvino" (everything; ONNX and IR always).
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from core.jobs import ProgressFn, StopFn, report
from core.runtime.choice import RUNTIMES, choose_runtime, runtime_precisions
from core.runtime.calibration import CalibrationSpec, resolve_calibration, spec_fingerprint
from core.runtime.metadata import NetworkMeta


def load_runtime_detector(path: str | Path, device: str = "cpu", precision: str = "fp32", *,
                          kind: str = "checkpoint", trust_code: bool = False,
                          runtime: str = "torch", calibration: CalibrationSpec | None = None,
                          calibration_fallback: CalibrationSpec | None = None, priors: str | None = None,
                          optimize: bool = False, cache_dir: str | Path | None = None,
                          on_progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> Any:
    """A Detector for ``path`` on ``runtime`` (see core.resolve.load_detector for the arguments).

    ``kind`` is the file's kind as :func:`core.model_spec.parse_model_spec` tells it ("checkpoint", "onnx",
    "openvino", "torchscript"; a TorchScript file needs ``trust_code``). Exported ONNX and IR files run on
    OpenVINO whatever ``runtime`` says; an exported file written in int8 runs in int8 (``precision="fp32"``,
    the default, means "as the file is").
    """
    from core.runtime.formats import read_torchscript

    path = Path(path)
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; choose one of {RUNTIMES}")
    if kind in ("onnx", "openvino"):
        runtime = "openvino"
    if runtime == "openvino":
        choose_runtime("openvino")  # raises when OpenVINO is not installed
    if precision not in runtime_precisions(runtime):
        hint = " (int8 runs on runtime='openvino')" if precision == "int8" else ""
        raise ValueError(f"precision {precision!r} is not available on runtime {runtime!r}: choose one of "
                         f"{runtime_precisions(runtime)}{hint}")
    if kind != "checkpoint" and str(device) not in ("cpu", "auto"):
        raise ValueError(f"'{path}': exported networks run on the CPU here (device {device!r} asked for); load the "
                         f"checkpoint it came from for {device}")
    options = dict(calibration=calibration, fallback=calibration_fallback, cache_dir=cache_dir,
                   on_progress=on_progress, should_stop=should_stop)
    if kind == "torchscript":
        module, meta = read_torchscript(path, trust_code=trust_code)
        if runtime == "torch":
            from core.runtime.network import NetworkDetector, TorchScriptNetwork

            return NetworkDetector(TorchScriptNetwork(module, meta.batch), meta.config, meta.class_names,
                                   runtime="torch", precision=meta.precision, weights_path=path,
                                   weights_format="torchscript", meta=meta.training)
        return _openvino(path, meta, lambda: _convert(module, meta), precision, "torchscript", **options)
    if kind == "onnx":
        from core.runtime.formats import read_onnx_meta
        from core.runtime.openvino import ov_core

        meta = read_onnx_meta(path)
        return _openvino(path, meta, lambda: ov_core().read_model(str(path)), precision, "onnx", **options)
    if kind == "openvino":
        from core.runtime.formats import read_ir

        ov_model, meta = read_ir(path)
        return _openvino(path, meta, lambda: ov_model, precision, "openvino", **options)
    from core.weights import load_weights

    lw = load_weights(path, priors=priors)
    if runtime == "torch":
        from core.detector import detector_from_weights

        return detector_from_weights(lw, device, precision, optimize)
    return _checkpoint_on_openvino(lw, precision, **options)


def _convert(module: Any, meta: NetworkMeta) -> Any:
    from core.runtime.formats import torch_to_openvino

    return torch_to_openvino(module, meta)


def _checkpoint_on_openvino(lw: Any, precision: str, **options: Any) -> Any:
    from core.model import build_model
    from core.io.fileio import file_sha256
    from core.weights import load_state_into

    if lw.config is None:
        raise ValueError(f"'{lw.path}' is an ImageNet VGG16 classifier: use it to initialise training "
                         f"(ssd train --backbone), not as a detector")
    model = build_model(lw.config.model)
    load_state_into(model, lw.state_dict, lw.path)
    model.eval()
    meta = NetworkMeta(lw.config, lw.class_names, "fp32", batch=None, training=lw.meta,
                       source={"file": lw.path.name, "sha256": file_sha256(lw.path), "format": lw.format})
    return _openvino(lw.path, meta, lambda: _convert(model, meta), precision, lw.format, model=model,
                     cache_fp32=True, **options)


def _openvino(path: Path, meta: NetworkMeta, fp32_model: Callable[[], Any], precision: str, fmt: str, *,
              calibration: CalibrationSpec | None, fallback: CalibrationSpec | None, cache_dir: str | Path | None,
              on_progress: ProgressFn | None, should_stop: StopFn | None, model: Any = None,
              cache_fp32: bool = False) -> Any:
    """The NetworkDetector of ``meta`` on OpenVINO: fp32 network (converted or cached), int8 when asked."""
    from core.io.fileio import file_sha256
    from core.runtime.cache import NetworkCache
    from core.runtime.network import NetworkDetector
    from core.runtime.openvino import OpenVINONetwork, compile_model, int8_speed_note

    cache = NetworkCache(cache_dir)
    effective = "int8" if meta.precision == "int8" else precision
    det = NetworkDetector(None, meta.config, meta.class_names, runtime="openvino",  # type: ignore[arg-type]
                          precision=effective, model=model, weights_path=path, weights_format=fmt, meta=meta.training)
    sha = meta.source.get("sha256") if cache_fp32 else file_sha256(path)
    if fmt == "openvino" and meta.weights_sha256 is None:  # an IR written before its .xml held the .bin's hash
        sha = hashlib.sha256(f"{sha} {file_sha256(Path(path).with_suffix('.bin'))}".encode()).hexdigest()
    size = meta.config.model.image_size
    info: dict[str, Any] = {"cache": "none", "cache_entry": None, "calibration": meta.calibration, "notes": []}

    def fp32() -> Any:
        if not cache_fp32:
            return fp32_model()
        folder = cache.entry(path.stem, cache.key(sha, "fp32", size))
        hit = cache.lookup(folder)
        if hit is not None:
            info.update(cache="hit", cache_entry=str(folder))
            return hit[0]
        report(on_progress, 0, 1, "convert", f"converting {path.name} for OpenVINO")
        converted = fp32_model()
        report(on_progress, 1, 1, "convert", "converted")
        stored = cache.store(folder, converted, meta, _record(path, sha, "fp32", size, None))
        info.update(cache="stored" if stored else "uncached", cache_entry=str(folder) if stored else None)
        return converted

    if effective == "int8" and meta.precision != "int8":
        folder = cache.entry(f"{path.stem}-int8", cache.key(sha, "int8", size, spec_fingerprint(calibration)))
        hit = cache.lookup(folder)
        if hit is not None:
            ov_model = hit[0]
            info.update(cache="hit", cache_entry=str(folder), calibration=hit[2].get("calibration"))
        else:
            ov_model, calib = quantize_for(det, fp32(), meta, calibration, fallback, path, on_progress, should_stop)
            stored = cache.store(folder, ov_model, replace(meta, precision="int8", calibration=calib),
                                 _record(path, sha, "int8", size, calib))
            info.update(cache="stored" if stored else "uncached", cache_entry=str(folder) if stored else None,
                        calibration=calib)
    else:
        ov_model = fp32()
    if cache.problem:
        info["notes"].append(cache.problem)
    if effective == "int8" and (note := int8_speed_note()):
        info["notes"].append(note)
    report(on_progress, 0, 1, "compile", "compiling for this CPU")
    det.network = OpenVINONetwork(compile_model(ov_model, effective, cache.compiled_dir))
    report(on_progress, 1, 1, "compile", "ready")
    det.runtime_info = info
    return det


def quantize_for(det: Any, fp32_model: Any, meta: NetworkMeta, calibration: CalibrationSpec | None,
              fallback: CalibrationSpec | None, path: Path, on_progress: ProgressFn | None,
              should_stop: StopFn | None) -> tuple[Any, dict[str, Any]]:
    """NNCF int8 of ``fp32_model`` on calibration images preprocessed by the detector's own code."""
    import numpy as np

    from core.runtime.openvino import quantize_int8

    calib = resolve_calibration(calibration, training=meta.training, fallback=fallback, weights=path,
                                on_progress=on_progress, should_stop=should_stop)
    b = meta.batch or 1
    inputs = [det.preprocess([img]).numpy() for img in calib.images]
    batches = [np.concatenate(inputs[i:i + b]) for i in range(0, len(inputs) - b + 1, b)] or [
        np.concatenate([inputs[0]] * b)]
    return quantize_int8(fp32_model, batches, on_progress, should_stop), calib.record


def _record(path: Path, sha: str | None, precision: str, size: int, calibration: dict[str, Any] | None) -> dict:
    from core.runtime.openvino import openvino_version

    return {"weights": str(path), "weights_sha256": sha, "precision": precision, "image_size": size,
            "openvino": openvino_version(), "calibration": calibration}
