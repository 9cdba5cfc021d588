"""SSD data augmentation, following the paper (Sec. 2.2 and 3.6) and the original Caffe code.

Every transform is a callable ``(image, boxes, labels) -> (image, boxes, labels)``:
    image: np.ndarray [H, W, 3] RGB, uint8 or float32 on the 0-255 scale;
    boxes: np.ndarray float32 [N, 4], x1, y1, x2, y2 in pixels of that image;
    labels: np.ndarray int64 [N] (>= 1).
Only :class:`ToNetworkInput`, the last step, changes types (torch tensor, normalised boxes).

Training chain (:func:`build_transforms` with ``train=True``), the order of the Caffe
``AnnotatedData`` layer and of ssd.pytorch's ``SSDAugmentation``::

    ToFloat -> PhotometricDistort -> Expand(mean) -> MinIoURandomCrop -> RandomHorizontalFlip
            -> Resize(S) -> ToNetworkInput(mean)

Randomness: every random transform draws from its ``rng`` (a ``np.random.Generator``) when
one is given, else from NumPy's global RNG. The data loader relies on the latter: each
DataLoader worker seeds the global RNG from torch's per-worker seed, so augmentation is
reproducible for a given loader seed yet differs between workers. (A Generator held by the
transform would be copied into every worker and repeat the same draws there.)

Caffe behaviours kept on purpose:
    * photometric ops saturate to [0, 255] after each step, as Caffe's ``cv::Mat`` does;
    * contrast runs either before or after the HSV ops (coin flip), as in Caffe's ``DistortImage``;
    * a crop is accepted when at least one box reaches the sampler's minimum IoU (Caffe's
      ``SatisfySampleConstraint``), and boxes are kept when their centre lies inside the crop,
      then clipped to it.
"""
from __future__ import annotations

from typing import Callable, Sequence

import cv2
import numpy as np
import torch

from core.config import ModelConfig

Triple = tuple[np.ndarray, np.ndarray, np.ndarray]
Transform = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple]

# Boxes narrower than this (normalised to the network input) carry no signal for any prior
# and would make the box encoder take log(0); they are dropped before the loss.
MIN_BOX_SIZE_NORM = 1e-3


class _Random:
    """Mixin: draws from ``self.rng`` when set, else from NumPy's global RNG (see module docstring)."""

    rng: np.random.Generator | None = None

    def _uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        return float(self.rng.uniform(low, high) if self.rng is not None else np.random.uniform(low, high))

    def _coin(self, p: float = 0.5) -> bool:
        return self._uniform() < p

    def _index(self, n: int) -> int:
        return min(int(self._uniform() * n), n - 1)


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray) -> tuple:
        for t in self.transforms:
            image, boxes, labels = t(image, boxes, labels)
        return image, boxes, labels

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(type(t).__name__ for t in self.transforms) + ")"


class ToFloat:
    """uint8 -> float32 (0-255 scale); boxes as float32 [N, 4], labels as int64 [N]."""

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray) -> Triple:
        return (image.astype(np.float32),
                np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64).reshape(-1))


