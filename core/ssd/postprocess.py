"""Class scores and offsets to final boxes: torchvision's SSD postprocessing, at the network's scale.

torchvision's ``postprocess_detections`` decodes every box, then loops over the classes in Python:
for each class it keeps the scores > ``score_thresh``, the best ``topk_candidates`` of them, and
then runs NMS per class before keeping the best ``detections_per_img``. At SSDlite320's threshold
(0.001) that is 90 classes x 300 candidates, 27,000 boxes, of which the best 300 survivors are
returned. Here, per image, in one order over all classes (detection order: descending score; equal
scores by class, then prior; see core.ssd.candidates):

1. take the first ``k`` (prior, class) entries above the threshold, at most ``topk_candidates`` per
   class (core.ssd.candidates);
2. decode only those boxes and run greedy NMS restricted to same-class pairs (core.ssd.nms);
3. if fewer than ``detections_per_img`` survive and candidates were left out, grow ``k`` and repeat.

Greedy NMS decides a box from the better boxes of its class only, so the survivors among the first
``k`` are torchvision's survivors, and their first ``detections_per_img`` are torchvision's output
(for distinct scores; equal scores come in detection order, where torchvision's order among them is
whatever its ``topk`` and ``sort`` give).

The softmax and the row maxima run in torch on the logits' device; the rest works on the CPU, on
a few hundred entries per image, in NumPy (torch's per-call cost would dominate; boxes are decoded
with torch's exp, for its bits). :func:`postprocess` returns CPU tensors, :func:`postprocess_arrays`
(what the detector calls) NumPy arrays.

Soft-NMS (Bodla et al., 2017; ``nms="soft-linear"`` or ``"soft-gaussian"``) decays scores instead of
removing boxes, so no survivor can be decided from the global first ``k``: see core.ssd.soft_nms.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from core.config import NMS_METHODS, PostprocessConfig
from core.ssd.candidates import Candidates
from core.ssd.matching import BoxCoder
from core.ssd.nms import greedy_nms_same_class, nms_same_class_np
from core.ssd.soft_nms import soft_postprocess_per_image

__all__ = ["postprocess", "postprocess_arrays", "greedy_nms_same_class"]

#: First k, in multiples of detections_per_img: enough for one pass unless NMS removes over half.
_FIRST_K_FACTOR = 2


def _next_k(k: int, kept: int, wanted: int) -> int:
    """The next round's number of candidates when the first ``k`` left ``kept`` (< ``wanted``) after NMS: as
    many more as the missing survivors need at this round's rate of survival, with a quarter to spare, and
    at least half as many again (a handful of rounds whatever the rate). Any k > the current one gives the same
    result; this one only decides how much work the next round does."""
    rate = max(kept, 1) / k
    return k + max(k // 2, math.ceil(1.25 * (wanted - kept) / rate))


def postprocess(cls_logits: Tensor, bbox_regression: Tensor, priors: Tensor, coder: BoxCoder,
                cfg: PostprocessConfig, score_thresh: float | None = None, nms: str | None = None,
                sigma: float | None = None) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Final detections for a batch.

    Args:
        cls_logits: float [B, P, C] (class 0 is background).
        bbox_regression: float [B, P, 4].
        priors: float [P, 4] cxcywh normalised.
        score_thresh: overrides ``cfg.score_thresh`` when given.
        nms: "hard", "soft-linear" or "soft-gaussian"; overrides ``cfg.nms`` when given. Soft-linear
            decays by ``1 - IoU`` where IoU >= ``cfg.nms_thresh``; soft-gaussian by ``exp(-IoU^2 / sigma)``.
        sigma: the Gaussian's parameter; overrides ``cfg.soft_sigma`` (0.5) when given.

    Returns:
        One (boxes [N, 4] x1y1x2y2 normalised to [0, 1] of the network input, scores [N], labels int64 [N])
        per image, CPU tensors sorted by descending score, N <= ``cfg.detections_per_img``. NMS runs in
        the (square) network frame, where torchvision runs it.
    """
    return [tuple(torch.from_numpy(a) for a in found)  # type: ignore[misc]
            for found in postprocess_arrays(cls_logits, bbox_regression, priors, coder, cfg, score_thresh, nms, sigma)]


