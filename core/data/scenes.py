"""Built-in labelled data: cluttered scenes of coloured shapes (the scenes themselves; the public names are
handed on by :mod:`core.data.synthetic`).

Everything is a pure function of integers: scene ``index`` of ``seed`` is drawn from
``np.random.default_rng((seed, index))``, and only deterministic OpenCV/NumPy operations turn
the draws into pixels, so the same ``(seed, index, size)`` gives identical pixels in any
process. That is how a synthetic :class:`DatasetIndex` carries no pixels: each record's
``file`` is the pseudo path ``synthetic://<seed>/<index>`` (see :func:`synthetic_path`,
:func:`parse_synthetic_path`) and the data loader re-renders the image from it.

Sizes are ``(width, height)`` in pixels throughout this module (the OpenCV order).

The shapes (:class:`ShapeSpec`) and the painter that labels them (:func:`compose`: boxes tight
around each shape's visible pixels) are :mod:`core.data.shapes`; this module draws backgrounds,
random shapes and whole scenes.

Datasets and videos on disk are written by :mod:`core.data.synthetic_files`
(``write_dataset``, ``render_video``, ``MovingScene``).
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

# The shapes and their painter are core.data.shapes; their names stay importable from here.
from core.data.shapes import SHAPE_CLASSES, ShapeSpec, compose  # noqa: F401
from core.types import DatasetIndex, ImageRecord

MIN_OBJECT_PX = 12.0
MAX_OBJECT_FRACTION = 0.6
EMPTY_SCENE_PROB = 0.05
MAX_OBJECTS = 8
JPEG_QUALITY = 95

ProgressFn = Callable[[int, int], None]

_SYNTH_RE = re.compile(r"^synthetic:/+(\d+)/(\d+)$")


# --------------------------------------------------------------------------- pseudo paths

def synthetic_path(seed: int, index: int) -> Path:
    """The pseudo file of scene ``index`` of ``seed``: ``synthetic://<seed>/<index>``."""
    return Path(f"synthetic://{seed}/{index}")


def parse_synthetic_path(file: str | Path) -> tuple[int, int] | None:
    """``(seed, index)`` of a pseudo path from :func:`synthetic_path`, or None for a real file.

    ``Path`` folds ``//`` to ``/``, so both spellings are accepted.
    """
    m = _SYNTH_RE.match(str(file))
    return (int(m.group(1)), int(m.group(2))) if m else None


# --------------------------------------------------------------------------- backgrounds

