"""The postprocessing as it was before issue 23, kept unchanged as the reference of the tests.

This is commit 57c3b08's ``core/ssd/postprocess.py`` and ``core/ssd/soft_nms.py`` (one file, the
lazy import between them removed): a global top-k over every (prior, class) score above the
threshold with a per-class rank cut, then same-class greedy NMS solved by Jacobi iteration on a
padded [classes, M, M] IoU tensor; soft-NMS on a padded [classes, M] layout of each class's best
candidates. tests/core/test_postprocess_speed_paths.py checks that the new code gives the same
detections.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


from core.config import NMS_METHODS, PostprocessConfig
from core.ssd.boxes import grouped_self_iou
from core.ssd.matching import BoxCoder

# First global top-k, in multiples of detections_per_img: usually enough for one pass.
_FIRST_K_FACTOR = 2


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
        per image, sorted by descending score, N <= ``cfg.detections_per_img``. NMS runs in the
        (square) network frame, where torchvision runs it.
    """
    thresh = cfg.score_thresh if score_thresh is None else float(score_thresh)
    method = cfg.nms if nms is None else nms
    if method not in NMS_METHODS:
        raise ValueError(f"nms must be one of {NMS_METHODS}, got {method!r}")
    sigma = cfg.soft_sigma if sigma is None else float(sigma)
    if not sigma > 0:
        raise ValueError(f"soft-NMS sigma must be > 0, got {sigma}")
    scores = F.softmax(cls_logits.float(), dim=-1)[..., 1:]  # [B, P, C-1]
    deltas = bbox_regression.float()
    priors = priors.float()
    if method == "hard":
        return [postprocess_per_image(scores[i], deltas[i], priors, coder, cfg, thresh) for i in range(len(scores))]
    return [soft_postprocess_per_image(scores[i], deltas[i], priors, coder, cfg, thresh, method, sigma)
            for i in range(len(scores))]


def postprocess_per_image(scores: Tensor, deltas: Tensor, priors: Tensor, coder: BoxCoder, cfg: PostprocessConfig,
                          thresh: float) -> tuple[Tensor, Tensor, Tensor]:
    """One image.

    Args:
        scores: float [P, C-1] softmax probabilities of the real classes (label = column + 1).
        deltas: float [P, 4] box regression.
        priors: float [P, 4] cxcywh normalised.
        thresh: keep scores strictly above this.

    Returns:
        (boxes [N, 4] x1y1x2y2 normalised, scores [N] descending, labels int64 [N]).
    """
    # Priors whose best class is below the threshold cannot contribute: one reduction skips them,
    # which leaves a short list for the (row, class) search (most priors are background).
    rows = (scores.amax(dim=1) > thresh).nonzero().squeeze(1)
    sub = scores[rows]
    hit_row, hit_cls = (sub > thresh).nonzero(as_tuple=True)
    above_scores = sub[hit_row, hit_cls]
    n_above = above_scores.numel()
    k = min(n_above, max(_FIRST_K_FACTOR * cfg.detections_per_img, 1))
    while True:
        if k == n_above:
            cand_scores, order = above_scores.sort(descending=True)
        else:
            cand_scores, order = above_scores.topk(k)  # descending
        cls = hit_cls[order]
        prior_idx = rows[hit_row[order]]
        boxes = coder.decode(deltas[prior_idx], priors[prior_idx]).clamp_(0.0, 1.0)
        keep = greedy_nms_same_class(boxes, cls, cfg.nms_thresh, cfg.topk_candidates)
        kept = keep.nonzero().squeeze(1)
        if kept.numel() >= cfg.detections_per_img or k >= n_above:
            break
        k = min(n_above, 4 * k)
    kept = kept[: cfg.detections_per_img]
    return boxes[kept], cand_scores[kept], cls[kept] + 1


def greedy_nms_same_class(boxes: Tensor, classes: Tensor, iou_thresh: float,
                          max_per_class: int | None = None) -> Tensor:
    """Greedy NMS where only boxes of the same class suppress each other.

    Args:
        boxes: float [K, 4] x1y1x2y2, sorted by descending score.
        classes: int64 [K], values >= 0.
        iou_thresh: box j is suppressed by a kept better box i of its class when IoU(i, j) > iou_thresh.
        max_per_class: only the first ``max_per_class`` boxes of each class take part (the others
            are dropped, as torchvision's per-class top-k candidates).

    Returns:
        bool [K]: the boxes kept; the same as ``torchvision.ops.batched_nms`` on the same boxes and
        order (the IoU uses the same operations as torchvision's NMS kernel, so the same rounding).
    """
    k = boxes.shape[0]
    dev = boxes.device
    if k == 0:
        return torch.zeros(0, dtype=torch.bool, device=dev)
    # Group by class, keeping score order inside each group: a padded [G, M] layout.
    order = torch.argsort(classes, stable=True)
    cls_sorted = classes[order]
    present, counts = torch.unique_consecutive(cls_sorted, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    group = torch.repeat_interleave(torch.arange(present.numel(), device=dev), counts)
    rank = torch.arange(k, device=dev) - starts[group]
    valid = torch.ones(k, dtype=torch.bool, device=dev)
    if max_per_class is not None:
        valid = rank < max_per_class
        counts = counts.clamp(max=max_per_class)
    m = int(counts.max())
    g = present.numel()
    padded = boxes.new_zeros((g, m, 4))
    slot_valid = torch.zeros((g, m), dtype=torch.bool, device=dev)
    grp, rk, src = group[valid], rank[valid], order[valid]
    padded[grp, rk] = boxes[src]
    slot_valid[grp, rk] = True

    sup = grouped_self_iou(padded) > iou_thresh  # [G, M, M]; padding gives NaN -> False
    sup &= slot_valid[:, :, None] & slot_valid[:, None, :]
    sup = sup.triu_(diagonal=1)  # only a better-scored box (lower index) can suppress
    # keep[j] = no kept i < j suppresses j. The definition only looks at earlier boxes, so it has
    # one solution; Jacobi iteration reaches it after (longest suppression chain + 1) passes, each
    # pass one vectorised sweep, where the sequential loop would be one step per box.
    supf = sup.to(boxes.dtype)
    cur = slot_valid.clone()
    for _ in range(m + 1):
        # A batched matrix product counts the kept suppressors of every box (exact small integers).
        hits = torch.bmm(cur.to(boxes.dtype)[:, None, :], supf).squeeze(1)
        nxt = slot_valid & (hits == 0)
        if torch.equal(nxt, cur):
            break
        cur = nxt
    keep = torch.zeros(k, dtype=torch.bool, device=dev)
    keep[src] = cur[grp, rk]
    return keep




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