def postprocess_arrays(cls_logits: Tensor, bbox_regression: Tensor, priors: Tensor, coder: BoxCoder,
                       cfg: PostprocessConfig, score_thresh: float | None = None, nms: str | None = None,
                       sigma: float | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`postprocess` with NumPy arrays out: (boxes float32 [N, 4], scores float32 [N], labels int64 [N]).

    Right after a forward pass the processor's caches hold the network's code, not this one's: the first
    call of each torch or NumPy operation then costs tens of microseconds. So on the CPU the head outputs
    are read as NumPy views (no ``.float()``, ``.cpu()`` or slicing in torch when they are float32 CPU
    tensors already) and the softmax, the row maxima and the exp of the box decoding are the only torch operations.
    """
    thresh = cfg.score_thresh if score_thresh is None else float(score_thresh)
    method = cfg.nms if nms is None else nms
    if method not in NMS_METHODS:
        raise ValueError(f"nms must be one of {NMS_METHODS}, got {method!r}")
    sigma = cfg.soft_sigma if sigma is None else float(sigma)
    if not sigma > 0:
        raise ValueError(f"soft-NMS sigma must be > 0, got {sigma}")
    # torchvision's softmax on the same logits: the same scores to the last bit.
    full = (cls_logits if cls_logits.dtype == torch.float32 else cls_logits.float()).softmax(-1)  # [B, P, C]
    if full.requires_grad:
        full = full.detach()
    if method != "hard":
        scores_t = full[..., 1:].cpu()
        deltas_t, priors_t = (torch.from_numpy(float32_numpy(t)) for t in (bbox_regression, priors))
        return [tuple(t.numpy() for t in soft_postprocess_per_image(  # type: ignore[misc]
                    scores_t[i], deltas_t[i], priors_t, coder, cfg, thresh, method, sigma)) for i in range(len(full))]
    if full.device.type == "cpu":
        scores = full.numpy()[..., 1:]  # [B, P, C-1]: a view
        rowmax = torch.from_numpy(scores).amax(-1).numpy() if scores.shape[-1] else None  # torch's max of the same
    else:
        on_device = full[..., 1:]
        rowmax = on_device.amax(-1).cpu().numpy() if on_device.shape[-1] else None
        scores = on_device.cpu().numpy()
    deltas, priors_np = float32_numpy(bbox_regression), float32_numpy(priors)
    return [_hard_per_image(scores[i], deltas[i], priors_np, coder, cfg, thresh, None if rowmax is None else rowmax[i])
            for i in range(len(scores))]


def float32_numpy(t: Tensor) -> np.ndarray:
    """``t.detach().to("cpu", torch.float32).numpy()`` through only the conversions ``t`` needs (a float32 CPU
    tensor needs none: each torch call skipped is one less to fetch into the caches around the network)."""
    if t.requires_grad:
        t = t.detach()
    if t.dtype != torch.float32 or t.device.type != "cpu":
        t = t.to("cpu", torch.float32)
    return t.numpy()


def _hard_per_image(s: np.ndarray, d: np.ndarray, p: np.ndarray, coder: BoxCoder, cfg: PostprocessConfig,
                    thresh: float, m: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image with greedy NMS.

    Args:
        s: float32 [P, C-1] softmax probabilities of the real classes (label = column + 1); any strides.
        d: float32 [P, 4] box regression.
        p: float32 [P, 4] priors, cxcywh normalised.
        thresh: keep scores strictly above this.
        m: float32 [P], ``s.max(1)`` when the caller has it.

    Returns:
        (boxes float32 [N, 4] x1y1x2y2 normalised, scores float32 [N] in detection order, labels int64 [N]).
    """
    if s.shape[1] == 0:  # a model with no class but the background
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    candidates = Candidates(s, thresh, cfg.topk_candidates, m)
    k = max(_FIRST_K_FACTOR * cfg.detections_per_img, 1)
    prior_idx, cls, cand_scores, complete = candidates.first(k)
    shared = candidates.shared_priors()
    if shared is not None:
        found = _repeated_sequence(shared, d, p, coder, cfg)
        if found is not None:
            return found
    memo: dict[bytes, np.ndarray] = {}  # a class's kernel NMS by its prior sequence, across the rounds
    done: np.ndarray | None = None  # the priors of the boxes decoded so far, in candidate order
    boxes = np.zeros((0, 4), np.float32)
    while True:
        if done is not None:
            prior_idx, cls, cand_scores, complete = candidates.first(k)
        # A larger k lists the same first candidates again (detection order is total): only the new ones are decoded.
        start = done.size if done is not None and np.array_equal(prior_idx[:done.size], done) else 0
        new = prior_idx[start:]
        boxes = np.concatenate((boxes[:start], _decoded(coder, d, p, new)))
        done = prior_idx
        kept = np.flatnonzero(nms_same_class_np(boxes, cls, cfg.nms_thresh, box_ids=prior_idx, memo=memo))
        if kept.size >= cfg.detections_per_img or complete:
            break
        k = _next_k(k, kept.size, cfg.detections_per_img)
    kept = kept[: cfg.detections_per_img]
    return boxes[kept], cand_scores[kept], cls[kept] + 1


def _decoded(coder: BoxCoder, deltas: np.ndarray, priors: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """float32 [K, 4]: the boxes of priors ``idx`` in [0, 1], the same bits as ``coder.decode(...).clamp_(0, 1)``
    in torch (a NaN stays NaN, as clamp keeps it)."""
    return coder.decode_np(deltas, priors, idx, clip01=True)


def _repeated_sequence(shared: tuple[np.ndarray, np.floating, int, bool], deltas: np.ndarray, priors: np.ndarray,
                       coder: BoxCoder, cfg: PostprocessConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The detections when every class's candidates are the same priors with one score (``shared``, from
    Candidates.shared_priors): each class keeps the same boxes of that sequence, so NMS runs once and its
    survivors repeat class after class (detection order: equal scores by class, then prior). None when the
    region's classes hold too few survivors and candidates outside it remain (the general rounds decide)."""
    rows, value, classes, complete = shared
    boxes = _decoded(coder, deltas, priors, rows)
    kept = np.flatnonzero(nms_same_class_np(boxes, np.zeros(rows.size, np.int64), cfg.nms_thresh))
    available = kept.size * classes
    if available < cfg.detections_per_img and not complete:
        return None
    n = min(available, cfg.detections_per_img)
    used = -(-n // max(kept.size, 1))  # classes with survivors among the first n
    out_boxes = np.tile(boxes[kept], (used, 1))[:n]
    labels = np.repeat(np.arange(1, used + 1, dtype=np.int64), kept.size)[:n]
    return out_boxes, np.full(n, value, np.float32), labels
