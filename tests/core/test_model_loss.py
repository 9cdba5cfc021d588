"""Network structure, SSD512 shapes, and the MultiBox loss."""
from __future__ import annotations

import torch
from torch import nn

from core.config import LossConfig, ssd300, ssd512
from core.ssd.loss import MultiBoxLoss
from core.ssd.matching import BoxCoder, Matcher, build_targets
from core.model import build_model


def test_ssd512_forward_shapes() -> None:
    cfg = ssd512(num_classes=21, width=0.125).model
    model = build_model(cfg).eval()
    x = torch.zeros(2, 3, 512, 512)
    with torch.no_grad():
        feats = model.backbone(x)
        logits, deltas = model(x)
    assert [f.shape[-1] for f in feats] == [64, 32, 16, 8, 4, 2, 1]
    assert logits.shape == (2, 24564, 21) and deltas.shape == (2, 24564, 4)


def test_ssd300_structure_follows_the_paper() -> None:
    model = build_model(ssd300(num_classes=21, priors="voc").model)
    bb = model.backbone
    pools = [m for m in bb.features if isinstance(m, nn.MaxPool2d)]
    assert [p.ceil_mode for p in pools] == [False, False, True]  # pool3 rounds up: 75 -> 38
    assert torch.all(bb.l2norm.weight == 20.0) and bb.l2norm.weight.shape == (512,)
    pool5, conv6, conv7 = bb.extra[0][7][0], bb.extra[0][7][1], bb.extra[0][7][3]
    assert (pool5.kernel_size, pool5.stride) == (3, 1)
    assert conv6.dilation == (6, 6) and conv6.kernel_size == (3, 3) and conv6.out_channels == 1024
    assert conv7.kernel_size == (1, 1)
    assert all(torch.all(c.bias == 0) for c in model.head.modules() if isinstance(c, nn.Conv2d))
    with torch.no_grad():
        feats = model.backbone(torch.zeros(1, 3, 300, 300))
    assert [f.shape[-1] for f in feats] == [38, 19, 10, 5, 3, 1]
    assert [f.shape[1] for f in feats] == [512, 1024, 512, 256, 256, 256]


def test_width_multiplier_scales_channels() -> None:
    model = build_model(ssd300(num_classes=5, width=0.25).model)
    assert model.backbone.out_channels == [128, 256, 128, 64, 64, 64]
    assert model.backbone.features[0].out_channels == 16


def _targets(priors: torch.Tensor, boxes: list[list[list[float]]], labels: list[list[int]]):
    m = max(1, max(len(b) for b in boxes))
    gb = torch.zeros(len(boxes), m, 4)
    gl = torch.zeros(len(boxes), m, dtype=torch.int64)
    for i, (b, l) in enumerate(zip(boxes, labels)):
        if b:
            gb[i, : len(b)] = torch.tensor(b)
            gl[i, : len(l)] = torch.tensor(l)
    return build_targets(Matcher(), BoxCoder(), gb, gl, priors)


def test_loss_with_an_image_without_objects_is_finite() -> None:
    model = build_model(ssd300(num_classes=4, width=0.125).model)
    x = torch.randn(2, 3, 300, 300)
    logits, deltas = model(x)
    tl, td = _targets(model.priors(), [[[0.1, 0.1, 0.4, 0.5]], []], [[2], []])
    out = MultiBoxLoss()(logits, deltas, tl, td)
    assert torch.isfinite(out.total) and out.num_pos > 0
    out.total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    # A batch with no objects at all: zero loss, no NaN.
    tl, td = _targets(model.priors(), [[], []], [[], []])
    out = MultiBoxLoss()(logits.detach(), deltas.detach(), tl, td)
    assert out.total.item() == 0.0 and out.num_pos == 0


def test_hard_negative_mining_takes_three_negatives_per_positive() -> None:
    torch.manual_seed(0)
    p, c = 50, 3
    logits = torch.randn(1, p, c)
    deltas = torch.zeros(1, p, 4)
    labels = torch.zeros(1, p, dtype=torch.int64)
    labels[0, :4] = 1
    loss = MultiBoxLoss(LossConfig(neg_pos_ratio=3))(logits, deltas, labels, torch.zeros(1, p, 4))
    ce = torch.nn.functional.cross_entropy(logits[0], labels[0], reduction="none")
    expected = (ce[:4].sum() + ce[4:].topk(12).values.sum()) / 4
    assert torch.allclose(loss.conf, expected)
    assert loss.loc.item() == 0.0
