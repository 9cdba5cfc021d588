"""The OpenVINO runtime against PyTorch eager (the reference), its cache, and the runtime choice."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino")

from core import load_detector  # noqa: E402
from core.detector import precisions_for  # noqa: E402
from core.runtime import (available_runtimes, choose_runtime, runtime_choices, runtime_label,  # noqa: E402
                          runtime_precisions)
from tests.runtime.helpers import ARCHS, assert_same_detections, scenes, tiny_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("arch", ARCHS)
def test_openvino_fp32_gives_the_torch_detections(arch: str, tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / f"{arch}.pt", arch)
    images = scenes(3)
    ref = load_detector(weights).detect(images)
    det = load_detector(weights, runtime="openvino", cache_dir=tmp_path / "cache")
    assert (det.runtime, det.precision) == ("openvino", "fp32")
    assert runtime_label(det) == "OpenVINO fp32 (CPU)"
    assert_same_detections(det.detect(images), ref)
    # a batch of several images gives the same as one at a time
    assert_same_detections(det.detect(images), [det.detect([im])[0] for im in images], 1e-4, 1e-6)


def test_detect_reads_the_requests_own_buffers_and_keeps_nothing_of_them(tmp_path: Path) -> None:
    """OpenVINO lends its output buffers to detect() (no copy): the detections equal those of the copied
    outputs, a later call (which overwrites the buffers) leaves earlier detections as they were, and the
    network is free again after each call, also after a failure inside the postprocess."""
    det = load_detector(tiny_checkpoint(tmp_path / "m.pt", "ssdlite320_mobilenet_v3_large"), runtime="openvino",
                        cache_dir=tmp_path / "cache")
    a, b = scenes(2)
    x = det.preprocess([a])
    logits, deltas = det.forward(x)  # copies
    copied = det.decode(logits, deltas, [(a.shape[1], a.shape[0])])[0]
    first = det.detect([a])[0]
    kept = (first.boxes.copy(), first.scores.copy(), first.labels.copy())
    assert len(first.scores) > 0
    assert_same_detections([first], [copied], 0.0, 0.0)
    det.detect([b])
    assert all(np.array_equal(v, w) for v, w in zip((first.boxes, first.scores, first.labels), kept))
    with pytest.raises(ValueError, match="nms"):
        det.detect([a], nms="bogus")
    assert not det.network._lock.locked()
    assert_same_detections(det.detect([a]), [copied], 0.0, 0.0)


def test_second_load_hits_the_cache(tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / "m.pt")
    cache = tmp_path / "cache"
    events = []
    first = load_detector(weights, runtime="openvino", cache_dir=cache, on_progress=events.append)
    assert first.runtime_info["cache"] == "stored"
    assert any(p.stage == "convert" for p in events)
    xml = Path(first.runtime_info["cache_entry"]) / "model.xml"
    stamp = xml.stat().st_mtime_ns
    events.clear()
    second = load_detector(weights, runtime="openvino", cache_dir=cache, on_progress=events.append)
    assert second.runtime_info["cache"] == "hit"
    assert second.runtime_info["cache_entry"] == first.runtime_info["cache_entry"]
    assert not any(p.stage == "convert" for p in events)  # nothing converted again
    assert xml.stat().st_mtime_ns == stamp
    # other weights: another entry
    other = tiny_checkpoint(tmp_path / "other.pt", seed=1)
    third = load_detector(other, runtime="openvino", cache_dir=cache)
    assert third.runtime_info["cache"] == "stored" and third.runtime_info["cache_entry"] != str(xml.parent)


def test_a_broken_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / "m.pt")
    cache = tmp_path / "cache"
    first = load_detector(weights, runtime="openvino", cache_dir=cache)
    bin_ = Path(first.runtime_info["cache_entry"]) / "model.bin"
    bin_.write_bytes(bin_.read_bytes()[:1000])  # cut short, as by a full disk or a kill
    again = load_detector(weights, runtime="openvino", cache_dir=cache)
    assert again.runtime_info["cache"] == "stored"
    images = scenes(2)
    assert_same_detections(again.detect(images), load_detector(weights).detect(images))


def test_runtime_choices() -> None:
    assert available_runtimes() == ("torch", "openvino")
    assert runtime_precisions("openvino") == ("fp32", "int8")
    assert "bf16" in runtime_precisions("torch")
    assert runtime_choices("cpu") == [("openvino", "fp32"), ("openvino", "int8")] + [
        ("torch", p) for p in precisions_for("cpu")]
    assert runtime_choices("cuda") == [("torch", p) for p in precisions_for("cuda")]
    assert choose_runtime("auto", "cpu", "fp32") == ("openvino", None)
    assert choose_runtime(None, "cpu", "int8") == ("openvino", None)
    assert choose_runtime("auto", "cpu", "bf16") == ("torch", None)
    assert choose_runtime("auto", "cuda", "fp32") == ("torch", None)
    assert choose_runtime("torch", "cpu", "fp32") == ("torch", None)
    with pytest.raises(ValueError, match="unknown runtime 'tensorrt'"):
        choose_runtime("tensorrt")


def test_precision_and_device_mismatches_are_named(tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / "m.pt")
    with pytest.raises(ValueError, match="int8.*runtime='openvino'"):
        load_detector(weights, runtime="torch", precision="int8")
    with pytest.raises(ValueError, match="'bf16' is not available on runtime 'openvino'"):
        load_detector(weights, runtime="openvino", precision="bf16")
    with pytest.raises(ValueError, match="unknown runtime 'onnxruntime'"):
        load_detector(weights, runtime="onnxruntime")


def _cli(*args: str, env_extra: dict[str, str] | None = None, prelude: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    code = f"{prelude}import sys; from core.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300)


def test_cli_detect_defaults_to_openvino_and_matches_torch(tmp_path: Path) -> None:
    import json

    import cv2

    weights = tiny_checkpoint(tmp_path / "m.pt")
    image = scenes(1)[0]
    img = tmp_path / "scene.png"
    cv2.imwrite(str(img), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    out = tmp_path / "auto.json"
    r = _cli("detect", str(img), "--weights", str(weights), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "running OpenVINO fp32 (CPU)" in r.stderr
    got = json.loads(out.read_text())["images"][0]["detections"]
    [ref] = load_detector(weights).detect([image])
    assert len(got) == len(ref) > 0
    for d, box, score, label in zip(got, ref.boxes, ref.scores, ref.labels):
        assert d["label"] == int(label)
        assert max(abs(x - float(y)) for x, y in zip(d["box"], box)) <= 1e-2
        assert abs(d["score"] - float(score)) <= 1e-4


def test_cli_falls_back_to_pytorch_without_openvino(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    weights = tiny_checkpoint(tmp_path / "m.pt")
    img = tmp_path / "scene.png"
    cv2.imwrite(str(img), cv2.cvtColor(scenes(1)[0], cv2.COLOR_RGB2BGR))
    # A None entry in sys.modules makes `import openvino` fail as on a machine without the package.
    hide = "import sys; sys.modules['openvino'] = None; "
    r = _cli("detect", str(img), "--weights", str(weights), "--out", str(tmp_path / "d.json"), prelude=hide)
    assert r.returncode == 0, r.stderr
    assert "OpenVINO is not installed: running the network with PyTorch" in r.stderr
    assert "running PyTorch fp32" in r.stderr
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert available_runtimes() == ("torch",)
    with pytest.raises(ValueError, match="OpenVINO is not installed"):
        load_detector(weights, runtime="openvino")
    with pytest.raises(ValueError, match="int8 needs OpenVINO, which is not installed"):
        choose_runtime("auto", "cpu", "int8")
