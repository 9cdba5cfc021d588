"""The fast code paths: the candidate-order postprocess with same-class greedy NMS, and the frozen
(optimize=True) CPU fp32 Detector. Each is checked against torchvision doing the same job."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import batched_nms

from core.config import PostprocessConfig
from core.resolve import load_detector
from core.ssd.matching import BoxCoder
from core.ssd.postprocess import greedy_nms_same_class, postprocess


def _clustered_boxes(g: torch.Generator, n: int, n_cls: int, spread: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n boxes jittered around a few centres (many overlaps, chains of suppression), scores, classes."""
    centres = torch.rand(6, 2, generator=g) * 0.6 + 0.2
    pick = torch.randint(0, 6, (n,), generator=g)
    c = centres[pick] + (torch.rand(n, 2, generator=g) - 0.5) * spread
    wh = torch.rand(n, 2, generator=g) * 0.2 + 0.1
    boxes = torch.cat((c - wh / 2, c + wh / 2), dim=1)
    scores = torch.rand(n, generator=g)
    classes = torch.randint(0, n_cls, (n,), generator=g)
    return boxes, scores, classes


@pytest.mark.parametrize("n, n_cls, spread", [(300, 3, 0.05), (2000, 40, 0.3), (500, 1, 0.01), (1, 5, 0.1)])
def test_same_class_nms_equals_torchvision_batched_nms(n: int, n_cls: int, spread: float) -> None:
    g = torch.Generator().manual_seed(n + n_cls)
    boxes, scores, classes = _clustered_boxes(g, n, n_cls, spread)
    order = scores.argsort(descending=True)
    boxes, scores, classes = boxes[order], scores[order], classes[order]
    for thresh in (0.3, 0.45, 0.7):
        keep = greedy_nms_same_class(boxes, classes, thresh)
        ref = batched_nms(boxes, scores, classes, thresh)
        assert torch.equal(keep.nonzero().squeeze(1), ref.sort().values)
        assert 0 < int(keep.sum()) <= n


def test_same_class_nms_per_class_cap_and_empty_input() -> None:
    g = torch.Generator().manual_seed(3)
    boxes, scores, classes = _clustered_boxes(g, 400, 4, 0.2)
    order = scores.argsort(descending=True)
    boxes, scores, classes = boxes[order], scores[order], classes[order]
    keep = greedy_nms_same_class(boxes, classes, 0.45, max_per_class=10)
    # The reference: the first 10 boxes of every class, then ordinary batched NMS on them.
    rank = torch.zeros_like(classes)
    seen: dict[int, int] = {}
    for i, c in enumerate(classes.tolist()):
        rank[i] = seen.get(c, 0)
        seen[c] = rank[i].item() + 1
    cand = (rank < 10).nonzero().squeeze(1)
    ref = cand[batched_nms(boxes[cand], scores[cand], classes[cand], 0.45)].sort().values
    assert torch.equal(keep.nonzero().squeeze(1), ref)
    assert not keep[rank >= 10].any()
    empty = greedy_nms_same_class(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), 0.45)
    assert empty.shape == (0,) and empty.dtype == torch.bool


@pytest.fixture(scope="module")
def tv_head_inputs(tv_model) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """torchvision's anchors for a 300x300 input (they equal our priors in pixels) and their count."""
    x = torch.zeros(1, 3, 300, 300)
    feats = [torch.zeros(1, 1, f, f) for f in (38, 19, 10, 5, 3, 1)]
    anchors = tv_model.anchor_generator(ImageList(x, [(300, 300)]), feats)
    return x, anchors


def _tv_postprocess(tv_model, logits: torch.Tensor, deltas: torch.Tensor, anchors, cfg: PostprocessConfig):
    saved = (tv_model.score_thresh, tv_model.nms_thresh, tv_model.topk_candidates, tv_model.detections_per_img)
    tv_model.score_thresh, tv_model.nms_thresh = cfg.score_thresh, cfg.nms_thresh
    tv_model.topk_candidates, tv_model.detections_per_img = cfg.topk_candidates, cfg.detections_per_img
    try:
        with torch.no_grad():
            return tv_model.postprocess_detections({"cls_logits": logits, "bbox_regression": deltas},
                                                   anchors * logits.shape[0], [(300, 300)] * logits.shape[0])
    finally:
        tv_model.score_thresh, tv_model.nms_thresh, tv_model.topk_candidates, tv_model.detections_per_img = saved


