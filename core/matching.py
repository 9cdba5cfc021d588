"""Matching default boxes to ground truth, and the box coder.

The matcher follows section 2.2 of the paper (and torchvision's SSDMatcher): each prior is
matched to the ground truth of highest IoU if that IoU >= the threshold, and each ground
truth is also forced onto its single best prior. Everything is vectorised over a padded
batch: no Python loop over images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from core.boxes import batched_box_iou, cxcywh_to_xyxy
from core.config import MatcherConfig

# torchvision's BoxCoder clamps dw/dh before exp() so a wild regression cannot overflow.
BBOX_XFORM_CLIP = math.log(1000.0 / 16)


class BoxCoder:
    """Encodes matched boxes against priors and decodes regressions, with the Caffe "variances".

    delta = ((cx - pcx) / (v0 * pw), (cy - pcy) / (v0 * ph), log(w / pw) / v1, log(h / ph) / v1),
    i.e. torchvision's BoxCoder with weights (10, 10, 5, 5) for variances (0.1, 0.2).
    """

    def __init__(self, variances: tuple[float, float] = (0.1, 0.2)) -> None:
        self.variances = (float(variances[0]), float(variances[1]))

    def encode(self, boxes: Tensor, priors: Tensor) -> Tensor:
        """boxes (Tensor[..., P, 4]) x1y1x2y2, priors (Tensor[P, 4]) cxcywh, same units -> deltas Tensor[..., P, 4]."""
        wh = boxes[..., 2:] - boxes[..., :2]
        c = boxes[..., :2] + 0.5 * wh
        # Division by the weights 10 and 5 (not multiplication by 0.1, 0.2) keeps torchvision's exact rounding.
        w0, w1 = 1.0 / self.variances[0], 1.0 / self.variances[1]
        d_c = w0 * (c - priors[:, :2]) / priors[:, 2:]
        d_wh = w1 * torch.log(wh / priors[:, 2:])
        return torch.cat((d_c, d_wh), dim=-1)

    def decode(self, deltas: Tensor, priors: Tensor) -> Tensor:
        """deltas (Tensor[..., P, 4]), priors (Tensor[P, 4]) cxcywh -> boxes Tensor[..., P, 4] x1y1x2y2 in the priors' units."""
        priors = priors.to(deltas.dtype)
        w0, w1 = 1.0 / self.variances[0], 1.0 / self.variances[1]
        d_c = deltas[..., :2] / w0
        d_wh = (deltas[..., 2:] / w1).clamp(max=BBOX_XFORM_CLIP)
        c = d_c * priors[:, 2:] + priors[:, :2]
        wh = torch.exp(d_wh) * priors[:, 2:]
        half = 0.5 * wh
        return torch.cat((c - half, c + half), dim=-1)


@dataclass(frozen=True)
class MatchResult:
    """Per-prior training targets for a batch.

    Attributes:
        labels: int64 [B, P]; 0 = background, otherwise the matched object's class.
        boxes: float [B, P, 4] x1y1x2y2 (normalised), the matched ground truth (garbage where labels == 0).
        matched_idxs: int64 [B, P]; index of the matched ground truth in the padded target, -1 for background.
    """

    labels: Tensor
    boxes: Tensor
    matched_idxs: Tensor


class Matcher:
    """Assigns ground truth to priors (see module docstring)."""

    def __init__(self, cfg: MatcherConfig = MatcherConfig()) -> None:
        self.iou_threshold = cfg.iou_threshold

    def __call__(self, gt_boxes: Tensor, gt_labels: Tensor, priors_xyxy: Tensor) -> MatchResult:
        """Match a padded batch.

        Args:
            gt_boxes: float [B, M, 4] x1y1x2y2, same units as the priors; rows with label 0 are padding.
            gt_labels: int64 [B, M]; 0 marks padding.
            priors_xyxy: float [P, 4] x1y1x2y2.

        Returns:
            MatchResult. Images without objects get all-background targets.
        """
        b, m = gt_labels.shape
        p = priors_xyxy.shape[0]
        if m == 0:
            z = torch.zeros((b, p), dtype=torch.int64, device=gt_labels.device)
            return MatchResult(z, gt_boxes.new_zeros((b, p, 4)), z - 1)
        valid = gt_labels > 0  # [B, M]
        # Padding rows become empty boxes, whose IoU with every prior is 0: they can never reach
        # the threshold, and they are left out of the forced matches below.
        iou = batched_box_iou(gt_boxes * valid[..., None], priors_xyxy)  # [B, M, P]
        best_iou, best_gt = iou.max(dim=1)  # per prior: [B, P]
        matched = torch.where(best_iou >= self.iou_threshold, best_gt, torch.full_like(best_gt, -1))
        # Force each real ground truth onto its best prior. Padding rows scatter into an extra
        # column that is dropped. With two objects sharing a best prior, the later one wins,
        # as in torchvision's SSDMatcher and ssd.pytorch's loop.
        best_prior = iou.argmax(dim=2)  # [B, M]
        best_prior = torch.where(valid, best_prior, torch.full_like(best_prior, p))
        forced = torch.full((b, p + 1), -1, dtype=torch.int64, device=gt_labels.device)
        src = torch.arange(m, device=gt_labels.device).expand(b, m)
        forced.scatter_(1, best_prior, src)
        forced = forced[:, :p]
        matched = torch.where(forced >= 0, forced, matched)
        safe = matched.clamp(min=0)
        labels = torch.gather(gt_labels, 1, safe) * (matched >= 0)
        boxes = torch.gather(gt_boxes, 1, safe[..., None].expand(-1, -1, 4))
        return MatchResult(labels, boxes, matched)


def build_targets(matcher: Matcher, coder: BoxCoder, gt_boxes: Tensor, gt_labels: Tensor,
                  priors_cxcywh: Tensor) -> tuple[Tensor, Tensor]:
    """Match and encode a padded batch.

    Returns:
        labels int64 [B, P] (0 = background) and regression targets float [B, P, 4]
        (valid where labels > 0; background rows hold finite dummies).
    """
    priors_xyxy = cxcywh_to_xyxy(priors_cxcywh)
    res = matcher(gt_boxes, gt_labels, priors_xyxy)
    img, prior = (res.labels > 0).nonzero(as_tuple=True)
    # Only positives are encoded (a few hundred of B * P); background rows stay 0, never log(0).
    deltas = gt_boxes.new_zeros(res.boxes.shape)
    deltas[img, prior] = coder.encode(res.boxes[img, prior], priors_cxcywh[prior])
    return res.labels, deltas
