"""Parity with torchvision's own ssd300_vgg16: same detections and same training loss.

torchvision's model is built with random weights (no download); its state dict, saved to disk,
is loaded through our importer (and again after renaming into ssd.pytorch's key layout).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.resolve import load_detector
from core.weights.importers import ssd_pytorch_key_map
from core.ssd.loss import LossOutput, MultiBoxLoss
from core.ssd.matching import BoxCoder, Matcher, build_targets
from core.model import build_model
from core.weights import load_state_into, load_weights

SIZES = [(480, 640), (300, 300), (375, 500), (720, 405)]


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    imgs = []
    for h, w in SIZES:
        # Smooth structure plus noise: more realistic activations than pure noise.
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * 255 / w), (yy * 255 / h), ((xx + yy) % 97) * 2.5], -1)
        imgs.append(np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8))
    return imgs


@pytest.fixture(scope="module")
def tv_outputs(tv_model) -> list[dict[str, torch.Tensor]]:
    with torch.no_grad():
        return tv_model([torch.from_numpy(im).permute(2, 0, 1).float() / 255.0 for im in _images()])


def _assert_same_detections(dets, ref) -> None:
    for d, r in zip(dets, ref):
        assert len(d) == len(r["scores"]) > 0
        np.testing.assert_array_equal(d.labels, r["labels"].numpy())
        np.testing.assert_allclose(d.boxes, r["boxes"].numpy(), atol=1e-3, rtol=0)
        np.testing.assert_allclose(d.scores, r["scores"].numpy(), atol=1e-6, rtol=0)


def test_detections_equal_torchvision(tv_weights: Path, tv_outputs) -> None:
    det = load_detector(tv_weights)
    assert det.weights_format == "torchvision"
    assert det.class_names[1] == "person" and len(det.class_names) == 91
    _assert_same_detections(det.detect(_images()), tv_outputs)
    # One image at a time gives the same as a batch.
    one = det.detect(_images()[2:3])[0]
    np.testing.assert_allclose(one.boxes, tv_outputs[2]["boxes"].numpy(), atol=1e-3, rtol=0)


def _to_ssd_pytorch(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    inverse = {v: k for k, v in ssd_pytorch_key_map(8).items()}
    out = {}
    for k, v in sd.items():
        k = "backbone.l2norm.weight" if k == "backbone.scale_weight" else k
        prefix, _, leaf = k.rpartition(".")
        out[f"{inverse[prefix]}.{leaf}"] = v
    return out


def test_ssd_pytorch_layout_equals_torchvision(tv_model, tv_outputs, tmp_path: Path) -> None:
    sd = _to_ssd_pytorch(tv_model.state_dict())
    assert {"vgg.0.weight", "vgg.33.weight", "L2Norm.weight", "extras.7.weight", "loc.5.weight", "conf.0.weight"} <= set(sd)
    path = tmp_path / "ssd300_mAP_77.43_v2.pth"
    torch.save(sd, path)
    # ssd.pytorch models default to the VOC boxes; these weights came from the COCO-box model.
    det = load_detector(path, priors="coco")
    assert det.weights_format == "ssd.pytorch"
    _assert_same_detections(det.detect(_images()), tv_outputs)
    voc = load_weights(path)
    assert voc.config.model.priors.min_sizes[0] == 30.0  # default for ssd.pytorch: the VOC boxes


def test_training_loss_equals_torchvision(tv_model, tv_weights: Path) -> None:
    torch.manual_seed(3)
    imgs = [torch.rand(3, 300, 300) for _ in range(3)]
    boxes = [torch.tensor([[10.0, 20.0, 100.0, 200.0], [50.0, 60.0, 250.0, 280.0], [40.0, 40.0, 60.0, 70.0]]),
             torch.tensor([[0.0, 0.0, 300.0, 300.0]]),
             torch.zeros(0, 4)]  # an image without objects
    labels = [torch.tensor([3, 7, 1]), torch.tensor([1]), torch.zeros(0, dtype=torch.int64)]
    tv_model.train()
    try:
        with torch.no_grad():
            ref = tv_model(imgs, [{"boxes": b, "labels": l} for b, l in zip(boxes, labels)])
            x, _ = tv_model.transform(imgs)
    finally:
        tv_model.eval()
    out = multibox_loss_of(tv_weights, x.tensors, boxes, labels)
    assert abs(out.loc.item() - ref["bbox_regression"].item()) <= 1e-4 * ref["bbox_regression"].item()
    assert abs(out.conf.item() - ref["classification"].item()) <= 1e-4 * ref["classification"].item()


def multibox_loss_of(weights: Path, x: torch.Tensor, boxes: list[torch.Tensor], labels: list[torch.Tensor],
                     train: bool = False) -> LossOutput:
    """This project's MultiBox loss of the model in ``weights`` on the batch ``x`` [N, 3, S, S] (already
    normalised) with per-image ground truth in pixels of S; ``train`` puts BatchNorm on batch statistics."""
    lw = load_weights(weights)
    model = build_model(lw.config.model)
    load_state_into(model, lw.state_dict, weights)
    model.train(train)
    size, m = x.shape[-1], max(len(b) for b in boxes)
    gb = torch.zeros(len(boxes), m, 4)
    gl = torch.zeros(len(boxes), m, dtype=torch.int64)
    for i, (b, l) in enumerate(zip(boxes, labels)):
        gb[i, : len(b)] = b / size
        gl[i, : len(l)] = l
    with torch.no_grad():
        logits, deltas = model(x)
        tl, td = build_targets(Matcher(), BoxCoder(), gb, gl, model.priors())
        return MultiBoxLoss()(logits, deltas, tl, td)