class PhotometricDistort(_Random):
    """Random brightness, contrast, saturation, hue and channel swap (each with probability 1/2).

    Ranges are Caffe's: brightness delta +-32, contrast and saturation factors in [0.5, 1.5],
    hue shift +-18 degrees. Boxes and labels pass through unchanged. Returns float32 0-255.
    """

    def __init__(self, brightness: float = 32.0, contrast: tuple[float, float] = (0.5, 1.5),
                 saturation: tuple[float, float] = (0.5, 1.5), hue: float = 18.0, p: float = 0.5,
                 rng: np.random.Generator | None = None) -> None:
        self.brightness, self.contrast, self.saturation, self.hue, self.p = brightness, contrast, saturation, hue, p
        self.rng = rng

    def _contrast(self, img: np.ndarray) -> np.ndarray:
        if self._coin(self.p):
            img = np.clip(img * self._uniform(*self.contrast), 0, 255)
        return img

    def _hsv(self, img: np.ndarray) -> np.ndarray:
        do_sat, do_hue = self._coin(self.p), self._coin(self.p)
        sat = self._uniform(*self.saturation) if do_sat else 1.0
        hue = self._uniform(-self.hue, self.hue) if do_hue else 0.0
        if not (do_sat or do_hue):
            return img
        # float32 RGB in [0, 1] -> H in [0, 360), S and V in [0, 1]
        hsv = cv2.cvtColor(img / 255.0, cv2.COLOR_RGB2HSV)
        hsv[..., 1] = np.clip(hsv[..., 1] * sat, 0, 1)
        hsv[..., 0] = np.mod(hsv[..., 0] + hue, 360.0)
        return np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0, 0, 255)

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray) -> Triple:
        img = np.ascontiguousarray(image, dtype=np.float32)
        if self._coin(self.p):
            img = np.clip(img + self._uniform(-self.brightness, self.brightness), 0, 255)
        if self._coin(0.5):
            img = self._hsv(self._contrast(img))
        else:
            img = self._contrast(self._hsv(img))
        if self._coin(self.p):
            perms = ((0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
            img = np.ascontiguousarray(img[..., list(perms[self._index(len(perms))])])
        return img.astype(np.float32, copy=False), boxes, labels


class Expand(_Random):
    """Zoom out: with probability ``p`` place the image at a random spot of a canvas up to
    ``max_ratio`` times larger on each side, filled with ``mean`` (RGB, 0-255). Boxes shift."""

    def __init__(self, mean: Sequence[float], max_ratio: float = 4.0, p: float = 0.5,
                 rng: np.random.Generator | None = None) -> None:
        self.mean = np.asarray(mean, np.float32)
        self.max_ratio, self.p = max_ratio, p
        self.rng = rng

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray) -> Triple:
        if not self._coin(self.p):
            return image, boxes, labels
        h, w = image.shape[:2]
        ratio = self._uniform(1.0, self.max_ratio)
        new_w, new_h = int(w * ratio), int(h * ratio)
        left, top = int(self._uniform(0, new_w - w)), int(self._uniform(0, new_h - h))
        canvas = np.empty((new_h, new_w, 3), np.float32)
        canvas[...] = self.mean
        canvas[top:top + h, left:left + w] = image
        return canvas, boxes + np.array([left, top, left, top], np.float32), labels


def _iou_with_rect(boxes: np.ndarray, rect: np.ndarray) -> np.ndarray:
    """IoU of boxes float [N, 4] with one box [4] (all x1y1x2y2) -> float [N]."""
    ix1, iy1 = np.maximum(boxes[:, 0], rect[0]), np.maximum(boxes[:, 1], rect[1])
    ix2, iy2 = np.minimum(boxes[:, 2], rect[2]), np.minimum(boxes[:, 3], rect[3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + (rect[2] - rect[0]) * (rect[3] - rect[1]) - inter)


class MinIoURandomCrop(_Random):
    """Zoom in: the SSD patch sampler.

    Each call picks one option: None keeps the whole image; a number is a minimum IoU that
    at least one box must reach with the patch; ``-inf`` accepts any patch. Up to ``max_trials``
    patches of scale ``scale`` (per side, of the image) and aspect ``aspect`` (w/h) are drawn;
    the first acceptable one that keeps at least one box centre is used. If none is found
    another option is picked, at most ``max_rounds`` times, then the image is returned whole.
    Boxes keep their labels and are clipped to the patch; an image without boxes may be cropped
    freely (any IoU constraint is void).
    """

    OPTIONS: tuple[float | None, ...] = (None, 0.1, 0.3, 0.5, 0.7, 0.9, float("-inf"))

    def __init__(self, options: Sequence[float | None] = OPTIONS, scale: tuple[float, float] = (0.3, 1.0),
                 aspect: tuple[float, float] = (0.5, 2.0), max_trials: int = 50, max_rounds: int = 10,
                 rng: np.random.Generator | None = None) -> None:
        self.options, self.scale, self.aspect = tuple(options), scale, aspect
        self.max_trials, self.max_rounds = max_trials, max_rounds
        self.rng = rng

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray) -> Triple:
        h, w = image.shape[:2]
        for _ in range(self.max_rounds):
            min_iou = self.options[self._index(len(self.options))]
            if min_iou is None:
                return image, boxes, labels
            for _ in range(self.max_trials):
                cw, ch = self._uniform(*self.scale) * w, self._uniform(*self.scale) * h
                if not (self.aspect[0] <= cw / ch <= self.aspect[1]):
                    continue
                left, top = int(self._uniform(0, w - cw)), int(self._uniform(0, h - ch))
                rect = np.array([left, top, left + int(cw), top + int(ch)], np.float32)
                if rect[2] <= rect[0] or rect[3] <= rect[1]:
                    continue
                if len(boxes) == 0:
                    return self._crop(image, boxes, labels, rect, np.zeros(0, bool))
                if _iou_with_rect(boxes, rect).max() < min_iou:
                    continue
                cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
                keep = (cx > rect[0]) & (cx < rect[2]) & (cy > rect[1]) & (cy < rect[3])
                if not keep.any():
                    continue
                return self._crop(image, boxes, labels, rect, keep)
        return image, boxes, labels

    @staticmethod
    def _crop(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rect: np.ndarray,
              keep: np.ndarray) -> Triple:
        x1, y1, x2, y2 = (int(v) for v in rect)
        out = boxes[keep].copy()
        out[:, 0::2] = np.clip(out[:, 0::2], x1, x2) - x1
        out[:, 1::2] = np.clip(out[:, 1::2], y1, y2) - y1
        return image[y1:y2, x1:x2], out, labels[keep]


class RandomHorizontalFlip(_Random):
    """Mirror left-right with probability ``p``; x1, x2 become ``W - x2``, ``W - x1``."""

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        self.p = p
        self.rng = rng

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray) -> Triple:
        if not self._coin(self.p):
            return image, boxes, labels
        w = image.shape[1]
        out = boxes.copy()
        out[:, 0], out[:, 2] = w - boxes[:, 2], w - boxes[:, 0]
        return np.ascontiguousarray(image[:, ::-1]), out, labels


