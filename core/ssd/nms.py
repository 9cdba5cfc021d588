"""Greedy NMS where only boxes of the same class suppress each other, as torchvision's per-class NMS.

torchvision's ``batched_nms`` on the CPU calls its ``nms`` kernel once per class (above 1,000 boxes)
or offsets every class's boxes far apart and calls it once (below; the offset costs the boxes
low bits, so that path may round an IoU differently). Here the result is the per-class one, for
all classes at once:

1. the boxes are grouped by class, each group in the caller's (score) order;
2. the IoU of every pair inside a group is computed with the kernel's operations in the kernel's
   order (float32 IEEE operations, so NumPy gives the kernel's bits), and compared with the
   threshold as the kernel does (a float IoU against a double threshold): each pair is decided
   exactly as ``torchvision.ops.nms`` decides it;
3. greedy suppression is resolved from the pairs: box j is kept when no kept better box of its class
   suppresses it. This is a recursion along the score order. Jacobi sweeps over all pairs at once
   reach its unique solution after (longest chain of suppressions + 1) sweeps, a handful on real
   detections; when a chain is longer, a sequential pass over the suppressing boxes finishes the job.

A class with many boxes (over ``_KERNEL_FROM``) goes to torchvision's ``nms`` kernel itself, with its
boxes in the caller's order: its n^2 / 2 pairs would cost more as arrays than the kernel's loop, which
skips the pairs of suppressed boxes.

NumPy, not torch, for the few hundred boxes of an image: each torch call costs several microseconds of
dispatch, NumPy's a fraction, and the arithmetic is the same.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import nms

from core.ssd.candidates import rank_in_class

#: Jacobi sweeps tried before the sequential pass.
_JACOBI_SWEEPS = 8
#: Classes with more boxes than this go to torchvision's kernel one by one.
_KERNEL_FROM = 64


def greedy_nms_same_class(boxes: Tensor, classes: Tensor, iou_thresh: float,
                          max_per_class: int | None = None) -> Tensor:
    """Greedy NMS where only boxes of the same class suppress each other (torch tensors in and out).

    Args:
        boxes: float [K, 4] x1y1x2y2 (any units), best first (descending score, ties in the caller's order).
        classes: int64 [K], values >= 0.
        iou_thresh: box j is suppressed by a kept better box i of its class when IoU(i, j) > iou_thresh.
        max_per_class: only the first ``max_per_class`` boxes of each class take part (the others
            are dropped, as torchvision's per-class top-k candidates).

    Returns:
        bool [K] on ``boxes``' device: the boxes kept; the same as ``torchvision.ops.nms`` run class by
        class on the same boxes and order.
    """
    cls = classes.detach().cpu().numpy()
    taking = None
    if max_per_class is not None:
        taking = rank_in_class(cls) < max_per_class
    keep = nms_same_class_np(boxes.detach().cpu().numpy(), cls, iou_thresh, taking)
    return torch.from_numpy(keep).to(boxes.device)


def nms_same_class_np(boxes: np.ndarray, classes: np.ndarray, iou_thresh: float,
                      taking: np.ndarray | None = None, box_ids: np.ndarray | None = None,
                      memo: dict[bytes, np.ndarray] | None = None) -> np.ndarray:
    """:func:`greedy_nms_same_class` on arrays: boxes [K, 4] (float32 or float64), classes int [K];
    ``taking``: bool [K], the boxes that take part (None: all). Returns bool [K].

    ``box_ids`` (int [K]) and ``memo``: where equal ids mean equal boxes (SSD decodes one box per prior for
    every class), a class whose boxes are, in order, the same ids as a class already decided, through
    torchvision's kernel, gets the same answer from ``memo`` (which the caller may keep across calls on the
    same boxes). An untrained network ties every class's scores, and its classes then share their priors."""
    k = boxes.shape[0]
    keep = np.zeros(k, dtype=bool)
    if k == 0:
        return keep
    order = np.argsort(classes, kind="stable")
    if taking is not None:
        order = order[taking[order]]
    sorted_cls = classes[order]
    starts = np.flatnonzero(np.r_[True, sorted_cls[1:] != sorted_cls[:-1]]) if order.size else order
    counts = np.diff(np.r_[starts, order.size])
    grouped = np.ascontiguousarray(boxes[order])
    big = counts > _KERNEL_FROM
    i, j = same_group_pairs(np.where(big, 0, counts), starts)
    sup = pair_iou(grouped, i, j) > _float_below(iou_thresh, grouped.dtype)
    keep_grouped = resolve_greedy(order.size, i[sup], j[sup])
    for start, count in zip(starts[big].tolist(), counts[big].tolist()):
        key = None if box_ids is None or memo is None else box_ids[order[start:start + count]].tobytes()
        kept = None if key is None else _recall(memo, key)  # type: ignore[arg-type]
        if kept is None:
            kept = _kernel_nms(grouped[start:start + count], iou_thresh)
            if key is not None:
                memo[key] = kept  # type: ignore[index]
        keep_grouped[start:start + count] = kept
    keep[order] = keep_grouped
    return keep


def _recall(memo: dict[bytes, np.ndarray], key: bytes) -> np.ndarray | None:
    """The kept flags of the box sequence ``key`` from ``memo``: its own entry, or the start of a longer
    sequence's that begins with it (greedy NMS decides a box from the boxes before it only, so a prefix of
    a sequence keeps the prefix of its answer); None when neither is there."""
    kept = memo.get(key)
    if kept is None:
        longer = next((k for k in memo if len(k) > len(key) and k.startswith(key)), None)
        if longer is not None:
            answer = memo[longer]
            kept = answer[: len(key) // (len(longer) // answer.size)]  # ids of equal size: bytes per id
    return kept


def same_group_pairs(counts: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i, j), i < j, inside groups of ``counts[g]`` boxes at positions ``starts[g]``, ...

    Args:
        counts, starts: int [G]; a group with count 0 or 1 has no pair.

    Returns:
        (i int64 [N], j int64 [N]), N = sum(n * (n - 1) / 2): ascending in i, then in j.
    """
    if counts.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    first = np.repeat(starts, counts)  # [n]: each box's group start
    pos = first + (np.arange(first.size) - np.repeat(np.cumsum(counts) - counts, counts))
    later = np.repeat(starts + counts, counts) - pos - 1  # boxes after each one in its group
    i = np.repeat(pos, later)
    offset = np.arange(i.size) - np.repeat(np.cumsum(later) - later, later)
    return i, i + 1 + offset


def pair_iou(boxes: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """IoU of the box pairs (i, j): boxes [K, 4] x1y1x2y2 -> [N], i being the better box of each pair.

    The operations of torchvision's CPU ``nms`` kernel in its order: the two areas, the overlap
    width and height clamped at 0, their product, then ``inter / (area_i + area_j - inter)``.
    """
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1) * (y2 - y1)
    w = np.maximum(np.minimum(x2[i], x2[j]) - np.maximum(x1[i], x1[j]), 0)
    h = np.maximum(np.minimum(y2[i], y2[j]) - np.maximum(y1[i], y1[j]), 0)
    inter = w * h
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 for two empty boxes: NaN, never > thresh
        return inter / (area[i] + area[j] - inter)


def _float_below(threshold: float, dtype: np.dtype) -> np.floating:
    """The largest value of ``dtype`` at or below ``threshold``: for x of that dtype, x > threshold (the
    kernel's comparison, in double) holds exactly when x > this value."""
    t = np.asarray(threshold, dtype=np.float64).astype(dtype)
    if float(t) > threshold:
        t = np.nextafter(t, dtype.type(-np.inf))
    return t[()]


def resolve_greedy(k: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Greedy suppression from its pairs: keep[j] = no kept i suppresses j.

    Args:
        k: number of boxes (positions in score order).
        i, j: int [N] with i < j: "box i, if kept, suppresses box j"; ascending in i.

    Returns:
        bool [k].
    """
    keep = np.ones(k, dtype=bool)
    if i.size == 0:
        return keep
    for _ in range(_JACOBI_SWEEPS):
        nxt = np.ones(k, dtype=bool)
        nxt[j[keep[i]]] = False
        if np.array_equal(nxt, keep):
            return keep
        keep = nxt
    return _resolve_sequential(k, i, j)


def _resolve_sequential(k: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """:func:`resolve_greedy` in score order: each box that suppresses others, once decided, is applied."""
    keep = np.ones(k, dtype=bool)
    starts = np.flatnonzero(np.r_[True, i[1:] != i[:-1]])
    ends = np.r_[starts[1:], i.size]
    for s, e in zip(starts.tolist(), ends.tolist()):
        if keep[i[s]]:  # final: every box that could suppress it came earlier
            keep[j[s:e]] = False
    return keep


def _kernel_nms(boxes: np.ndarray, iou_thresh: float) -> np.ndarray:
    """torchvision's ``nms`` on boxes [n, 4] already in score order -> bool [n] kept. Its scores are only
    the order, given as strictly decreasing numbers so that no sort can reorder equal scores."""
    n = boxes.shape[0]
    t = torch.from_numpy(boxes)
    keep = np.zeros(n, dtype=bool)
    keep[nms(t, -torch.arange(n, dtype=t.dtype), iou_thresh).numpy()] = True
    return keep
