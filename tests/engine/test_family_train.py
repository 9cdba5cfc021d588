"""Every new architecture trains from scratch with `ssd train` on synthetic scenes, and its loss falls."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.resolve import load_detector


@pytest.mark.parametrize("arch", ["ssdlite320_mobilenet_v3_large", "ssdlite300_mobilenet_v2", "ssd300_mobilenet_v1",
                                  "ssd300_resnet50"])
def test_ssd_train_from_scratch_loss_falls(arch: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "--format", "synthetic", "--model", arch, "--width", "0.125", "--synthetic-count", "2",
            "--synthetic-size", "64", "--synthetic-seed", "3", "--val-split", "none", "--augment", "none",
            "--epochs", "12", "--batch-size", "2", "--optimizer", "adam", "--lr", "5e-3", "--weight-decay", "0",
            "--warmup-iters", "0", "--milestones", "0.9", "--workers", "0", "--threads", "1",
            "--checkpoint-every", "0", "--out", str(out)]
    assert main(args) == 0
    with (out / "metrics.csv").open() as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    assert len(losses) == 12 and np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3]), losses
    det = load_detector(out / "model.pt")
    assert det.config.model.arch == arch and det.config.model.width == 0.125
    # Trained with the architecture's own normalisation, stored in the checkpoint for inference.
    assert det.config.model.image_std != (1.0, 1.0, 1.0)


def test_batchnorm_models_leave_out_a_single_image_tail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["train", "--format", "synthetic", "--model", "ssd300_mobilenet_v1", "--width", "0.125",
            "--synthetic-size", "64", "--val-split", "none", "--augment", "none", "--epochs", "1", "--workers", "0",
            "--threads", "1", "--optimizer", "adam"]
    # 5 images in batches of 2: BatchNorm cannot train on the fifth alone (a 1x1 map, one value per channel).
    assert main(base + ["--synthetic-count", "5", "--batch-size", "2", "--out", str(tmp_path / "a")]) == 0
    with (tmp_path / "a" / "metrics.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 2
    for count, batch in (("1", "2"), ("4", "1")):
        assert main(base + ["--synthetic-count", count, "--batch-size", batch, "--out", str(tmp_path / count)]) == 2
        assert "has BatchNorm layers and trains on at least 2 images per batch" in capsys.readouterr().err
