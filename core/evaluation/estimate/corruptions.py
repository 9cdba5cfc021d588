"""The fixed family of image corruptions that builds the calibration meta-set.

Each corruption keeps the geometry (the boxes of the original annotations stay true) and is a pure
function of the image, the corruption, its severity (1 = mildest .. :data:`SEVERITIES`) and a seed
for the random ones (noise, occlusion), so a meta-set is the same in any process:

    shifted = corrupt(image, "blur", severity=3, seed=11)       # uint8 [H, W, 3] RGB in and out

Spatial parameters scale with the image's shorter side (the values below are for 300 pixels), so a
VOC photo and a 300x300 scene get the same relative shift. The levels were chosen so that the demo model's
mAP on its validation scenes falls from about its clean value to about 0.1 over the six severities of
each corruption (measured on 40 scenes, before any fit was made). :data:`HELD_OUT` are corruptions the
calibration never uses; the benchmark measures the estimate on them (sets the fit never saw).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

#: Severity levels of every corruption (1 .. SEVERITIES).
SEVERITIES = 6

#: name -> the parameter at severities 1..6 (see each function for its unit).
LEVELS: dict[str, tuple[float, ...]] = {
    "blur": (1.0, 2.2, 2.8, 3.3, 3.8, 4.4),              # Gaussian sigma, pixels at a 300-pixel side
    "noise": (10, 18, 25, 32, 40, 52),                   # Gaussian noise std, 0-255 units
    "brightness": (0.25, 0.16, 0.12, 0.09, 0.07, 0.05),  # pixel values multiplied by this (darker)
    "contrast": (0.42, 0.3, 0.24, 0.19, 0.15, 0.11),     # distance to the mean grey multiplied by this
    "jpeg": (50, 25, 15, 10, 6, 3),                      # JPEG quality
    "downscale": (0.3, 0.22, 0.2, 0.175, 0.15, 0.13),    # shrink to this fraction, back up bilinearly
    "occlusion": (0.03, 0.08, 0.15, 0.24, 0.36, 0.5),    # fraction of the image covered by grey patches
}
#: The calibration family, in a fixed order.
CORRUPTIONS: tuple[str, ...] = tuple(LEVELS)

#: Corruptions outside the family, never used by a fit (the benchmark's unseen shifts).
HELD_OUT_LEVELS: dict[str, tuple[float, ...]] = {
    "motion_blur": (3, 5, 7, 10, 14, 19),                # horizontal box kernel length, pixels at 300
    "salt_pepper": (0.01, 0.025, 0.05, 0.09, 0.15, 0.24),  # fraction of pixels set to black or white
    "fog": (0.25, 0.4, 0.52, 0.63, 0.73, 0.82),          # blend weight of a flat light grey
    "gamma": (1.6, 2.0, 2.5, 3.1, 3.8, 4.6),             # value -> 255 * (value / 255) ** gamma
}
HELD_OUT: tuple[str, ...] = tuple(HELD_OUT_LEVELS)


def _side(image: np.ndarray) -> float:
    return min(image.shape[:2]) / 300.0


def _blur(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma * _side(image), borderType=cv2.BORDER_REFLECT)


def _noise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    noisy = image.astype(np.float32) + rng.normal(0.0, std, image.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _brightness(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(np.rint(image.astype(np.float32) * factor), 0, 255).astype(np.uint8)


def _contrast(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    x = image.astype(np.float32)
    mean = x.mean()
    return np.clip(np.rint(mean + (x - mean) * factor), 0, 255).astype(np.uint8)


def _jpeg(image: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    import cv2

    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not JPEG-encode an image of shape {image.shape}")
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])


def _downscale(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _occlusion(image: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Grey rectangles (sides 8-20 % of the shorter side) at random places until ``fraction`` of the
    pixels is covered (overlaps count once)."""
    h, w = image.shape[:2]
    out = image.copy()
    covered = np.zeros((h, w), bool)
    short = min(h, w)
    for _ in range(10_000):
        if covered.mean() >= fraction:
            break
        ph, pw = (max(1, int(round(short * rng.uniform(0.08, 0.2)))) for _ in range(2))
        y, x = int(rng.integers(0, max(1, h - ph + 1))), int(rng.integers(0, max(1, w - pw + 1)))
        covered[y:y + ph, x:x + pw] = True
        out[y:y + ph, x:x + pw] = 128
    return out


def _motion_blur(image: np.ndarray, length: float, rng: np.random.Generator) -> np.ndarray:
    import cv2

    k = max(1, int(round(length * _side(image))))
    return cv2.blur(image, (k, 1), borderType=cv2.BORDER_REFLECT)


def _salt_pepper(image: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    out = image.copy()
    hit = rng.random(image.shape[:2]) < fraction
    white = rng.random(image.shape[:2]) < 0.5
    out[hit & white] = 255
    out[hit & ~white] = 0
    return out


def _fog(image: np.ndarray, weight: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(np.rint(image.astype(np.float32) * (1 - weight) + 200.0 * weight), 0, 255).astype(np.uint8)


def _gamma(image: np.ndarray, gamma: float, rng: np.random.Generator) -> np.ndarray:
    table = np.clip(np.rint(255.0 * (np.arange(256) / 255.0) ** gamma), 0, 255).astype(np.uint8)
    return table[image]


_FUNCTIONS: dict[str, Callable[[np.ndarray, float, np.random.Generator], np.ndarray]] = {
    "blur": _blur, "noise": _noise, "brightness": _brightness, "contrast": _contrast, "jpeg": _jpeg,
    "downscale": _downscale, "occlusion": _occlusion, "motion_blur": _motion_blur, "salt_pepper": _salt_pepper,
    "fog": _fog, "gamma": _gamma,
}


def corruption_parameter(name: str, severity: int) -> float:
    """The parameter of ``name`` at ``severity`` (1 .. :data:`SEVERITIES`).

    Raises:
        ValueError: an unknown corruption or a severity out of range (names both).
    """
    levels = LEVELS.get(name, HELD_OUT_LEVELS.get(name))
    if levels is None:
        raise ValueError(f"unknown corruption {name!r}; choose from {', '.join(CORRUPTIONS + HELD_OUT)}")
    if not 1 <= int(severity) <= len(levels):
        raise ValueError(f"severity of {name!r} must be 1..{len(levels)}, got {severity}")
    return float(levels[int(severity) - 1])


def corrupt(image: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """``image`` (uint8 [H, W, 3] RGB) shifted by corruption ``name`` at ``severity``; same size and dtype.

    ``seed`` draws the noise and the occlusion patches (np.random.default_rng(seed)).
    """
    value = corruption_parameter(name, severity)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"corrupt: expected a uint8 HxWx3 image, got {image.dtype} {image.shape}")
    return _FUNCTIONS[name](image, value, np.random.default_rng(int(seed)))


__all__ = ["CORRUPTIONS", "HELD_OUT", "HELD_OUT_LEVELS", "LEVELS", "SEVERITIES", "corrupt", "corruption_parameter"]
