"""Stability signals of a detector on images without labels: exact functions of the boxes.

Every signal compares two box sets of the same image, A (the detector as it runs) and B (the same
detector perturbed: feature-map dropout for BoS, a flipped or rescaled input mapped back for the
test-time-augmentation agreements, the next frame for the temporal agreement):

1. the boxes of A and B are matched one to one by the Hungarian algorithm on the cost ``-IoU``
   (:func:`scipy.optimize.linear_sum_assignment`), which maximises the summed IoU over the
   ``min(N, M)`` pairs; class labels are not used (as BoS, Yang et al., ICLR 2024);
2. the image's value is the mean IoU of its matched pairs;
3. the set's value is the mean of the image values over the images where both A and B have at least
   one box. Images where only one side has boxes are counted (``one_sided``), not scored: the
   matching has nothing to say about them.

Identical box sets give 1, boxes that do not overlap give 0. Boxes are float [N, 4] x1, y1, x2, y2
in pixels of the image (any common unit works: IoU does not depend on it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou

#: The mild rescale of the scale agreement: the image is shrunk to this factor of its size and
#: padded back to it, so objects appear at 0.8 of their size in the network's input.
SCALE_FACTOR = 0.8


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair: a float [N, 4], b float [M, 4] x1, y1, x2, y2 -> float64 [N, M].

    ``torchvision.ops.box_iou`` in float64; a pair of zero-area boxes (0 / 0) has IoU 0.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    iou = box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    return np.nan_to_num(iou, nan=0.0)


def match_boxes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one-to-one matching of ``a`` [N, 4] and ``b`` [M, 4] with the largest summed IoU.

    Returns:
        (rows int64 [K] into ``a``, cols int64 [K] into ``b``, their IoUs float64 [K]), K = min(N, M).
    """
    iou = iou_matrix(a, b)
    if iou.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty.copy(), np.zeros(0)
    rows, cols = linear_sum_assignment(-iou)
    return rows.astype(np.int64), cols.astype(np.int64), iou[rows, cols]


def matched_iou(a: np.ndarray, b: np.ndarray) -> float | None:
    """Mean IoU of the matched pairs of ``a`` and ``b``; None when either set is empty."""
    _, _, ious = match_boxes(a, b)
    return float(ious.mean()) if ious.size else None


@dataclass(frozen=True)
class Agreement:
    """One signal over a set of images.

    Attributes:
        value: mean over the scored images of their mean matched IoU, in [0, 1]; None when no image
            has boxes on both sides (nothing to measure).
        scored: images with boxes on both sides (the mean is over these).
        one_sided: images with boxes on one side only.
        empty: images without a box on either side.
        pairs: matched box pairs over all scored images.
    """

    value: float | None
    scored: int
    one_sided: int
    empty: int
    pairs: int

    @property
    def images(self) -> int:
        return self.scored + self.one_sided + self.empty

    def as_dict(self) -> dict[str, float | int | None]:
        return {"value": self.value, "scored": self.scored, "one_sided": self.one_sided, "empty": self.empty,
                "pairs": self.pairs}


def agreement(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> Agreement:
    """The signal of a sequence of (boxes A [N, 4], boxes B [M, 4]) pairs, one pair per image."""
    values: list[float] = []
    one_sided = empty = n_pairs = 0
    for a, b in pairs:
        n, m = len(np.asarray(a).reshape(-1, 4)), len(np.asarray(b).reshape(-1, 4))
        if n and m:
            _, _, ious = match_boxes(a, b)
            values.append(float(ious.mean()))
            n_pairs += len(ious)
        elif n or m:
            one_sided += 1
        else:
            empty += 1
    value = float(np.mean(values)) if values else None
    return Agreement(value, len(values), one_sided, empty, n_pairs)


def flip_boxes(boxes: np.ndarray, width: float) -> np.ndarray:
    """Boxes [N, 4] of a horizontally flipped image of ``width`` pixels, mapped back: x -> width - x."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]], axis=1)


def shrink_and_pad(image: np.ndarray, factor: float = SCALE_FACTOR) -> np.ndarray:
    """``image`` (uint8 [H, W, 3]) shrunk to ``factor`` of its size (area interpolation) in the top-left
    corner of a canvas of its own size filled with its mean colour; boxes found on it map back by
    :func:`unshrink_boxes`."""
    import cv2

    h, w = image.shape[:2]
    sw, sh = max(1, int(round(w * factor))), max(1, int(round(h * factor)))
    canvas = np.empty_like(image)
    canvas[...] = image.reshape(-1, image.shape[2]).mean(axis=0).round().astype(image.dtype)
    canvas[:sh, :sw] = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    return canvas


def unshrink_boxes(boxes: np.ndarray, image_shape: tuple[int, ...], factor: float = SCALE_FACTOR) -> np.ndarray:
    """Boxes [N, 4] found on :func:`shrink_and_pad`'s canvas, in pixels of the original image
    (``image_shape`` its [H, W, ...]): each coordinate divided by the shrink's exact per-axis scale."""
    h, w = image_shape[:2]
    sw, sh = max(1, int(round(w * factor))), max(1, int(round(h * factor)))
    scale = np.array([sw / w, sh / h, sw / w, sh / h])
    return np.asarray(boxes, np.float64).reshape(-1, 4) / scale


__all__ = ["SCALE_FACTOR", "Agreement", "agreement", "flip_boxes", "iou_matrix", "match_boxes", "matched_iou",
           "shrink_and_pad", "unshrink_boxes"]
