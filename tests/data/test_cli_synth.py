"""`ssd synth`: datasets and videos through the real command line entry point."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.cli import main
from core.data.coco import load_coco
from core.data.synthetic import SHAPE_CLASSES, render_scene
from core.data.voc import load_voc


@pytest.mark.parametrize("fmt", ["voc", "coco"])
def test_synth_dataset(tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "shapes"
    rc = main(["synth", "--out", str(out), "--count", "3", "--seed", "5", "--format", fmt, "--size", "64", "48"])
    assert rc == 0
    captured = capsys.readouterr()
    assert "3/3" in captured.err and str(out) in captured.out
    ds = load_voc(out) if fmt == "voc" else load_coco(out / "annotations.json")
    assert len(ds) == 3 and ds.class_names == SHAPE_CLASSES
    np.testing.assert_array_equal(ds.records[1].boxes, render_scene(5, 1, (64, 48))[1])


def test_synth_video(tmp_path: Path) -> None:
    path = tmp_path / "demo.mp4"
    assert main(["synth", "--video", str(path), "--seconds", "0.4", "--fps", "10", "--size", "80", "48",
                 "--quiet"]) == 0
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 80
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (48, 80, 3)


def test_synth_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--out", str(tmp_path / "x"), "--count", "0"]) == 2
    assert "--count must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["synth", "--count", "3"])  # neither --out nor --video
