"""Signals of a whole set of images that count what BoS's matched mean leaves out: lost boxes and low scores.

BoS's value (:func:`core.evaluation.estimate.signals.agreement`) averages the IoU of the *matched* pairs
over the images where both passes kept a box. When a shift makes the detector lose objects (blur,
darkness, low contrast), the boxes it still keeps are its easy, stable ones, so that mean stays high
while the mAP falls (on the demo model's 40 calibration scenes: BoS 0.87 under the strongest downscale at
mAP 0.15, 0.92 on the clean scenes at mAP 0.94; the union agreement below: 0.51 and 0.83). The signals here
see that loss:

* :func:`union_agreement` pools the pairs of all images and divides the matched IoU by every box of
  either pass: a box of one pass with no partner in the other counts as IoU 0 (in both directions),
  and so does every box of an image where only one pass kept any. For boxes A [N, 4] and B [M, 4] of
  each image and K = min(N, M) matched pairs (Hungarian on -IoU, as BoS)::

      value = sum over images of sum(IoU of the K pairs) / sum over images of (N + M - K)

  Identical box sets give 1, disjoint ones 0; one pass empty on every image gives 0. Images without a
  box on either pass add nothing (there is nothing to agree on).
* :func:`mean_confidence`: the mean score of all the detector's boxes scoring at least a floor (0.05,
  the test threshold BoS's detectors use), pooled over the set: the classic average-confidence
  baseline of label-free evaluation (a model that sees less is less sure of what it keeps).

Both come with the images they stand on (:class:`PooledSignal`), so a set where the model keeps almost
nothing is refused the way an :class:`~core.evaluation.estimate.signals.Agreement` is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Union

import numpy as np

from core.evaluation.estimate.signals import Agreement, match_boxes

#: Boxes scoring at least this enter :func:`mean_confidence` (BoS's detectors test at 0.05).
CONFIDENCE_FLOOR = 0.05


@dataclass(frozen=True)
class PooledSignal:
    """One pooled signal over a set of images.

    Attributes:
        value: the signal, in [0, 1]; None when no image gave anything to measure.
        scored: images that contributed (a box on either pass for :func:`union_agreement`, a box at or
            above the floor for :func:`mean_confidence`).
        images: all images of the set.
        boxes: boxes counted (the denominator: ``N + M - K`` summed, or the scores averaged).
    """

    value: float | None
    scored: int
    images: int
    boxes: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {"value": self.value, "scored": self.scored, "images": self.images, "boxes": self.boxes}


#: What a signal of :func:`core.evaluation.estimate.scoring.measure_images` is: both have ``value`` and ``scored``.
Signal = Union[Agreement, PooledSignal]


def union_agreement(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> PooledSignal:
    """Matched IoU over all boxes of both passes, pooled over the images (see the module docstring).

    Args:
        pairs: one (boxes A float [N, 4], boxes B float [M, 4]) per image, x1, y1, x2, y2 in pixels.
    """
    num = 0.0
    den = scored = images = 0
    for a, b in pairs:
        images += 1
        n, m = len(np.asarray(a).reshape(-1, 4)), len(np.asarray(b).reshape(-1, 4))
        if n == 0 and m == 0:
            continue
        scored += 1
        _, _, ious = match_boxes(a, b)
        num += float(ious.sum())
        den += n + m - len(ious)
    return PooledSignal(num / den if den else None, scored, images, den)


def mean_confidence(scores: Iterable[np.ndarray], floor: float = CONFIDENCE_FLOOR) -> PooledSignal:
    """The mean of every score >= ``floor``, pooled over the images.

    Args:
        scores: one float [N] per image (the detector's scores of that image's boxes).
        floor: scores below it are left out (a detector's near-zero candidates say nothing).
    """
    kept = [np.asarray(s, np.float64).reshape(-1) for s in scores]
    kept = [s[s >= floor] for s in kept]
    total = int(sum(len(s) for s in kept))
    value = float(np.concatenate(kept).mean()) if total else None
    return PooledSignal(value, sum(1 for s in kept if len(s)), len(kept), total)


__all__ = ["CONFIDENCE_FLOOR", "PooledSignal", "Signal", "mean_confidence", "union_agreement"]
