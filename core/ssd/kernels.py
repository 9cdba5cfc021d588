"""The postprocess's per-box loops, compiled with Numba: same-class greedy NMS and the box decoding.

After the softmax the postprocess works on a few hundred boxes, where each NumPy or torch call costs
microseconds of dispatch (and, right after the network, a trip to memory for its code): the grouped
pair arrays of NMS took about 30 NumPy calls, the decoding a dozen. Here each is one compiled loop.

Exactness: the loops are the operations of the reference in its order, in the inputs' precision
(float32 in, float32 arithmetic; Numba keeps NumPy's types and, without ``fastmath``, neither fuses a
multiply and an add nor reorders), so each result is the reference's to the bit:

- :func:`nms_small_classes` decides every pair with the operations of torchvision's CPU ``nms``
  kernel (its ``std::max``/``std::min`` and the clamp at 0 written as the same comparisons, so a NaN
  coordinate goes the same way; the float IoU compared with the double threshold);
- :func:`decode_wh` and :func:`decode_boxes` are ``BoxCoder.decode`` (torchvision's decoding) split
  around the ``exp``, which stays torch's (its vectorised kernel, whose last bit NumPy's or libm's
  ``exp`` may not give).

``error_model="numpy"``: a division by zero gives inf or NaN as in NumPy and torch, not an exception.
Compiled once per machine and cached on disk (Numba's ``cache=True``: the package's ``__pycache__``, else
the user's cache folder; a few seconds the first time). Where neither is writable (a read-only install run
by a user without a writable home, e.g. a read-only container) Numba refuses to cache when the module is
imported; the loops are then compiled in memory at their first call, in every process (:func:`_compiled`).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from numba import njit


def _compiled(**options: Any) -> Callable[[Callable], Callable]:
    """``numba.njit(cache=True, **options)``, or without the disk cache where Numba finds no writable folder
    for it (it raises ``RuntimeError: cannot cache function ...: no locator available`` at decoration, which
    would stop every import of the postprocess)."""
    def decorate(fn: Callable) -> Callable:
        try:
            return njit(cache=True, **options)(fn)
        except RuntimeError as exc:
            if "no locator available" not in str(exc):
                raise
            return njit(cache=False, **options)(fn)
    return decorate


@_compiled(nogil=True, error_model="numpy")
def nms_small_classes(boxes: np.ndarray, classes: np.ndarray, taking: np.ndarray, iou_thresh: float,
                      largest: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Greedy NMS inside each class, for the classes of at most ``largest`` boxes.

    Args:
        boxes: float [K, 4] x1y1x2y2, best first (the order decides: box j is suppressed by a kept box i < j
            of its class with IoU(i, j) > ``iou_thresh``).
        classes: int64 [K], values >= 0.
        taking: bool [K]: the boxes that take part (the others are not kept and suppress nothing).
        largest: a class with more boxes taking part is left undecided (its flags stay True) for the caller.

    Returns:
        (keep bool [K]; order, starts, counts: the boxes taking part grouped by class, as :func:`_by_class`
        gives them, so that the caller finds a class's boxes without another pass).
    """
    keep = taking.copy()
    order, starts, counts = _by_class(classes, taking)
    zero = boxes.dtype.type(0)
    for c in range(counts.size):
        n = counts[c]
        if n < 2 or n > largest:
            continue
        first = starts[c]
        for a in range(first, first + n):
            i = order[a]
            if not keep[i]:
                continue
            ix1, iy1, ix2, iy2 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
            iarea = (ix2 - ix1) * (iy2 - iy1)
            for b in range(a + 1, first + n):
                j = order[b]
                if not keep[j]:
                    continue
                x1, y1, x2, y2 = boxes[j, 0], boxes[j, 1], boxes[j, 2], boxes[j, 3]
                xx1 = x1 if ix1 < x1 else ix1  # std::max(ix1, x1)
                yy1 = y1 if iy1 < y1 else iy1
                xx2 = x2 if x2 < ix2 else ix2  # std::min(ix2, x2)
                yy2 = y2 if y2 < iy2 else iy2
                dw = xx2 - xx1
                dh = yy2 - yy1
                w = dw if zero < dw else zero  # std::max(0, dw)
                h = dh if zero < dh else zero
                inter = w * h
                if inter / (iarea + (x2 - x1) * (y2 - y1) - inter) > iou_thresh:
                    keep[j] = False
    return keep, order, starts, counts


@_compiled(nogil=True)
def _by_class(classes: np.ndarray, taking: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The boxes taking part grouped by class (a counting sort, stable): (order int64 [n]: box indices, each
    class's in the caller's order; starts, counts int64 [max class + 1]: each class's slice of ``order``)."""
    top = 0
    for i in range(classes.size):
        if classes[i] > top:
            top = classes[i]
    counts = np.zeros(top + 1, np.int64)
    for i in range(classes.size):
        if taking[i]:
            counts[classes[i]] += 1
    starts = np.zeros(top + 1, np.int64)
    for c in range(1, top + 1):
        starts[c] = starts[c - 1] + counts[c - 1]
    fill = starts.copy()
    order = np.empty(classes.size, np.int64)
    for i in range(classes.size):
        if taking[i]:
            order[fill[classes[i]]] = i
            fill[classes[i]] += 1
    return order, starts, counts


@_compiled(nogil=True, error_model="numpy")
def decode_wh(deltas: np.ndarray, rows: np.ndarray, w1: np.float32, clip: np.float32) -> np.ndarray:
    """float32 [K, 2]: ``min(deltas[rows, 2:] / w1, clip)``, the argument of the size's exp (NaN stays NaN, as
    torch's ``clamp(max=)``). deltas float32 [P, 4]; rows int64 [K]."""
    out = np.empty((rows.size, 2), np.float32)
    for r in range(rows.size):
        for q in range(2):
            v = deltas[rows[r], 2 + q] / w1
            out[r, q] = clip if clip < v else v
    return out


@_compiled(nogil=True, error_model="numpy")
def decode_boxes(deltas: np.ndarray, priors: np.ndarray, rows: np.ndarray, exp_wh: np.ndarray, w0: np.float32,
                 clip01: bool) -> np.ndarray:
    """float32 [K, 4] x1y1x2y2: the boxes of ``rows`` from their offsets and ``exp_wh`` (torch's exp of
    :func:`decode_wh`), ``c = d / w0 * prior_wh + prior_c``, ``half = 0.5 * (exp_wh * prior_wh)``, ``c -+ half``;
    with ``clip01`` clamped to [0, 1] (NaN stays NaN, as torch's ``clamp``).

    deltas float32 [P, 4]; priors float32 [P, 4] cxcywh; rows int64 [K]; exp_wh float32 [K, 2]."""
    out = np.empty((rows.size, 4), np.float32)
    half_of = np.float32(0.5)
    zero, one = np.float32(0.0), np.float32(1.0)
    for r in range(rows.size):
        p = rows[r]
        for q in range(2):
            c = deltas[p, q] / w0 * priors[p, 2 + q] + priors[p, q]
            half = half_of * (exp_wh[r, q] * priors[p, 2 + q])
            lo = c - half
            hi = c + half
            if clip01:
                lo = zero if lo < zero else (one if one < lo else lo)
                hi = zero if hi < zero else (one if one < hi else hi)
            out[r, q] = lo
            out[r, 2 + q] = hi
    return out

