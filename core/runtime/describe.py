"""``ssd info`` for exported networks (ONNX, OpenVINO IR, TorchScript): what the file holds."""
from __future__ import annotations

from pathlib import Path

from core.io.text import printable
from core.runtime.metadata import INPUT_NAME, OUTPUT_NAMES, NetworkMeta, preprocess_constants

FORMAT_NAMES = {"onnx": "ONNX", "openvino": "OpenVINO IR", "torchscript": "TorchScript"}


def read_exported_meta(path: str | Path, kind: str) -> tuple[NetworkMeta, str]:
    """(metadata, one line on the container) of an exported file of ``kind`` (see core.model_spec)."""
    from core.runtime import formats

    if kind == "onnx":
        import onnx

        meta = formats.read_onnx_meta(path)
        opset = max((o.version for o in onnx.load(str(path), load_external_data=False).opset_import
                     if o.domain in ("", "ai.onnx")), default=0)
        return meta, f"ONNX, opset {opset}"
    if kind == "openvino":
        xml, bin_ = formats.ir_paths(path)
        _, meta = formats.read_ir(xml)
        return meta, f"OpenVINO IR ({xml.name} + {bin_.name}, {bin_.stat().st_size / 1e6:.1f} MB of weights)"
    # The metadata is read from the archive as a zip: describing a TorchScript file runs nothing in it.
    meta = formats.read_torchscript_meta(path)
    return meta, "TorchScript (traced; code: running it needs --trust-code)"


def describe_exported(path: str | Path, kind: str) -> str:
    """Multi-line description of an exported network for ``ssd info``; every value from the file goes
    through :func:`core.io.text.printable` (class names and metadata may hold newlines or terminal escape
    sequences: one line per field, whatever the file says)."""
    meta, container = read_exported_meta(path, kind)
    m = meta.config.model
    pp = meta.config.postprocess
    pre = preprocess_constants(meta.config)
    n = meta.batch if meta.batch else "N"
    lines = [
        f"file: {printable(path)}",
        f"format: {container}, {meta.precision}",
        f"architecture: {m.arch} (width {m.width:g})",
        f"input: {INPUT_NAME} [{n}, 3, {m.image_size}, {m.image_size}] float32, RGB, "
        f"(pixel - {[round(v, 3) for v in pre['mean']]}) / {[round(v, 5) for v in pre['std']]}",
        f"outputs: {OUTPUT_NAMES[0]} [{n}, {m.priors.num_priors}, {m.num_classes}], "
        f"{OUTPUT_NAMES[1]} [{n}, {m.priors.num_priors}, 4]",
        f"classes: {m.num_classes - 1} + background: {', '.join(printable(c) for c in meta.class_names[1:])}",
        f"default boxes: {m.priors.num_priors} on feature maps {list(m.priors.feature_maps)}, min sizes "
        f"{[round(s, 2) for s in m.priors.min_sizes]}, variances {list(m.variances)}",
        f"postprocess: score > {pp.score_thresh}, NMS IoU {pp.nms_thresh}, top {pp.topk_candidates} per class, "
        f"at most {pp.detections_per_img} detections",
    ]
    if meta.source:
        src = {k: printable(meta.source.get(k)) for k in ("file", "format", "sha256")}
        lines.append(f"exported from: {src['file']} ({src['format']}, sha256 {src['sha256'][:12]}…)")
    if meta.calibration:
        c = meta.calibration
        lines.append(f"int8 calibration: {printable(c.get('count'))} images from {printable(c.get('source'))}")
    for k in ("dataset", "iterations", "held_out_map_voc07", "val_map_voc07"):
        if k in meta.training:
            lines.append(f"{k}: {printable(meta.training[k])}")
    return "\n".join(lines)
