"""Class scores and offsets to final boxes, as torchvision's SSD, without a per-class Python loop.

Per image: softmax; decode and clip boxes; for every class keep scores > ``score_thresh`` and
at most ``topk_candidates`` of them; one ``torchvision.ops.batched_nms`` call over every class
of every image in the batch; keep the best ``detections_per_img`` per image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import batched_nms

from core.config import PostprocessConfig
from core.matching import BoxCoder


def postprocess(cls_logits: Tensor, bbox_regression: Tensor, priors: Tensor, coder: BoxCoder,
                cfg: PostprocessConfig, score_thresh: float | None = None) -> list[tuple[Tensor, Tensor, Tensor]]:
    """
    Args:
        cls_logits: float [B, P, C] (class 0 is background).
        bbox_regression: float [B, P, 4].
        priors: float [P, 4] cxcywh normalised.
        score_thresh: overrides ``cfg.score_thresh`` when given.

    Returns:
        One (boxes [N, 4] x1y1x2y2 normalised to [0, 1] of the network input, scores [N], labels int64 [N])
        per image, sorted by descending score. NMS runs in the (square) network frame, where
        torchvision runs it, so IoUs are the same as torchvision's.
    """
    thresh = cfg.score_thresh if score_thresh is None else float(score_thresh)
    b, p, c = cls_logits.shape
    scores = F.softmax(cls_logits.float(), dim=-1)[..., 1:]  # [B, P, C-1]
    boxes = coder.decode(bbox_regression.float(), priors.float()).clamp_(0.0, 1.0)  # [B, P, 4]

    k = min(cfg.topk_candidates, p)
    cand_scores, cand_idx = scores.transpose(1, 2).topk(k, dim=2)  # [B, C-1, k]
    keep = cand_scores > thresh
    img_idx, cls_idx, _ = keep.nonzero(as_tuple=True)
    prior_idx = cand_idx[keep]
    flat_scores = cand_scores[keep]
    flat_boxes = boxes[img_idx, prior_idx]
    labels = cls_idx + 1
    # One NMS for the whole batch: a (image, class) pair is a group of its own.
    kept = batched_nms(flat_boxes, flat_scores, img_idx * c + labels, cfg.nms_thresh)  # sorted by score
    kept_img = img_idx[kept]
    results: list[tuple[Tensor, Tensor, Tensor]] = []
    if b == 1:
        sel = [kept[: cfg.detections_per_img]]
    else:
        order = torch.argsort(kept_img, stable=True)  # groups by image, keeps score order inside
        kept, kept_img = kept[order], kept_img[order]
        counts = torch.bincount(kept_img, minlength=b).tolist()
        sel = [part[: cfg.detections_per_img] for part in torch.split(kept, counts)]
    for s in sel:
        results.append((flat_boxes[s], flat_scores[s], labels[s]))
    return results
