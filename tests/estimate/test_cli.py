"""`ssd eval --estimate`: the real command in a subprocess, its metrics.json and printed lines, and its refusals."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.detector import DEMO_VIDEO

ROOT = Path(__file__).resolve().parents[2]


def ssd(*args: str, cache: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if cache is not None:
        env["SSD_CACHE_DIR"] = str(cache)
    return subprocess.run([sys.executable, "-m", "core.cli", "eval", *args], capture_output=True, text=True, env=env,
                          timeout=900)


@pytest.mark.slow
def test_estimate_writes_metrics_and_says_it_is_an_estimate(tmp_path: Path) -> None:
    out = tmp_path / "est"
    r = ssd("--estimate", "--images", str(DEMO_VIDEO), "--weights", "demo", "--every", "25", "--max-frames", "12",
            "--calibration-images", "20", "--severities", "2,5", "--runtime", "torch", "--out", str(out), "--quiet",
            cache=tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    lo, hi = metrics["interval"]
    assert metrics["kind"] == "estimate" and metrics["metric"] == "voc07" and lo <= metrics["estimated_mAP"] <= hi
    assert len(metrics["calibration"]["sets"]) == 15 and metrics["frames"] == 12
    assert metrics["validation_error"]["method"] == "leave-one-corruption-out"
    # every set is validated but those where a signal could not be measured (a severe shift on 20 images can
    # leave the model no box), and those are named
    validation = metrics["validation_error"]
    names = {s["name"] for s in metrics["calibration"]["sets"]}
    assert validation["sets"] + len(validation["skipped"]) == 15 and set(validation["skipped"]) <= names
    lines = r.stdout.splitlines()
    assert lines[0] == (f"ESTIMATED VOC07 11-point mAP@0.5: {metrics['estimated_mAP']:.3f}, interval [{lo:.3f}, "
                        f"{hi:.3f}] (demo_model.pt, PyTorch fp32, 12 frames of {DEMO_VIDEO})")
    assert lines[1].startswith("An estimate, not a measurement")
    assert f"missed the true value by {metrics['validation_error']['rmse']:.3f} RMS" in r.stdout
    cached = list((tmp_path / "cache" / "estimate").glob("*.json"))
    assert len(cached) == 1 and metrics["calibration"]["cache_file"] == str(cached[0])


def test_refusals_each_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from core.cli import main

    image = tmp_path / "one.png"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    cases = [
        (("--estimate", "--images", str(image), "--weights", "demo"), "one frame to estimate from"),
        (("--estimate", "--weights", "demo"), "--estimate needs --images SOURCE"),
        (("--estimate", "--images", str(image), "--dets", "x.json"), "--estimate needs --weights W"),
        (("--gt", str(tmp_path), "--weights", "demo", "--metric", "voc07", "--calibration-data", str(tmp_path)),
         "--calibration-data, --calibration-images, --severities and --recalibrate go with --estimate"),
        (("--estimate", "--images", str(image), "--weights", "demo", "--severities", "0,7"), "each must be 1..6"),
        (("--gt", str(tmp_path), "--weights", "demo"), "--metric is required"),
    ]
    for args, message in cases:
        assert main(["eval", *args, "--runtime", "torch", "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ssd eval: error: ") and message in err, (args, err)
        assert not (tmp_path / "out" / "metrics.json").exists()
