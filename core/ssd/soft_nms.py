"""Soft-NMS (Bodla, Singh, Chellappa and Davis, "Soft-NMS -- Improving Object Detection With One Line
of Code", ICCV 2017), the postprocessing behind ``postprocess(..., nms="soft-linear" | "soft-gaussian")``.

Per class, repeatedly: take the box M with the highest current score, keep it, and multiply the score
of every other remaining box b of the class by

    linear:    1 - IoU(M, b)  where IoU(M, b) >= N_t, else 1      (N_t = ``nms_thresh``)
    gaussian:  exp(-IoU^2(M, b) / sigma)

Boxes are never removed by overlap; a box whose score falls to the threshold or below is dropped
(it could only fall further, and every box it would still decay scores no higher than it).
All classes of an image advance together: one step takes the best remaining box of every class.
Once ``detections_per_img`` boxes are kept, a box scoring below the worst of the best
``detections_per_img`` kept ones is dropped for the same reason: neither it nor any box it would
decay can reach the result any more.
"""
from __future__ import annotations

import torch
from torch import Tensor

from core.config import PostprocessConfig
from core.ssd.candidates import class_candidates
from core.ssd.matching import BoxCoder


def soft_nms_padded(boxes: Tensor, scores: Tensor, valid: Tensor, method: str, iou_thresh: float, sigma: float,
                    score_thresh: float, max_out: int | None = None) -> tuple[Tensor, Tensor]:
    """Soft-NMS on G independent groups (classes) at once.

    Args:
        boxes: float [G, M, 4] x1y1x2y2; scores: float [G, M]; valid: bool [G, M] (False: padding).
        method: "soft-linear" or "soft-gaussian".
        iou_thresh: N_t of the linear decay; sigma: the Gaussian's parameter.
        score_thresh: boxes whose (decayed) score is not above it are dropped.
        max_out: when given, only the best ``max_out`` kept boxes over all groups are wanted: boxes
            that can no longer be among them are dropped early (the best ``max_out`` are unchanged).

    Returns:
        (decayed scores float [G, M], kept bool [G, M]); a kept box's score is its score when it was taken.
    """
    g, m = scores.shape
    if g == 0 or m == 0:
        return scores.clone(), torch.zeros_like(valid)
    x1, y1, x2, y2 = boxes.unbind(-1)  # [G, M] each
    area = (x2 - x1) * (y2 - y1)
    s = scores.clone()
    active = valid & (s > score_thresh)
    kept = torch.zeros_like(valid)
    groups = torch.arange(g, device=boxes.device)
    n_kept = 0
    while bool(active.any()):
        best = s.masked_fill(~active, float("-inf")).argmax(dim=1)  # first of equal maxima, as a plain loop
        took = active[groups, best]
        kept[groups[took], best[took]] = True
        active[groups, best] = False
        ov = _overlap_with(best, x1, y1, x2, y2, area)
        if method == "soft-linear":
            decay = torch.where(ov >= iou_thresh, 1.0 - ov, torch.ones_like(ov))
        else:
            decay = torch.exp(-(ov * ov) / sigma)
        s = torch.where(active & took[:, None], s * decay, s)
        active &= s > score_thresh
        n_kept += int(took.sum())
        if max_out is not None and n_kept >= max_out:
            worst_wanted = s[kept].topk(max_out).values[-1]
            active &= s >= worst_wanted
    return s, kept


def _overlap_with(best: Tensor, x1: Tensor, y1: Tensor, x2: Tensor, y2: Tensor, area: Tensor) -> Tensor:
    """IoU [G, M] of each group's box ``best[g]`` with every box of its group (coordinates [G, M]); 0 where
    the union is empty. The operations of torchvision's NMS kernel, in its order."""
    rows = torch.arange(best.numel(), device=best.device)
    bx1, by1, bx2, by2, barea = (t[rows, best][:, None] for t in (x1, y1, x2, y2, area))
    w = (torch.minimum(bx2, x2) - torch.maximum(bx1, x1)).clamp_(min=0)
    h = (torch.minimum(by2, y2) - torch.maximum(by1, y1)).clamp_(min=0)
    inter = w.mul_(h)
    return (inter / (barea + area - inter)).nan_to_num_(0.0)  # a degenerate or padding box overlaps nothing


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
        the candidates are each class's ``cfg.topk_candidates`` best scores above ``thresh`` (equal
        scores in prior order), and N <= ``cfg.detections_per_img``.
    """
    columns, prior, cand, valid = class_candidates(scores, thresh, cfg.topk_candidates)
    g, m = prior.shape
    flat = prior.reshape(-1)
    boxes = coder.decode(deltas[flat], priors[flat]).clamp_(0.0, 1.0).view(g, m, 4)
    final, kept = soft_nms_padded(boxes, cand, valid, method, cfg.nms_thresh, sigma, thresh,
                                  cfg.detections_per_img)
    gi, ri = kept.nonzero(as_tuple=True)
    out_scores = final[gi, ri]
    top = out_scores.argsort(descending=True, stable=True)[: cfg.detections_per_img]
    return boxes[gi, ri][top], out_scores[top], columns[gi][top] + 1
