"""Greedy NMS where only boxes of the same class suppress each other, as torchvision's per-class NMS.

torchvision's ``batched_nms`` on the CPU calls its ``nms`` kernel once per class (above 1,000 boxes)
or offsets every class's boxes far apart and calls it once (below; the offset costs the boxes
low bits, so that path may round an IoU differently). Here the result is the per-class one, for
all classes at once, in one compiled loop (core.ssd.kernels.nms_small_classes): the boxes are
grouped by class, each group in the caller's (score) order, and each pair is decided with the
kernel's operations in the kernel's order (float32 IEEE operations, the float IoU compared with the
double threshold), so each pair is decided exactly as ``torchvision.ops.nms`` decides it.

When the caller keeps a memo, a class with many boxes (over ``_MEMO_FROM``) is decided on its own and
its answer remembered by the sequence of its boxes: an untrained network ties every class's scores, and
its classes then share the same boxes in the same order (90 classes, one decision).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from core.ssd.candidates import rank_in_class
from core.ssd.kernels import nms_small_classes

#: With a memo, classes with more boxes than this are decided one by one and remembered.
_MEMO_FROM = 64
#: No class is this large: every class is decided in the one compiled loop.
_ALL = np.iinfo(np.int64).max


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
    every class), a class of over ``_MEMO_FROM`` boxes whose boxes are, in order, the same ids as a class
    already decided gets the same answer from ``memo`` (which the caller may keep across calls on the
    same boxes). An untrained network ties every class's scores, and its classes then share their priors."""
    k = boxes.shape[0]
    if k == 0:
        return np.zeros(0, dtype=bool)
    classes = np.asarray(classes, dtype=np.int64)
    if classes.min() < 0:  # the compiled loop counts boxes per class by index
        raise ValueError(f"NMS classes must be >= 0, got {int(classes.min())}")
    take = np.ones(k, dtype=bool) if taking is None else np.asarray(taking, dtype=bool)
    remember = box_ids is not None and memo is not None
    keep, order, starts, counts = nms_small_classes(boxes, classes, take, float(iou_thresh),
                                                    _MEMO_FROM if remember else _ALL)
    for c in np.flatnonzero(counts > _MEMO_FROM).tolist() if remember else ():
        members = order[starts[c]:starts[c] + counts[c]]  # the class's boxes in the caller's order
        key = box_ids[members].tobytes()  # type: ignore[index]
        kept = _recall(memo, key)  # type: ignore[arg-type]
        if kept is None:
            kept = memo[key] = _one_class(boxes[members], iou_thresh)  # type: ignore[index]
        keep[members] = kept
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


def _one_class(boxes: np.ndarray, iou_thresh: float) -> np.ndarray:
    """Greedy NMS of boxes [n, 4] of one class, in score order -> bool [n] kept."""
    n = boxes.shape[0]
    return nms_small_classes(boxes, np.zeros(n, np.int64), np.ones(n, dtype=bool), float(iou_thresh), _ALL)[0]