def _hsv_color(rng: np.random.Generator, s: tuple[float, float], v: tuple[float, float]) -> np.ndarray:
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*s) * 255, rng.uniform(*v) * 255]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _value_noise(rng: np.random.Generator, width: int, height: int, octaves: int = 4) -> np.ndarray:
    """Smooth multi-octave noise in [0, 1], float32 [H, W] (coarse random grids, cubic upsampling)."""
    out = np.zeros((height, width), np.float32)
    total = 0.0
    cells = int(rng.integers(2, 5))
    for o in range(octaves):
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        weight = 0.5 ** o
        out += weight * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        total += weight
        cells *= 2
    out /= total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def render_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A textured background: gradient, noise clouds, stripes or tiles, plus faint clutter lines.

    Returns:
        float32 [H, W, 3] RGB 0-255.
    """
    c1 = _hsv_color(rng, (0.05, 0.7), (0.2, 0.95))
    c2 = _hsv_color(rng, (0.05, 0.7), (0.2, 0.95))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    kind = int(rng.integers(0, 4))
    if kind == 0:  # linear gradient
        t = rng.uniform(0, 2 * math.pi)
        p = xx * math.cos(t) + yy * math.sin(t)
        w = (p - p.min()) / max(float(p.max() - p.min()), 1.0)
    elif kind == 1:  # clouds
        w = _value_noise(rng, width, height)
    elif kind == 2:  # soft stripes, random angle and period
        t = rng.uniform(0, math.pi)
        period = rng.uniform(8, 60)
        p = xx * math.cos(t) + yy * math.sin(t)
        w = 0.5 + 0.5 * np.sin(p * (2 * math.pi / period)) * rng.uniform(0.3, 1.0)
    else:  # tiles with mortar-like jitter
        cell = int(rng.integers(10, 48))
        w = (((xx // cell) + (yy // cell)) % 2) * rng.uniform(0.3, 0.8) + 0.2 * _value_noise(rng, width, height)
    img = c1[None, None, :] * (1 - w[..., None]) + c2[None, None, :] * w[..., None]
    # A second low-amplitude noise layer keeps flat regions from looking synthetic.
    img *= (0.85 + 0.3 * _value_noise(rng, width, height, octaves=3))[..., None]
    n_lines = int(rng.integers(0, 5))
    if n_lines:
        # Faint clutter: half-transparent strokes give the detector edges that are not objects.
        strokes = img.copy()
        for _ in range(n_lines):
            col = tuple(float(v) for v in _hsv_color(rng, (0.0, 0.5), (0.2, 0.9)))
            pts = np.stack([rng.uniform(0, width, 3), rng.uniform(0, height, 3)], axis=1).astype(np.int32)
            cv2.polylines(strokes, [pts.reshape(-1, 1, 2)], False, col, int(rng.integers(1, 3)), cv2.LINE_AA)
        a = rng.uniform(0.3, 0.6)
        img = img * (1 - a) + strokes * a
    return np.clip(img, 0, 255)


# --------------------------------------------------------------------------- scenes

def _contrasting_color(rng: np.random.Generator, under: np.ndarray) -> tuple[float, float, float]:
    """A saturated colour far (RGB distance) from ``under`` (the mean background colour)."""
    best, best_d = None, -1.0
    for _ in range(12):
        col = _hsv_color(rng, (0.45, 1.0), (0.35, 1.0))
        d = float(np.linalg.norm(col - under))
        if d > best_d:
            best, best_d = col, d
        if d >= 110:
            break
    return tuple(float(v) for v in best)  # type: ignore[return-value]


def _random_shape(rng: np.random.Generator, bg: np.ndarray, width: int, height: int) -> ShapeSpec:
    """A random shape in a ``width`` x ``height`` image; ``bg`` (any resolution, e.g. a thumbnail)
    is only consulted for the colour under the shape."""
    extent = math.exp(rng.uniform(math.log(MIN_OBJECT_PX), math.log(MAX_OBJECT_FRACTION * min(width, height))))
    r = extent / 2
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    sx, sy = bg.shape[1] / width, bg.shape[0] / height
    x0, y0 = int(max(cx - r, 0) * sx), int(max(cy - r, 0) * sy)
    x1, y1 = int(min(cx + r, width) * sx) + 1, int(min(cy + r, height) * sy) + 1
    under = bg[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
    return ShapeSpec(
        label=int(rng.integers(1, len(SHAPE_CLASSES))), cx=cx, cy=cy, radius=r,
        angle=rng.uniform(0, 2 * math.pi), color=_contrasting_color(rng, under),
        aspect=rng.uniform(0.4, 0.62), shade=rng.uniform(0.0, 0.3), shade_angle=rng.uniform(0, 2 * math.pi),
        outline=int(rng.choice([0, 0, 1, 2])), shadow=float(rng.choice([0.0, rng.uniform(0.2, 0.45)])),
    )


def _finish(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Sensor-like finish: optional slight blur, Gaussian noise, uint8."""
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=rng.uniform(0.4, 0.9))
    sigma = rng.uniform(0.0, 6.0)
    img = img + rng.normal(0.0, sigma, img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def render_scene(seed: int, index: int, size: tuple[int, int] = (320, 320)
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render scene ``index`` of ``seed``.

    Args:
        seed, index: non-negative ints; the scene is a pure function of (seed, index, size).
        size: (width, height) in pixels.

    Returns:
        (image uint8 [H, W, 3] RGB, boxes float32 [N, 4] x1y1x2y2 pixels tight around the visible
        part of each labelled shape, labels int64 [N] indexing :data:`SHAPE_CLASSES`).
    """
    width, height = int(size[0]), int(size[1])
    if width < 16 or height < 16:
        raise ValueError(f"synthetic scene size must be at least 16x16, got {size}")
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative, got seed={seed} index={index}")
    rng, img, boxes, labels = _layout(seed, index, width, height, paint=True)
    return _finish(rng, img), boxes, labels


def _layout(seed: int, index: int, width: int, height: int, paint: bool
            ) -> tuple[np.random.Generator, np.ndarray, np.ndarray, np.ndarray]:
    """Background and shapes of a scene, before the pixel finish (which draws from ``rng`` last).

    The background has its own random stream, drawn identically at two resolutions: a
    quarter-size thumbnail picks contrasting shape colours, the full size is painted. Labels
    therefore need only the thumbnail (``paint=False``), which keeps indexing large synthetic
    datasets cheap.
    """
    rng = np.random.default_rng((seed, index))
    bg_seed = int(rng.integers(0, 2**63))
    thumb = render_background(np.random.default_rng(bg_seed), max(8, width // 4), max(8, height // 4))
    n = 0 if rng.random() < EMPTY_SCENE_PROB else int(rng.integers(1, MAX_OBJECTS + 1))
    shapes = [_random_shape(rng, thumb, width, height) for _ in range(n)]
    # Mostly large-under-small so small shapes are not always buried, with jitter so that
    # occlusion of small shapes by large ones still happens.
    shapes.sort(key=lambda s: -s.radius * rng.uniform(0.6, 1.4))
    bg = render_background(np.random.default_rng(bg_seed), width, height) if paint else thumb
    if not paint:
        _, boxes, labels = compose(np.zeros((height, width, 3), np.float32), shapes, paint=False)
        return rng, thumb, boxes, labels
    img, boxes, labels = compose(bg, shapes)
    return rng, img, boxes, labels


def synthetic_index(count: int, seed: int, size: tuple[int, int] = (320, 320), *,
                    progress: ProgressFn | None = None) -> DatasetIndex:
    """Index of scenes 0..count-1 of ``seed`` (renders each once to get its boxes).

    Records have ``file = synthetic_path(seed, index)``, ``image_id = index`` and the boxes of
    :func:`render_scene`; the data loader re-renders pixels from the pseudo path.
    """
    if count <= 0:
        raise ValueError(f"synthetic dataset count must be positive, got {count}")
    width, height = int(size[0]), int(size[1])
    if width < 16 or height < 16:
        raise ValueError(f"synthetic scene size must be at least 16x16, got {size}")
    records = []
    for i in range(count):
        # The finish (blur, noise) draws last and never moves boxes, so the index skips it.
        _, _, boxes, labels = _layout(seed, i, width, height, paint=False)
        records.append(ImageRecord(image_id=i, file=synthetic_path(seed, i), width=width, height=height,
                                   boxes=boxes, labels=labels, difficult=np.zeros(len(labels), bool),
                                   iscrowd=np.zeros(len(labels), bool)))
        if progress:
            progress(i + 1, count)
    return DatasetIndex(name=f"synthetic seed={seed} n={count}", source=f"synthetic://{seed}",
                        class_names=SHAPE_CLASSES, records=records)