class Resize:
    """Warp to ``size`` x ``size`` (no aspect preservation, as SSD does); boxes scale along."""

    def __init__(self, size: int, interpolation: int = cv2.INTER_LINEAR) -> None:
        self.size, self.interpolation = int(size), interpolation

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray) -> Triple:
        h, w = image.shape[:2]
        out = cv2.resize(image, (self.size, self.size), interpolation=self.interpolation)
        scale = np.array([self.size / w, self.size / h, self.size / w, self.size / h], np.float32)
        return out, (boxes * scale).astype(np.float32), labels


class ToNetworkInput:
    """Final step: (float32 tensor [3, S, S] = (RGB - ``mean``) / ``std`` on the 0-255 scale,
    boxes float32 [N, 4] normalised to [0, 1] by the image side, labels int64 [N]).

    Boxes thinner than :data:`MIN_BOX_SIZE_NORM` after clipping are dropped with their labels.
    Returns NumPy boxes/labels (the collate function stacks them into tensors).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float] = (1.0, 1.0, 1.0)) -> None:
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray
                 ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        x = (image.astype(np.float32) - self.mean) / self.std
        x = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))
        b = np.asarray(boxes, np.float32).reshape(-1, 4) / np.array([w, h, w, h], np.float32)
        b = np.clip(b, 0.0, 1.0)
        keep = ((b[:, 2] - b[:, 0]) > MIN_BOX_SIZE_NORM) & ((b[:, 3] - b[:, 1]) > MIN_BOX_SIZE_NORM)
        return x, b[keep], np.asarray(labels, np.int64).reshape(-1)[keep]


def build_transforms(model_cfg: ModelConfig, train: bool, rng: np.random.Generator | None = None) -> Compose:
    """The SSD chain for ``model_cfg.image_size`` and its normalisation (``image_mean``, ``image_std``).

    Args:
        model_cfg: only ``image_size``, ``image_mean`` and ``image_std`` are used.
        train: full augmentation; else Resize + ToNetworkInput.
        rng: shared by the random transforms; None uses NumPy's global RNG (see module docstring).
    """
    mean, size = model_cfg.image_mean, model_cfg.image_size
    final = network_input(model_cfg)
    if not train:
        return Compose([ToFloat(), Resize(size), final])
    return Compose([
        ToFloat(),
        PhotometricDistort(rng=rng),
        Expand(mean, rng=rng),
        MinIoURandomCrop(rng=rng),
        RandomHorizontalFlip(rng=rng),
        Resize(size),
        final,
    ])


def network_input(model_cfg: ModelConfig) -> ToNetworkInput:
    """The final step for ``model_cfg``'s normalisation (as ``core.detector`` normalises at inference)."""
    return ToNetworkInput(model_cfg.image_mean, model_cfg.image_std)
