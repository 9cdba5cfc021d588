"""The PyTorch path on every device this machine has: CPU always, CUDA when torch sees a GPU.

Each test runs on the CPU here; its CUDA case compares the GPU with the CPU and is skipped, saying
why, where there is no CUDA device.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from core import load_detector
from tests.runtime.helpers import assert_same_detections, scenes, tiny_checkpoint

NO_CUDA = "no CUDA device on this machine (torch.cuda.is_available() is False)"
CUDA = pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA))
DEVICES = ["cpu", CUDA]


@pytest.mark.parametrize("device", DEVICES)
def test_detection_on_device_matches_cpu(device: str, tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / "m.pt")
    images = scenes(3)
    det = load_detector(weights, device=device)
    assert det.device.type == device
    # cuDNN and oneDNN sum in other orders: equal detections, boxes within 1e-2 px
    assert_same_detections(det.detect(images), load_detector(weights).detect(images))


@pytest.mark.parametrize("device, precision", [
    ("cpu", "bf16"),
    pytest.param("cuda", "fp16", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)),
    pytest.param("cuda", "bf16", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)),
])
def test_reduced_precision_detection(device: str, precision: str) -> None:
    """The demo model (trained: confident detections) in bf16/fp16 finds what fp32 finds."""
    from torchvision.ops import box_iou

    from core.detector import DEMO_WEIGHTS

    images = scenes(3, (300, 300), seed=2024)
    det = load_detector(DEMO_WEIGHTS, device=device, precision=precision)
    assert det.precision == precision
    strong = 0
    for fast, ref in zip(det.detect(images), load_detector(DEMO_WEIGHTS).detect(images)):
        assert fast.boxes.dtype == np.float32 and np.isfinite(fast.boxes).all()
        for box, score, label in zip(ref.boxes, ref.scores, ref.labels):
            if score < 0.5:
                break
            strong += 1
            same = fast.labels == label
            iou = box_iou(torch.from_numpy(box[None]), torch.from_numpy(fast.boxes[same]))
            assert iou.numel() and float(iou.max()) > 0.9, f"{precision} lost a detection of label {label}"
    assert strong > 0


@pytest.mark.parametrize("device", DEVICES)
def test_training_on_device_then_resume_on_cpu(device: str, tmp_path: Path) -> None:
    """A few iterations (AMP fp16 on CUDA), finite losses, and the checkpoint continues on the CPU."""
    from core.engine import EventKind, train
    from tests.engine.helpers import tiny_config

    cfg = tiny_config(tmp_path / "run", device=device, amp=device == "cuda", synthetic_count=6, epochs=2,
                      max_iterations=5, checkpoint_every=0, augment="none")
    # asked to stop after step 2, it stops after step 3 (the flag is read one step late) and writes last.pt
    steps = []
    result = train(cfg, on_progress=lambda e: steps.append(e) if e.kind == EventKind.STEP else None,
                   should_stop=lambda: len(steps) >= 2)
    assert result.stopped and result.iterations == 3
    assert [e.iteration for e in steps] == [1, 2, 3] and all(math.isfinite(e.loss) for e in steps)
    resumed: list = []
    done = train(tiny_config(tmp_path / "run", device="cpu", synthetic_count=6, epochs=2, max_iterations=5,
                             checkpoint_every=0, augment="none", resume=str(tmp_path / "run" / "last.pt")),
                 on_progress=resumed.append)
    assert done.iterations == 5 and not done.stopped
    assert resumed[0].kind == EventKind.RESUMED and resumed[0].iteration == 3
    more = [e for e in resumed if e.kind == EventKind.STEP]
    assert [e.iteration for e in more] == [4, 5] and all(math.isfinite(e.loss) for e in more)


@pytest.mark.parametrize("device", DEVICES)
def test_evaluation_on_device_equals_cpu(device: str, tmp_path: Path) -> None:
    from core.data.synthetic import synthetic_index
    from core.evaluation import evaluate
    from core.evaluation.run import run_detector

    weights = tiny_checkpoint(tmp_path / "m.pt")
    gt = synthetic_index(6, 12, (96, 96))
    maps = {}
    for d in ("cpu", device):
        det = load_detector(weights, device=d)
        dets = run_detector(det, gt, batch_size=3)
        maps[d] = evaluate(gt, dets, detector_class_names=det.class_names, source=d).voc(True).mAP
    assert maps[device] == pytest.approx(maps["cpu"], abs=1e-6)
