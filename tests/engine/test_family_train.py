"""Every new architecture trains from scratch with `ssd train` on synthetic scenes, and its loss falls."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.detector import load_detector


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
