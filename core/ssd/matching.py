"""Matching default boxes to ground truth, and the box coder.

The matcher follows section 2.2 of the paper (and torchvision's SSDMatcher): each prior is
matched to the ground truth of highest IoU if that IoU >= the threshold, and each ground
truth is also forced onto its single best prior. The IoU work runs once over the objects of the
whole batch; only the per-prior reduction steps through the images, one tensor operation each.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from core.ssd.boxes import batched_box_iou, cxcywh_to_xyxy
from core.ssd.kernels import decode_boxes, decode_wh
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

    def decode_np(self, deltas: np.ndarray, priors: np.ndarray, rows: np.ndarray | None = None,
                  clip01: bool = False) -> np.ndarray:
        """:meth:`decode` for a few hundred boxes on the CPU, the same bits: deltas float32 [P, 4], priors
        float32 [P, 4] cxcywh (one prior per row), rows int64 [K] (None: all P) -> boxes float32 [K, 4]
        x1y1x2y2 of those rows, clamped to [0, 1] with ``clip01`` (as ``.clamp_(0, 1)``: NaN stays NaN).

        Two compiled loops (core.ssd.kernels) around torch's ``exp`` (the vectorised kernel :meth:`decode`
        runs, whose last bit NumPy's own ``exp`` may not give): three calls instead of a dozen, each
        costing microseconds of dispatch.
        """
        rows = np.arange(deltas.shape[0], dtype=np.int64) if rows is None else rows
        w0 = np.float32(1.0 / self.variances[0])
        w1 = np.float32(1.0 / self.variances[1])
        exp_wh = torch.exp(torch.from_numpy(decode_wh(deltas, rows, w1, np.float32(BBOX_XFORM_CLIP)))).numpy()
        return decode_boxes(deltas, priors, rows, exp_wh, w0, clip01)


@dataclass(frozen=True)
class MatchResult:
    """Per-prior training targets for a batch.

    Attributes:
        labels: int64 [B, P]; 0 = background, otherwise the matched object's class.
        matched_idxs: int64 [B, P]; index of the matched ground truth in the padded target, -1 for background.
        gt_boxes: float [B, M, 4] x1y1x2y2, the padded ground truth that ``matched_idxs`` points into.
    """

    labels: Tensor
    matched_idxs: Tensor
    gt_boxes: Tensor

    @property
    def boxes(self) -> Tensor:
        """float [B, P, 4] x1y1x2y2: each prior's matched ground truth (garbage where labels == 0)."""
        b, p = self.matched_idxs.shape
        if self.gt_boxes.shape[1] == 0:
            return self.gt_boxes.new_zeros((b, p, 4))
        safe = self.matched_idxs.clamp(min=0)
        return torch.gather(self.gt_boxes, 1, safe[..., None].expand(-1, -1, 4))


@dataclass(frozen=True)
class _GridLevel:
    """One feature map's default boxes as a separable grid: prior ``offset + (j * nx + i) * A + a``
    spans x ``[x1[i, a], x2[i, a]]`` and y ``[y1[j, a], y2[j, a]]`` (Tensors [nx, A] and [ny, A])."""

    offset: int
    ny: int
    nx: int
    a: int
    x1: Tensor
    x2: Tensor
    y1: Tensor
    y2: Tensor


def _grid_levels(priors_xyxy: Tensor) -> list[_GridLevel] | None:
    """Split SSD default boxes (Tensor[P, 4] x1y1x2y2, in generation order) into separable grids.

    Within a feature map the x extent of a default box depends only on its column and aspect, the
    y extent only on its row and aspect, so the IoU of an object with all of them is an outer product
    of a few hundred one-dimensional overlaps. The split is guessed from the box centres and then
    verified exactly; None (use the dense IoU) when the boxes do not have that structure.
    """
    p = priors_xyxy.shape[0]
    if p == 0 or priors_xyxy.dim() != 2:
        return None
    c = (priors_xyxy[:, :2] + priors_xyxy[:, 2:]) * 0.5
    wh = priors_xyxy[:, 2:] - priors_xyxy[:, :2]
    cx, cy = c[:, 0].tolist(), c[:, 1].tolist()
    tol = 1e-6
    levels: list[_GridLevel] = []
    o = 0
    while o < p:
        a = 1  # boxes sharing the first centre
        while o + a < p and abs(cx[o + a] - cx[o]) < tol and abs(cy[o + a] - cy[o]) < tol:
            a += 1
        nx = 1  # cells along the first row
        while o + (nx + 1) * a <= p and abs(cy[o + nx * a] - cy[o]) < tol and cx[o + nx * a] > cx[o + (nx - 1) * a]:
            nx += 1
        row = nx * a
        ny = 1
        while o + (ny + 1) * row <= p:
            s = o + ny * row
            same_x = all(abs(cx[s + k] - cx[o + k]) < tol for k in range(0, row, a))
            if not (same_x and cy[s] > cy[s - row] and bool(((wh[s:s + a] - wh[o:o + a]).abs() < tol).all())):
                break
            ny += 1
        n = ny * row
        block = priors_xyxy[o:o + n].reshape(ny, nx, a, 4)
        x1, x2 = block[0, :, :, 0], block[0, :, :, 2]
        y1, y2 = block[:, 0, :, 1], block[:, 0, :, 3]
        if not (torch.equal(block[..., 0], x1.expand(ny, nx, a)) and torch.equal(block[..., 2], x2.expand(ny, nx, a))
                and torch.equal(block[..., 1], y1[:, None].expand(ny, nx, a))
                and torch.equal(block[..., 3], y2[:, None].expand(ny, nx, a))):
            return None
        levels.append(_GridLevel(o, ny, nx, a, x1.contiguous(), x2.contiguous(), y1.contiguous(), y2.contiguous()))
        o += n
    return levels


