"""``ssd export``: a detector's network as ONNX, OpenVINO IR or TorchScript, with its metadata.

The file holds the network only (fixed input ``images`` [N, 3, S, S], outputs raw ``cls_logits``
[N, P, C] and ``bbox_regression`` [N, P, 4]); class names, preprocessing constants, the default-box
configuration and the postprocessing settings travel with it (core.runtime.metadata), so
``core.load_detector(file)`` turns it back into a detector that gives the checkpoint's detections.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.jobs import ProgressFn, StopFn, report

EXPORT_FORMATS = ("onnx", "openvino", "torchscript")
_SUFFIX = {"onnx": ".onnx", "openvino": ".xml"}


def export_model(weights: str | Path, fmt: str, out: str | Path, *, image_size: int | None = None,
                 precision: str = "fp32", calibration: Any = None, batch: int = 1, priors: str | None = None,
                 on_progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> Path:
    """Export the network of a checkpoint.

    Args:
        weights: any checkpoint core.weights reads.
        fmt: "onnx" (opset 17), "openvino" (IR: ``out`` is the .xml, the .bin is written beside it)
            or "torchscript".
        out: the file to write (checked before any work; written through a temporary file).
        image_size: the side S of the input; default, and the only value the default boxes fit, the
            model's own.
        precision: "fp32", or "int8" (OpenVINO IR only: NNCF post-training quantization).
        calibration: for int8, see core.runtime.calibration (default: the model's training data).
        batch: N, the fixed batch size of the input.

    Returns:
        the path written (the .xml for an IR).

    Raises:
        ValueError naming the option or file; core.jobs.Cancelled when ``should_stop`` says so.
    """
    from core.model import build_model
    from core.io.fileio import file_sha256
    from core.runtime.metadata import NetworkMeta
    from core.weights import load_state_into, load_weights, resolve_weights_spec

    out = _check_options(fmt, precision, batch, Path(out))
    path = resolve_weights_spec(weights, allow_download=False)
    _check_checkpoint(path)
    _check_not_inputs(out, fmt, weights, calibration)
    lw = load_weights(path, priors=priors)
    if lw.config is None:
        raise ValueError(f"'{path}' is an ImageNet VGG16 classifier, not a detector: nothing to export")
    size = lw.config.model.image_size
    if image_size is not None and int(image_size) != size:
        raise ValueError(f"--image-size {image_size}: the default boxes of '{path}' ({lw.config.model.arch}, feature "
                         f"maps {list(lw.config.model.priors.feature_maps)}) are laid out for {size} px inputs only")
    model = build_model(lw.config.model)
    load_state_into(model, lw.state_dict, path)
    model.eval()
    meta = NetworkMeta(lw.config, lw.class_names, "fp32", batch=batch, training=lw.meta,
                       source={"file": path.name, "sha256": file_sha256(path), "format": lw.format})
    report(on_progress, 0, 1, "export", f"writing {out.name}")
    if fmt == "onnx":
        from core.runtime.formats import write_onnx

        written = write_onnx(model, meta, out)
    elif fmt == "torchscript":
        from core.runtime.formats import write_torchscript

        written = write_torchscript(model, meta, out)
    else:
        written = _export_ir(model, lw, meta, out, precision, calibration, on_progress, should_stop)
    report(on_progress, 1, 1, "export", f"wrote {written.name}")
    return written


def _check_checkpoint(path: Path) -> None:
    """A ValueError when ``path`` names an exported network: its network is exported already, and the
    checkpoint it came from is what ``ssd export`` reads (the metadata names it when it can be read)."""
    from core.model_spec import kind_of_path

    kind = kind_of_path(path)
    if kind == "checkpoint":
        return
    from core.runtime.describe import FORMAT_NAMES, read_exported_meta

    origin = ""
    try:
        source = read_exported_meta(path, kind)[0].source.get("file")
        origin = f" ('{source}', as its metadata says)" if source else ""
    except (OSError, ValueError):
        pass
    raise ValueError(f"'{path}' is an exported network ({FORMAT_NAMES[kind]}), not a checkpoint: `ssd export` reads "
                     f"the checkpoint a network was trained into; export from that checkpoint{origin}")


def _check_options(fmt: str, precision: str, batch: int, out: Path) -> Path:
    """``out`` once the options are known to fit together and it can be written; else a ValueError
    naming the option (or an OSError naming the file), before any work."""
    from core.io.fileio import check_output_file

    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {EXPORT_FORMATS}")
    if precision not in ("fp32", "int8"):
        raise ValueError(f"unknown export precision {precision!r}; choose 'fp32' or 'int8'")
    if precision == "int8" and fmt != "openvino":
        raise ValueError(f"int8 export writes an OpenVINO IR (--format openvino); {fmt} is exported in fp32")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if fmt in _SUFFIX and out.suffix.lower() != _SUFFIX[fmt]:
        raise ValueError(f"output '{out}': a {fmt} export must end in {_SUFFIX[fmt]}")
    check_output_file(out, f"{fmt} export")
    return out


def _check_not_inputs(out: Path, fmt: str, weights: str | Path, calibration: Any) -> None:
    """Refuse an export whose file (or an IR's ``.bin`` beside it) is the weights or the calibration data."""
    from core.io.fileio import check_not_input
    from core.model_spec import model_inputs

    inputs = model_inputs(weights) + ([("calibration data", calibration)] if isinstance(calibration, (str, Path))
                                      else [])
    for written in [out, out.with_suffix(".bin")] if fmt == "openvino" else [out]:
        check_not_input(written, inputs, f"{fmt} export")


def _export_ir(model: Any, lw: Any, meta: Any, out: Path, precision: str, calibration: Any,
               on_progress: ProgressFn | None, should_stop: StopFn | None) -> Path:
    from dataclasses import replace

    from core.detector import Detector
    from core.runtime.formats import write_ir
    from core.runtime.load import quantize_for
    from core.runtime.formats import torch_to_openvino

    ov_model = torch_to_openvino(model, meta)
    if precision == "int8":
        det = Detector(model, lw.config, lw.class_names)
        ov_model, record = quantize_for(det, ov_model, meta, calibration, None, lw.path, on_progress, should_stop)
        meta = replace(meta, precision="int8", calibration=record)
    return write_ir(ov_model, meta, out)
