"""Soft-NMS (Bodla et al. 2017) in core.ssd.postprocess equals a plain per-class loop written from the paper."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.config import PostprocessConfig
from core.detector import DEMO_WEIGHTS
from core.resolve import load_detector
from core.ssd.matching import BoxCoder
from core.ssd.postprocess import postprocess


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box a [4] with boxes b [N, 4] (x1y1x2y2); 0 where the union is empty."""
    w = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def paper_soft_nms(scores: np.ndarray, boxes: np.ndarray, cfg: PostprocessConfig, method: str, sigma: float):
    """Algorithm 1 of the paper, per class, on each class's ``topk_candidates`` best scores above the threshold;
    then the threshold and ``detections_per_img`` on the decayed scores. scores [P, C-1], boxes [P, 4] float64."""
    out = []
    for c in range(scores.shape[1]):
        idx = [p for p in np.argsort(-scores[:, c], kind="stable") if scores[p, c] > cfg.score_thresh]
        idx = idx[: cfg.topk_candidates]
        b, s = boxes[idx].copy(), scores[idx, c].copy()
        while len(s):
            m = int(np.argmax(s))  # the first of equal maxima
            out.append((s[m], c + 1, b[m]))
            bm = b[m]
            b, s = np.delete(b, m, 0), np.delete(s, m)
            ov = _iou(bm, b)
            if method == "soft-linear":
                s = s * np.where(ov >= cfg.nms_thresh, 1.0 - ov, 1.0)
            else:
                s = s * np.exp(-(ov ** 2) / sigma)
    out = [d for d in out if d[0] > cfg.score_thresh]
    out.sort(key=lambda d: -d[0])
    return out[: cfg.detections_per_img]


def _check(logits: torch.Tensor, deltas: torch.Tensor, priors: torch.Tensor, cfg: PostprocessConfig,
           method: str, sigma: float = 0.5) -> int:
    coder = BoxCoder()
    [(boxes, scores, labels)] = postprocess(logits[None], deltas[None], priors, coder, cfg, nms=method, sigma=sigma)
    probs = F.softmax(logits.float(), dim=-1)[:, 1:].double().numpy()
    decoded = coder.decode(deltas.float(), priors.float()).clamp(0, 1).double().numpy()
    ref = paper_soft_nms(probs, decoded, cfg, method, sigma)
    assert len(ref) == len(scores) > 0
    np.testing.assert_array_equal(labels.numpy(), [d[1] for d in ref])
    np.testing.assert_allclose(scores.numpy(), [d[0] for d in ref], atol=1e-6, rtol=0)
    np.testing.assert_allclose(boxes.numpy(), np.stack([d[2] for d in ref]), atol=1e-6, rtol=0)
    return len(ref)


def _clustered(seed: int, p: int = 300, c: int = 6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random logits, offsets and priors clustered around a few centres, so that boxes overlap a lot."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(5, 2, generator=g) * 0.6 + 0.2
    cxcy = centres[torch.randint(0, 5, (p,), generator=g)] + 0.05 * torch.randn(p, 2, generator=g)
    wh = 0.1 + 0.3 * torch.rand(p, 2, generator=g)
    priors = torch.cat([cxcy, wh], 1)
    return 2.0 * torch.randn(p, c, generator=g), 0.5 * torch.randn(p, 4, generator=g), priors


@pytest.mark.parametrize("method", ["soft-linear", "soft-gaussian"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_soft_nms_equals_the_paper_on_random_detections(method: str, seed: int) -> None:
    logits, deltas, priors = _clustered(seed)
    cfg = PostprocessConfig(score_thresh=0.05, nms_thresh=0.3, topk_candidates=40, detections_per_img=60)
    _check(logits, deltas, priors, cfg, method, sigma=0.5)
    # A wider Gaussian and no cap at all: every candidate of every class takes part.
    _check(logits, deltas, priors, PostprocessConfig(score_thresh=0.02, topk_candidates=1000,
                                                     detections_per_img=2000), method, sigma=1.3)


def test_soft_nms_equals_the_paper_on_the_demo_model() -> None:
    from core.data.synthetic import render_scene

    det = load_detector(DEMO_WEIGHTS)
    image = render_scene(seed=2024, index=3, size=(300, 300))[0]
    with torch.no_grad():
        logits, deltas = det.forward(det.preprocess([image]))
    cfg = det.config.postprocess
    for method in ("soft-linear", "soft-gaussian"):
        n = _check(logits[0], deltas[0], det._priors, cfg, method)
        assert n > 5
    # Soft-NMS keeps what hard NMS keeps, with the same scores for each class's best box,
    # and more boxes (decayed, not removed).
    hard = det.detect([image])[0]
    soft = det.detect([image], nms="soft-gaussian")[0]
    assert len(soft) > len(hard)
    assert soft.scores[0] == pytest.approx(hard.scores[0]) and soft.labels[0] == hard.labels[0]


def test_soft_nms_options_are_checked() -> None:
    logits, deltas, priors = _clustered(0)
    with pytest.raises(ValueError, match="nms must be one of"):
        postprocess(logits[None], deltas[None], priors, BoxCoder(), PostprocessConfig(), nms="soft")
    with pytest.raises(ValueError, match="sigma must be > 0"):
        postprocess(logits[None], deltas[None], priors, BoxCoder(), PostprocessConfig(), nms="soft-gaussian", sigma=0)
    with pytest.raises(ValueError, match="PostprocessConfig.nms"):
        PostprocessConfig(nms="greedy")
    # No candidate above the threshold: an empty result of the right types.
    [(b, s, l)] = postprocess(logits[None], deltas[None], priors, BoxCoder(), PostprocessConfig(score_thresh=0.999),
                              nms="soft-linear")
    assert b.shape == (0, 4) and s.shape == (0,) and l.dtype == torch.int64
    assert math.isfinite(float(s.sum()))