def _first_max(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """``x.max(dim)`` (values and the index of the first maximum) for a 2-D float Tensor.

    Same result as ``torch.max(x, dim)``, but built from vectorised float operations: on CPU the
    indexed reductions and boolean comparisons run element by element, several times slower.
    Marks the maxima with ``sign(x - max) + 1`` (exactly 1 at a maximum, 0 elsewhere) and picks the
    first with descending weights, which float32 holds exactly up to 2**24 elements.
    """
    values = x.amax(dim, keepdim=True)
    n = x.shape[dim]
    weights = torch.arange(n, 0, -1, dtype=x.dtype, device=x.device)
    if dim == 0:
        weights = weights[:, None]
    marks = torch.sub(x, values).sign_().add_(1).mul_(weights)
    return values.squeeze(dim), n - marks.amax(dim).long()


class Matcher:
    """Assigns ground truth to priors (see module docstring).

    The IoU of every object with every prior (the bulk of the work) is computed on the objects of
    the whole batch at once, without padding rows, and, for SSD's grid-structured default boxes,
    as outer products of one-dimensional overlaps per feature map: each IoU value is bit-identical
    to ``torchvision.ops.box_iou`` (same operations in the same order), for a fraction of the
    memory traffic. Other prior sets fall back to the dense pairwise IoU.
    """

    #: Objects per IoU block: a [64, 8732] float block (2.2 MB) stays in cache through the
    #: four passes that make it, and the per-image reductions that read it.
    block_rows = 64

    def __init__(self, cfg: MatcherConfig = MatcherConfig()) -> None:
        self.iou_threshold = cfg.iou_threshold
        self._priors: Tensor | None = None
        self._levels: list[_GridLevel] | None = None
        self._prior_area: Tensor | None = None
        self._work: Tensor | None = None

    def _layout(self, priors_xyxy: Tensor) -> tuple[list[_GridLevel] | None, Tensor]:
        """The grid split and prior areas, recomputed only when the priors change (compared by value)."""
        cached = self._priors
        if (cached is None or cached.shape != priors_xyxy.shape or cached.dtype != priors_xyxy.dtype
                or cached.device != priors_xyxy.device or not torch.equal(cached, priors_xyxy)):
            self._levels = _grid_levels(priors_xyxy)
            x1, y1, x2, y2 = priors_xyxy.unbind(-1)
            self._prior_area = (x2 - x1) * (y2 - y1)
            self._priors = priors_xyxy.clone()
        assert self._prior_area is not None
        return self._levels, self._prior_area

    def _workspace(self, rows: int, p: int, like: Tensor) -> tuple[Tensor, Tensor]:
        """Two reusable [rows, p] buffers (fresh multi-megabyte tensors cost page faults every call)."""
        w = self._work
        if w is None or w.shape[1] < rows * p or w.dtype != like.dtype or w.device != like.device:
            w = like.new_empty((2, max(rows, self.block_rows) * p))
            self._work = w
        return w[0, : rows * p].view(rows, p), w[1, : rows * p].view(rows, p)

    def pairwise_iou(self, gt: Tensor, priors_xyxy: Tensor) -> Tensor:
        """IoU of objects (Tensor[N, 4] x1y1x2y2) with priors (Tensor[P, 4] x1y1x2y2) -> Tensor[N, P].

        Equal, value for value, to ``torchvision.ops.box_iou(gt, priors_xyxy)``. The returned tensor
        may share memory with this matcher's workspace, so it is valid until the next call.
        """
        levels, area_p = self._layout(priors_xyxy)
        n, p = gt.shape[0], priors_xyxy.shape[0]
        if levels is None or n == 0:
            return batched_box_iou(gt[None], priors_xyxy)[0]
        inter, union = self._workspace(n, p, gt)
        gx1, gy1, gx2, gy2 = (t[:, None, None] for t in gt.unbind(-1))  # [N, 1, 1]
        for lv in levels:
            w = torch.minimum(gx2, lv.x2).sub_(torch.maximum(gx1, lv.x1)).clamp_(min=0)  # [N, nx, A]
            h = torch.minimum(gy2, lv.y2).sub_(torch.maximum(gy1, lv.y1)).clamp_(min=0)  # [N, ny, A]
            block = inter[:, lv.offset:lv.offset + lv.ny * lv.nx * lv.a].view(n, lv.ny, lv.nx, lv.a)
            torch.mul(w[:, None], h[:, :, None], out=block)
        area_g = (gx2 - gx1)[:, 0] * (gy2 - gy1)[:, 0]  # [N, 1]
        torch.add(area_g, area_p, out=union)
        union.sub_(inter)
        return inter.div_(union)

    def _match_by_threshold(self, iou: Tensor, counts: list[int], first_image: int, cols: Tensor,
                            matched: Tensor) -> None:
        """Per prior, its image's best object if that reaches the threshold (the first on ties, as
        torchvision's ``max(dim=0)``), for a block of whole images.

        Args:
            iou: [rows, P], the objects of images ``first_image ...`` in order, ``counts`` per image.
            cols: int64 [rows], each row's index in the padded target.
            matched: int64 [B, P], written where a prior matches.
        """
        rows, p = iou.shape
        n_img = len(counts)
        dev = iou.device
        count_t = torch.tensor(counts, device=dev)
        starts = torch.cumsum(count_t, 0) - count_t
        local = torch.repeat_interleave(torch.arange(n_img, device=dev), count_t)  # [rows]
        # One plain max per image and prior finds the few hundred priors that match at all ...
        best = iou.new_full((n_img, p), -1.0).scatter_reduce_(0, local[:, None].expand(rows, p), iou, "amax")
        hit_img, hit_prior = (best >= self.iou_threshold).nonzero(as_tuple=True)
        if hit_img.numel() == 0:
            return
        # ... and only those need the index: each hit's candidate rows side by side, padding at -1.
        cmax = max(counts)
        t = torch.arange(cmax, device=dev)
        row = starts[hit_img, None] + t  # [H, cmax]
        inside = t < count_t[hit_img, None]
        vals = iou[row.clamp(max=rows - 1), hit_prior[:, None]].masked_fill_(~inside, -1.0)
        first = _first_max(vals, 1)[1]
        matched[first_image + hit_img, hit_prior] = cols[starts[hit_img] + first]

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
        matched = torch.full((b, p), -1, dtype=torch.int64, device=gt_labels.device)
        valid = gt_labels > 0  # [B, M]
        img, col = valid.nonzero(as_tuple=True)  # real objects, image by image, in row order
        if img.numel() > 0:
            gt = gt_boxes[img, col]  # [N, 4]
            best_prior = torch.empty_like(img)
            counts = valid.sum(dim=1).tolist()
            start, i = 0, 0
            while i < b:
                # A block of whole images (at least one) of at most block_rows objects.
                j, rows = i, 0
                while j < b and (j == i or rows + counts[j] <= self.block_rows):
                    rows += counts[j]
                    j += 1
                if rows:
                    iou = self.pairwise_iou(gt[start:start + rows], priors_xyxy)  # [rows, P]
                    best_prior[start:start + rows] = _first_max(iou, 1)[1]
                    self._match_by_threshold(iou, counts[i:j], i, col[start:start + rows], matched)
                start += rows
                i = j
            # Force each object onto its best prior; with two objects sharing one, the later wins,
            # as in torchvision's SSDMatcher and ssd.pytorch's loop.
            matched.view(-1).scatter_(0, img * p + best_prior, col)
        # -1 (background) wraps onto an appended label-0 column: no boolean mask over [B, P].
        padded_labels = torch.cat((gt_labels, gt_labels.new_zeros((b, 1))), dim=1)
        labels = torch.gather(padded_labels, 1, matched.remainder(m + 1))
        return MatchResult(labels, matched, gt_boxes)


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
    deltas = gt_boxes.new_zeros((*res.labels.shape, 4))
    matched_boxes = gt_boxes[img, res.matched_idxs[img, prior]]
    deltas[img, prior] = coder.encode(matched_boxes, priors_cxcywh[prior])
    return res.labels, deltas
