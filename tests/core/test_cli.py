"""`ssd detect` and `ssd info` on real files: images, a folder, a video, and bad inputs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import cv2

from core.cli import main
from core.config import ssd300
from core.model import build_model
from core.video import VideoWriter
from core.weights import save_checkpoint


@pytest.fixture()
def weights(tmp_path: Path) -> Path:
    cfg = ssd300(num_classes=3, priors="voc", width=0.125)
    return save_checkpoint(tmp_path / "w.pt", build_model(cfg.model), cfg, ("__background__", "circle", "square"))


def _image(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _check_schema(doc: dict, n_images: int) -> None:
    assert set(doc) == {"weights", "class_names", "images"}
    assert doc["class_names"] == ["__background__", "circle", "square"]
    assert len(doc["images"]) == n_images
    for entry in doc["images"]:
        assert {"file", "width", "height", "detections"} <= set(entry)
        for d in entry["detections"]:
            assert set(d) == {"box", "score", "label", "name"}
            x1, y1, x2, y2 = d["box"]
            assert 0 <= x1 <= x2 <= entry["width"] and 0 <= y1 <= y2 <= entry["height"]
            assert d["name"] == doc["class_names"][d["label"]]


def test_detect_image_folder_and_video(tmp_path: Path, weights: Path, capsys) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, (h, w) in enumerate([(50, 80), (64, 64), (90, 40)]):
        cv2.imwrite(str(folder / f"im{i}.png"), _image(h, w, i))
    out = tmp_path / "folder.json"
    assert main(["detect", str(folder), "--weights", str(weights), "--out", str(out), "--score-thresh", "0.2"]) == 0
    doc = json.loads(out.read_text())
    _check_schema(doc, 3)
    assert [e["width"] for e in doc["images"]] == [80, 64, 40]
    assert all(d["score"] > 0.2 for e in doc["images"] for d in e["detections"])
    assert "detect [" in capsys.readouterr().err  # progress bar for folders

    single = tmp_path / "one.json"
    assert main(["detect", str(folder / "im1.png"), "--weights", str(weights), "--out", str(single)]) == 0
    doc1 = json.loads(single.read_text())
    _check_schema(doc1, 1)
    assert "frame" not in doc1["images"][0]

    video = tmp_path / "clip.mp4"
    with VideoWriter(video, fps=10, size=(96, 64)) as vw:
        for i in range(6):
            vw.write(_image(64, 96, 10 + i))
    vout = tmp_path / "video.json"
    assert main(["detect", str(video), "--weights", str(weights), "--out", str(vout), "--batch-size", "4"]) == 0
    docv = json.loads(vout.read_text())
    _check_schema(docv, 6)
    assert [e["frame"] for e in docv["images"]] == list(range(6))


def test_detect_bad_inputs(tmp_path: Path, weights: Path, capsys) -> None:
    fake = tmp_path / "broken.mp4"
    fake.write_text("not a video")
    out = tmp_path / "o.json"
    assert main(["detect", str(fake), "--weights", str(weights), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "broken.mp4" in err and "error" in err and "Traceback" not in err
    assert not out.exists()
    assert main(["detect", str(tmp_path / "missing.png"), "--weights", str(weights), "--out", str(out)]) == 2
    assert "missing.png" in capsys.readouterr().err
    txt = tmp_path / "weights.txt"
    txt.write_text("hello")
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), _image(20, 20, 0))
    assert main(["detect", str(img), "--weights", str(txt), "--out", str(out)]) == 2
    assert "is not a PyTorch weights file" in capsys.readouterr().err
    assert main(["detect", str(img), "--weights", str(weights), "--out", str(out), "--score-thresh", "3"]) == 2


def test_info_and_console_script(weights: Path, capsys) -> None:
    assert main(["info", str(weights)]) == 0
    text = capsys.readouterr().out
    assert "format: own" in text and "ssd300" in text and "circle, square" in text
    res = subprocess.run([sys.executable, "-m", "core.cli", "--help"], capture_output=True, text=True, check=True)
    for cmd in ("detect", "info", "synth", "train", "eval"):
        assert cmd in res.stdout
