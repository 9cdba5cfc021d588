"""Soft-NMS (Bodla, Singh, Chellappa and Davis, "Soft-NMS -- Improving Object Detection With One Line
of Code", ICCV 2017), the postprocessing behind ``postprocess(..., nms="soft-linear" | "soft-gaussian")``.

Per class, repeatedly: take the box M with the highest current score, keep it, and multiply the score
of every other remaining box b of the class by

    linear:    1 - IoU(M, b)  where IoU(M, b) >= N_t, else 1      (N_t = ``nms_thresh``)
    gaussian:  exp(-IoU(M, b)^2 / sigma)

Boxes are never removed by overlap; a box whose score falls to the threshold or below is dropped
(it could only fall further, and every box it would still decay scores no higher than it).
All classes of an image advance together: one step takes the best remaining box of every class.
"""
from __future__ import annotations

import torch
from torch import Tensor

from core.config import PostprocessConfig
from core.ssd.matching import BoxCoder
from core.ssd.boxes import grouped_self_iou


def soft_nms_padded(boxes: Tensor, scores: Tensor, valid: Tensor, method: str, iou_thresh: float, sigma: float,
                    score_thresh: float) -> tuple[Tensor, Tensor]:
    """Soft-NMS on G independent groups (classes) at once.

    Args:
        boxes: float [G, M, 4] x1y1x2y2; scores: float [G, M]; valid: bool [G, M] (False: padding).
        method: "soft-linear" or "soft-gaussian".
        iou_thresh: N_t of the linear decay; sigma: the Gaussian's parameter.
        score_thresh: boxes whose (decayed) score is not above it are dropped.

    Returns:
        (decayed scores float [G, M], kept bool [G, M]); a kept box's score is its score when it was taken.
    """
    g = boxes.shape[0]
    if g == 0 or boxes.shape[1] == 0:
        return scores.clone(), torch.zeros_like(valid)
    iou = grouped_self_iou(boxes).nan_to_num_(0.0)  # a degenerate or padding box overlaps nothing
    s = scores.clone()
    active = valid & (s > score_thresh)
    kept = torch.zeros_like(valid)
    groups = torch.arange(g, device=boxes.device)
    while bool(active.any()):
        best = s.masked_fill(~active, float("-inf")).argmax(dim=1)  # first of equal maxima, as a plain loop
        took = active[groups, best]
        kept[groups[took], best[took]] = True
        active[groups, best] = False
        ov = iou[groups, best]  # [G, M]: overlap of every box with its class's taken box
        if method == "soft-linear":
            decay = torch.where(ov >= iou_thresh, 1.0 - ov, torch.ones_like(ov))
        else:
            decay = torch.exp(-(ov * ov) / sigma)
        s = torch.where(active & took[:, None], s * decay, s)
        active &= s > score_thresh
    return s, kept


def soft_postprocess_per_image(scores: Tensor, deltas: Tensor, priors: Tensor, coder: BoxCoder,
                               cfg: PostprocessConfig, thresh: float, method: str, sigma: float
                               ) -> tuple[Tensor, Tensor, Tensor]:
    """One image with soft-NMS.

    Args:
        scores: float [P, C-1] softmax probabilities of the real classes (label = column + 1).
        deltas: float [P, 4] box regression; priors: float [P, 4] cxcywh normalised.
        thresh: candidates and results keep scores strictly above it.

    Returns:
        (boxes [N, 4] x1y1x2y2 normalised, decayed scores [N] descending, labels int64 [N]);
        the candidates are each class's ``cfg.topk_candidates`` best scores above ``thresh``, and
        N <= ``cfg.detections_per_img``.
    """
    rows = (scores.amax(dim=1) > thresh).nonzero().squeeze(1)
    sub = scores[rows]
    hit_row, hit_cls = (sub > thresh).nonzero(as_tuple=True)
    cand = sub[hit_row, hit_cls]
    # Group by class, best first inside each group (two stable sorts), then cut each group at top-k.
    order = cand.argsort(descending=True, stable=True)
    order = order[hit_cls[order].argsort(stable=True)]
    present, counts = torch.unique_consecutive(hit_cls[order], return_counts=True)
    group = torch.repeat_interleave(torch.arange(present.numel(), device=scores.device), counts)
    rank = torch.arange(order.numel(), device=scores.device) - (torch.cumsum(counts, 0) - counts)[group]
    keep = rank < cfg.topk_candidates
    order, group, rank = order[keep], group[keep], rank[keep]
    m = int(rank.max()) + 1 if rank.numel() else 0
    prior_idx = rows[hit_row[order]]
    boxes = coder.decode(deltas[prior_idx], priors[prior_idx]).clamp_(0.0, 1.0)
    padded = boxes.new_zeros((present.numel(), m, 4))
    padded_scores = boxes.new_zeros((present.numel(), m))
    valid = torch.zeros((present.numel(), m), dtype=torch.bool, device=scores.device)
    padded[group, rank] = boxes
    padded_scores[group, rank] = cand[order]
    valid[group, rank] = True
    final, kept = soft_nms_padded(padded, padded_scores, valid, method, cfg.nms_thresh, sigma, thresh)
    gi, ri = kept.nonzero(as_tuple=True)
    out_scores = final[gi, ri]
    top = out_scores.argsort(descending=True, stable=True)[: cfg.detections_per_img]
    return padded[gi, ri][top], out_scores[top], present[gi][top] + 1
