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
from core.io.video_writer import VideoWriter
from core.weights import save_checkpoint


@pytest.fixture()
def weights(tmp_path: Path) -> Path:
    cfg = ssd300(num_classes=3, priors="voc", width=0.125)
    return save_checkpoint(tmp_path / "w.pt", build_model(cfg.model), cfg, ("__background__", "circle", "square"))


def _image(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _check_schema(doc: dict, n_images: int) -> None:
    assert set(doc) == {"schema", "weights", "class_names", "source", "score_thresh", "class_filter", "partial",
                        "frames_done", "frames_total", "video", "warnings", "images"}
    assert doc["class_names"] == ["__background__", "circle", "square"]
    assert len(doc["images"]) == n_images == doc["frames_done"] and doc["partial"] is False
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


def _ssd(*args: str, **kw) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    """``python -m core.cli ARGS`` in a real process, with this checkout first on the path."""
    import os

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return subprocess.Popen([sys.executable, "-m", "core.cli", *args], env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, **kw)


def _wait_for(proc: subprocess.Popen, text: bytes, timeout_s: float = 120.0) -> bytes:
    """Read the process's stderr until ``text`` appears (the progress bar has no newlines)."""
    import os
    import select
    import time

    seen = b""
    end = time.monotonic() + timeout_s
    while text not in seen:
        assert time.monotonic() < end and proc.poll() is None, f"never saw {text!r}: {seen[-500:]!r}"
        if select.select([proc.stderr], [], [], 0.5)[0]:
            seen += os.read(proc.stderr.fileno(), 4096)
    return seen


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_interrupted_detect_keeps_the_frames_done(tmp_path: Path, weights: Path, signame: str) -> None:
    import signal

    from tests.core.videos import write_video

    video = write_video(tmp_path / "long.mp4", 3000, size=(48, 32))
    out = tmp_path / "d.json"
    proc = _ssd("detect", str(video), "--weights", str(weights), "--out", str(out), "--no-optimize")
    seen = _wait_for(proc, b"detect [")
    proc.send_signal(getattr(signal, signame))
    rest = proc.communicate(timeout=120)[1]
    err = (seen + rest).decode()
    assert proc.returncode == 130, err
    doc = json.loads(out.read_text())
    assert doc["partial"] is True and 0 < doc["frames_done"] < 3000 and doc["frames_total"] == 3000
    assert [e["frame"] for e in doc["images"]] == list(range(doc["frames_done"]))
    assert f"interrupted: kept the first {doc['frames_done']} of 3000" in err and str(out) in err


def test_detect_save_video_names_its_codec(tmp_path: Path, weights: Path, capsys) -> None:
    from core.io.video_writer import writable_codecs
    from tests.core.videos import decodable_frames, write_video

    video = write_video(tmp_path / "clip.mp4", 5)
    saved = tmp_path / "annotated.mp4"
    assert main(["detect", str(video), "--weights", str(weights), "--save-video", str(saved), "--no-optimize"]) == 0
    assert decodable_frames(saved) == 5
    assert f"video codec {writable_codecs('.mp4')[0]}" in capsys.readouterr().err
    assert main(["detect", str(video), "--weights", str(weights), "--no-optimize"]) == 2
    assert "--out" in capsys.readouterr().err


def test_detect_names_each_skipped_image_and_fails_when_none_reads(tmp_path: Path, weights: Path, capsys) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "good.png"), _image(30, 40, 0))
    for name in ("bad1.jpg", "bad2.png", "bad3.bmp"):
        (folder / name).write_bytes(b"not an image")
    out = tmp_path / "d.json"
    assert main(["detect", str(folder), "--weights", str(weights), "--out", str(out), "--no-optimize"]) == 0
    err = capsys.readouterr().err
    for name in ("bad1.jpg", "bad2.png", "bad3.bmp"):
        assert f"warning: {folder / name}: could not decode image" in err
    doc = json.loads(out.read_text())
    assert doc["frames_done"] == 1 and len(doc["warnings"]) == 3

    (folder / "good.png").write_bytes(b"broken too")
    out2 = tmp_path / "none.json"
    assert main(["detect", str(folder), "--weights", str(weights), "--out", str(out2), "--no-optimize"]) == 2
    err = capsys.readouterr().err
    assert "nothing could be read" in err and all(n in err for n in ("good.png", "bad1.jpg", "bad3.bmp"))
    assert not out2.exists()


def test_detect_says_a_truncated_video_ended_early(tmp_path: Path, weights: Path, capsys) -> None:
    from tests.core.videos import decodable_frames, truncated_mp4, write_video

    cut = truncated_mp4(write_video(tmp_path / "full.mp4", 60), tmp_path / "cut.mp4", keep_frames=29)
    n = decodable_frames(cut)
    assert n == 29
    out = tmp_path / "d.json"
    assert main(["detect", str(cut), "--weights", str(weights), "--out", str(out), "--no-optimize"]) == 0
    err = capsys.readouterr().err
    assert f"the video ended early: {n} of the 60 frames its header announces" in err
    doc = json.loads(out.read_text())
    assert doc["frames_done"] == doc["frames_total"] == n and "ended early" in doc["warnings"][0]
    assert f"{n} of {n} image(s)" in err


def test_info_escapes_control_sequences_from_the_file(tmp_path: Path, capsys) -> None:
    cfg = ssd300(num_classes=3, priors="voc", width=0.125)
    hostile = ("__background__", "cat\x1b[2J\x1b[H", "dog\nformat: fake")
    path = save_checkpoint(tmp_path / "w.pt", build_model(cfg.model), cfg, hostile,
                           meta={"note\x1b]0;owned\x07": "done\u202etxt.exe", "iterations": 12})
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert not any(c in out for c in "\x1b\x07\u202e") and out.count("\n") == 10  # 8 fixed lines + 2 meta lines
    assert "cat\\x1b[2J\\x1b[H" in out and "dog\\nformat: fake" in out
    assert "note\\x1b]0;owned\\x07: done\\u202etxt.exe" in out and "iterations: 12" in out


def test_version_and_the_demo_name(tmp_path: Path, capsys) -> None:
    import core

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"ssd {core.__version__}"
    assert main(["info", "demo"]) == 0
    assert "demo_model.pt" in capsys.readouterr().out
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), _image(60, 80, 3))
    out = tmp_path / "d.json"
    assert main(["detect", str(img), "--weights", "demo", "--out", str(out), "--no-optimize"]) == 0
    doc = json.loads(out.read_text())
    assert doc["weights"] == "demo" and doc["class_names"][1:] and doc["frames_done"] == 1
