"""`ssd export` round trips: ONNX, OpenVINO IR and TorchScript give the checkpoint's detections back."""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("openvino")
onnx = pytest.importorskip("onnx")

from core import load_detector  # noqa: E402
from core.cli import main  # noqa: E402
from core.detector import DEMO_WEIGHTS  # noqa: E402
from core.runtime.export import export_model  # noqa: E402
from tests.runtime.helpers import ARCHS, assert_same_detections, scenes, tiny_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FORMATS = {"onnx": ".onnx", "openvino": ".xml", "torchscript": ".torchscript"}


def _round_trip(weights: Path, out_dir: Path, batch: int = 1) -> None:
    images = scenes(3)
    ref = load_detector(weights).detect(images)
    for fmt, suffix in FORMATS.items():
        path = export_model(weights, fmt, out_dir / f"model{suffix}", batch=batch)
        det = load_detector(path, cache_dir=out_dir / "cache", trust_code=fmt == "torchscript")
        assert det.runtime == ("torch" if fmt == "torchscript" else "openvino"), fmt
        assert det.class_names == load_detector(weights).class_names
        assert_same_detections(det.detect(images), ref)


@pytest.mark.parametrize("arch", ARCHS)
def test_round_trip_tiny(arch: str, tmp_path: Path) -> None:
    _round_trip(tiny_checkpoint(tmp_path / f"{arch}.pt", arch), tmp_path, batch=2)


def test_round_trip_demo_model(tmp_path: Path) -> None:
    _round_trip(DEMO_WEIGHTS, tmp_path)


@pytest.mark.slow
def test_round_trip_torchvision_ssd300_vgg16(tmp_path: Path) -> None:
    """Full-size VGG16-SSD300 in torchvision's layout (random weights: nothing is downloaded)."""
    import torch
    import torchvision

    torch.manual_seed(0)
    tv = torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None, num_classes=5)
    weights = tmp_path / "ssd300_vgg16.pth"
    torch.save(tv.state_dict(), weights)
    _round_trip(weights, tmp_path)


def test_onnx_file_is_opset_17_with_ceil_mode_pool_and_metadata(tmp_path: Path) -> None:
    import json

    path = export_model(tiny_checkpoint(tmp_path / "m.pt"), "onnx", tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    pools = [n for n in proto.graph.node if n.op_type == "MaxPool"]
    ceil = [a.i for n in pools for a in n.attribute if a.name == "ceil_mode"]
    assert 1 in ceil  # VGG's pool3 (75 -> 38 at 300 px)
    dims = [[d.dim_value for d in v.type.tensor_type.shape.dim] for v in (*proto.graph.input, *proto.graph.output)]
    assert dims == [[1, 3, 300, 300], [1, 8732, 4], [1, 8732, 4]]
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["ssd_desktop"])
    assert meta["class_names"] == ["__background__", "circle", "square", "triangle"]
    assert meta["config"]["model"]["priors"]["feature_maps"] == [38, 19, 10, 5, 3, 1]
    assert meta["config"]["postprocess"]["nms_thresh"] == 0.45
    assert meta["preprocess"]["mean"] == pytest.approx([123.0, 117.0, 104.0], abs=0.01)


def test_export_refuses_bad_options_before_work(tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / "m.pt")
    with pytest.raises(ValueError, match="must end in .onnx"):
        export_model(weights, "onnx", tmp_path / "m.xml")
    with pytest.raises(ValueError, match="int8 export writes an OpenVINO IR"):
        export_model(weights, "onnx", tmp_path / "m.onnx", precision="int8")
    with pytest.raises(ValueError, match="laid out for 300 px"):
        export_model(weights, "onnx", tmp_path / "m.onnx", image_size=320)
    with pytest.raises(ValueError, match="unknown export format 'tflite'"):
        export_model(weights, "tflite", tmp_path / "m.tflite")
    assert not (tmp_path / "m.onnx").exists()


def test_cli_export_then_info(tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / "m.pt")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "m.xml"
    r = subprocess.run([sys.executable, "-m", "core.cli", "export", str(weights), "--format", "openvino", "--out",
                        str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and out.with_suffix(".bin").is_file()
    r = subprocess.run([sys.executable, "-m", "core.cli", "info", str(out)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    texts = [r.stdout]
    for path in (export_model(weights, "onnx", tmp_path / "m.onnx"),
                 export_model(weights, "torchscript", tmp_path / "m.torchscript")):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["info", str(path)]) == 0
        texts.append(buf.getvalue())
    for fmt, text in zip(("OpenVINO IR", "ONNX, opset 17", "TorchScript"), texts):
        assert f"format: {fmt}" in text
        assert "classes: 3 + background: circle, square, triangle" in text
        assert "input: images [1, 3, 300, 300]" in text and "outputs: cls_logits [1, 8732, 4]" in text
        assert "exported from: m.pt (own" in text


def test_info_on_an_exported_file_escapes_what_the_file_says(tmp_path: Path) -> None:
    """Class names and metadata carried into an export keep their escapes in ``ssd info``: a newline in a
    name cannot fake a line, an ESC sequence cannot clear the screen (as for checkpoints)."""
    import torch

    from core.config import preset
    from core.model import build_model
    from core.weights import save_checkpoint

    cfg = preset("ssd300", num_classes=3, priors="voc", width=0.05)
    hostile = ("__background__", "cat\x1b[2J\x1b[H", "dog\nformat: fake")
    torch.manual_seed(0)
    weights = save_checkpoint(tmp_path / "w.pt", build_model(cfg.model), cfg, hostile,
                              meta={"dataset": "shapes\nfile: /etc/passwd\u202etxt", "iterations": 12})
    texts = []
    for suffix in (".onnx", ".torchscript"):
        path = export_model(weights, suffix[1:], tmp_path / f"m{suffix}")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["info", str(path)]) == 0
        texts.append(buf.getvalue())
    for text in texts:
        assert not any(c in text for c in "\x1b\u202e")
        lines = text.splitlines()
        assert len(lines) == 11 and [ln.split(":")[0] for ln in lines].count("format") == 1
        assert "classes: 2 + background: cat\\x1b[2J\\x1b[H, dog\\nformat: fake" in lines
        assert "dataset: shapes\\nfile: /etc/passwd\\u202etxt" in lines and "iterations: 12" in lines
