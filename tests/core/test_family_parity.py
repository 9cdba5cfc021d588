"""SSDlite320-MobileNetV3: the same detections and training loss as torchvision's own model.

torchvision's ``ssdlite320_mobilenet_v3_large`` is built with random weights (no download) whose
scores are spread and distinct (benchmarks._models.torchvision_ssdlite); its state dict, saved to disk,
is loaded through core.load_detector.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.ops import box_convert, box_iou

from benchmarks._models import same_detections, torchvision_ssdlite
from core.config import preset
from core.resolve import load_detector
from core.model import build_model
from core.ssd.priors import prior_boxes
from core.weights import load_state_into, load_weights, save_checkpoint
from tests.core.test_parity import _images, multibox_loss_of


@pytest.fixture(scope="module")
def lite_model():
    return torchvision_ssdlite(images=_images())


@pytest.fixture(scope="module")
def lite_weights(lite_model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lite") / "ssdlite320_random.pth"
    torch.save(lite_model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def lite_outputs(lite_model) -> list[dict[str, torch.Tensor]]:
    with torch.no_grad():
        return lite_model([torch.from_numpy(im).permute(2, 0, 1).float() / 255.0 for im in _images()])


def test_priors_equal_torchvision_default_boxes() -> None:
    cfg = preset("ssdlite320_mobilenet_v3_large", 91).model
    gen = DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)
    ref = gen._grid_default_boxes([[f, f] for f in cfg.priors.feature_maps], [320, 320])
    ours = prior_boxes(cfg.priors, 320)
    assert ours.shape == (3234, 4) and cfg.priors.num_priors == 3234
    assert torch.allclose(ours, ref, atol=1e-7, rtol=0)


def test_detections_equal_torchvision(lite_weights: Path, lite_outputs) -> None:
    # The reference is meaningful only if its scores are spread and distinct: ties make the kept set arbitrary.
    for r in lite_outputs:
        s = r["scores"].numpy()
        assert len(s) == 300 and len(np.unique(s)) == len(s) and s[0] < 0.9999 and s[0] - s[-1] > 0.1
    det = load_detector(lite_weights)
    assert det.weights_format == "torchvision-ssdlite" and det.config.model.arch == "ssdlite320_mobilenet_v3_large"
    assert det.class_names[1] == "person" and det.config.postprocess.score_thresh == 0.001
    imgs = _images()
    assert len({im.shape for im in imgs}) >= 3
    ok, summary = same_detections(det.detect(imgs), lite_outputs)
    assert ok, summary
    one = det.detect(imgs[3:4])[0]
    np.testing.assert_allclose(one.boxes, lite_outputs[3]["boxes"].numpy(), atol=1e-3, rtol=0)
    # The frozen CPU graph (what the app and ssd detect use) computes the same network, to rounding (its
    # ~1e-5 differences can swap two of the 300 detections whose scores are that close).
    x = det.preprocess(imgs[:2])
    fast = load_detector(lite_weights, optimize=True)
    assert fast.optimized
    for a, b in zip(fast.forward(x), det.forward(x)):
        assert (a - b).abs().max() < 1e-3


def test_own_checkpoint_keeps_torchvision_keys(lite_model, lite_weights: Path, tmp_path: Path) -> None:
    lw = load_weights(lite_weights)
    model = build_model(lw.config.model)
    load_state_into(model, lw.state_dict, lite_weights)
    assert list(model.state_dict()) == list(lite_model.state_dict())
    path = save_checkpoint(tmp_path / "lite.pt", model, lw.config, lw.class_names)
    again = load_weights(path)
    assert again.format == "own" and again.config == lw.config
    assert again.config.model.image_mean == (127.5,) * 3 and again.config.model.image_std == (127.5,) * 3


def test_training_loss_equals_torchvision(lite_model, lite_weights: Path) -> None:
    tv = copy.deepcopy(lite_model).train()  # train mode: BatchNorm on batch statistics, on both sides
    torch.manual_seed(3)
    imgs = [torch.rand(3, 320, 320) for _ in range(3)]
    # Each object's best default box is unique by a wide margin: a box inside several equal default boxes
    # ties exactly, and the two sides (pixels there, fractions here) would break the tie differently.
    boxes = [torch.tensor([[10.0, 20.0, 100.0, 200.0], [50.0, 60.0, 250.0, 280.0], [37.0, 45.0, 93.0, 131.0]]),
             torch.tensor([[0.0, 0.0, 320.0, 320.0], [150.0, 30.0, 230.0, 90.0]]),
             torch.zeros(0, 4)]
    labels = [torch.tensor([3, 7, 1]), torch.tensor([1, 90]), torch.zeros(0, dtype=torch.int64)]
    priors = box_convert(prior_boxes(preset("ssdlite320_mobilenet_v3_large", 91).model.priors, 320,
                                     dtype=torch.float64), "cxcywh", "xyxy") * 320
    for b in boxes[:2]:
        top2 = box_iou(b.double(), priors).topk(2, dim=1).values
        assert (top2[:, 0] - top2[:, 1]).min() > 0.01
    with torch.no_grad():
        ref = tv(imgs, [{"boxes": b, "labels": l} for b, l in zip(boxes, labels)])
        x, _ = tv.transform(imgs)
    out = multibox_loss_of(lite_weights, x.tensors, boxes, labels, train=True)
    assert out.num_pos > 0
    assert abs(out.loc.item() - ref["bbox_regression"].item()) <= 1e-4 * ref["bbox_regression"].item()
    assert abs(out.conf.item() - ref["classification"].item()) <= 1e-4 * ref["classification"].item()