@pytest.mark.parametrize("cfg, logit_scale", [
    (PostprocessConfig(), 1.0),  # scores near 1/91: every class has candidates, NMS-heavy
    (PostprocessConfig(), 3.0),
    (PostprocessConfig(score_thresh=0.3), 3.0),
    (PostprocessConfig(topk_candidates=5, detections_per_img=50), 2.0),  # per-class cap binds
    (PostprocessConfig(score_thresh=0.2, nms_thresh=0.3, detections_per_img=300), 2.5),  # k must grow
])
def test_postprocess_equals_torchvision(tv_model, tv_head_inputs, cfg: PostprocessConfig, logit_scale: float) -> None:
    _, anchors = tv_head_inputs
    g = torch.Generator().manual_seed(int(logit_scale * 10) + cfg.detections_per_img)
    p = anchors[0].shape[0]
    logits = torch.randn(2, p, 91, generator=g) * logit_scale
    deltas = torch.randn(2, p, 4, generator=g) * 0.5
    priors = load_priors_from_anchors(anchors[0])
    ours = postprocess(logits, deltas, priors, BoxCoder(), cfg)
    ref = _tv_postprocess(tv_model, logits, deltas, anchors, cfg)
    for (boxes, scores, labels), r in zip(ours, ref):
        assert len(scores) == len(r["scores"]) > 0
        assert bool((scores[:-1] >= scores[1:]).all())
        # Exactly equal scores (common among 1.6M softmax values) may come in either order.
        a, b = _canonical(boxes * 300, scores, labels), _canonical(r["boxes"], r["scores"], r["labels"])
        assert torch.equal(a[2], b[2])
        assert torch.allclose(a[0], b[0], atol=1e-3, rtol=0)
        assert torch.allclose(a[1], b[1], atol=1e-6, rtol=0)


def _canonical(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Sort by descending score, then label, then x1: a fixed order among tied scores."""
    order = np.lexsort((boxes[:, 0].numpy(), labels.numpy(), -scores.double().numpy()))
    idx = torch.from_numpy(order)
    return boxes[idx], scores[idx], labels[idx]


def load_priors_from_anchors(anchors_xyxy_px: torch.Tensor) -> torch.Tensor:
    """torchvision's anchors (x1y1x2y2 pixels of 300x300) -> cxcywh normalised priors."""
    a = anchors_xyxy_px / 300.0
    wh = a[:, 2:] - a[:, :2]
    return torch.cat((a[:, :2] + wh / 2, wh), dim=1)


def test_postprocess_without_candidates_gives_empty_results() -> None:
    logits = torch.zeros(1, 50, 4)
    logits[..., 0] = 20.0  # background everywhere
    priors = torch.rand(50, 4) * 0.5 + 0.1
    [(boxes, scores, labels)] = postprocess(logits, torch.zeros(1, 50, 4), priors, BoxCoder(), PostprocessConfig())
    assert boxes.shape == (0, 4) and scores.shape == (0,) and labels.shape == (0,)


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    out = []
    for h, w in ((480, 640), (333, 500)):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * 255 / w), (yy * 255 / h), ((xx * 3 + yy) % 89) * 2.8], -1)
        out.append(np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8))
    return out


def test_optimized_detector_equals_torchvision(tv_model, tv_weights: Path) -> None:
    det = load_detector(tv_weights, optimize=True)
    assert det.optimized
    imgs = _images()
    with torch.no_grad():
        ref = tv_model([torch.from_numpy(im).permute(2, 0, 1).float() / 255.0 for im in imgs])
    batch = det.detect(imgs)
    singles = [det.detect([im])[0] for im in imgs]  # the frozen graph takes any batch size
    for dets in (batch, singles):
        for d, r in zip(dets, ref):
            assert len(d) == len(r["scores"]) > 0
            np.testing.assert_array_equal(d.labels, r["labels"].numpy())
            np.testing.assert_allclose(d.boxes, r["boxes"].numpy(), atol=1e-3, rtol=0)
            # 2e-6: the frozen graph folds BatchNorm into the convolutions, and after a bf16 run in the same
            # process (tests/runtime/test_devices.py first) oneDNN's fp32 kernels gave scores 1.2e-6 apart.
            np.testing.assert_allclose(d.scores, r["scores"].numpy(), atol=2e-6, rtol=0)


def test_optimize_is_a_no_op_outside_cpu_fp32(tv_weights: Path) -> None:
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="fp16"):
            load_detector(tv_weights, precision="fp16", optimize=True)
    det = load_detector(tv_weights, precision="bf16", optimize=True)
    assert not det.optimized  # reduced precision keeps eager autocast
