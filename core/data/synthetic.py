"""Built-in labelled data: cluttered scenes of coloured shapes, datasets on disk and a demo video.

Everything is a pure function of integers: scene ``index`` of ``seed`` is drawn from
``np.random.default_rng((seed, index))``, and only deterministic OpenCV/NumPy operations turn
the draws into pixels, so the same ``(seed, index, size)`` gives identical pixels in any
process. That is how a synthetic :class:`DatasetIndex` carries no pixels: each record's
``file`` is the pseudo path ``synthetic://<seed>/<index>`` (see :func:`synthetic_path`,
:func:`parse_synthetic_path`) and the data loader re-renders the image from it.

Sizes are ``(width, height)`` in pixels throughout this module (the OpenCV order).

Labels: boxes are tight around the *visible* pixels of each shape (alpha >= 0.5, after later
shapes are painted over it and after the image border cuts it); a shape that is less than
:data:`MIN_VISIBLE` visible, or whose visible box is under :data:`MIN_BOX_PX` on a side, is
left unlabelled (it still shows, as real partly hidden objects do).

Datasets and videos on disk are written by :mod:`core.data.synthetic_files`
(``write_dataset``, ``render_video``; importable from here too).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from core.config import BACKGROUND
from core.types import DatasetIndex, ImageRecord

SHAPE_CLASSES: tuple[str, ...] = (
    BACKGROUND, "circle", "square", "triangle", "star", "hexagon", "cross", "ellipse", "crescent",
)

MIN_VISIBLE = 0.4
MIN_BOX_PX = 4
MIN_OBJECT_PX = 12.0
MAX_OBJECT_FRACTION = 0.6
EMPTY_SCENE_PROB = 0.05
MAX_OBJECTS = 8
JPEG_QUALITY = 95

ProgressFn = Callable[[int, int], None]

_SYNTH_RE = re.compile(r"^synthetic:/+(\d+)/(\d+)$")
_SUBPIXEL_BITS = 4  # cv2.fillPoly works in fixed point: 1/16 px vertices keep edges smooth


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


# --------------------------------------------------------------------------- shapes

@dataclass(frozen=True)
class ShapeSpec:
    """One shape to paint.

    Attributes:
        label: index into :data:`SHAPE_CLASSES` (>= 1).
        cx, cy: centre in pixels (may lie outside the image: the shape is then cut).
        radius: half of the shape's nominal extent in pixels.
        angle: rotation in radians.
        aspect: minor/major axis ratio (ellipse only).
        color: RGB 0-255.
        shade: strength of the linear lighting gradient across the shape (0 = flat).
        shade_angle: direction of the lighting gradient, radians.
        outline: outline thickness in pixels (0 = none).
        shadow: drop-shadow darkening (0 = none).
    """

    label: int
    cx: float
    cy: float
    radius: float
    angle: float
    color: tuple[float, float, float]
    aspect: float = 0.55
    shade: float = 0.0
    shade_angle: float = 0.0
    outline: int = 0
    shadow: float = 0.0


def _regular(n: int, r: float, phase: float = 0.0) -> np.ndarray:
    t = phase + np.arange(n) * (2 * math.pi / n)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _outline_polys(spec: ShapeSpec) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(filled polygons, holes) of a shape around (0, 0), before rotation; float [K, 2]."""
    name, r = SHAPE_CLASSES[spec.label], spec.radius
    if name == "circle":
        return [_regular(64, r)], []
    if name == "square":
        return [_regular(4, r, math.pi / 4)], []
    if name == "triangle":
        # Centred on the bounding box rather than the centroid so the shape fills its radius.
        pts = _regular(3, r * 1.12, -math.pi / 2)
        pts[:, 1] += r * 0.22
        return [pts], []
    if name == "star":
        outer, inner = _regular(5, r, -math.pi / 2), _regular(5, r * 0.42, -math.pi / 2 + math.pi / 5)
        return [np.stack([outer, inner], axis=1).reshape(-1, 2)], []
    if name == "hexagon":
        return [_regular(6, r)], []
    if name == "cross":
        a = r * 0.34
        pts = [(-a, -r), (a, -r), (a, -a), (r, -a), (r, a), (a, a), (a, r), (-a, r), (-a, a), (-r, a),
               (-r, -a), (-a, -a)]
        return [np.asarray(pts, np.float64)], []
    if name == "ellipse":
        t = np.arange(64) * (2 * math.pi / 64)
        return [np.stack([r * np.cos(t), r * spec.aspect * np.sin(t)], axis=1)], []
    if name == "crescent":
        hole = _regular(64, r * 0.82)
        hole[:, 0] += r * 0.55
        return [_regular(64, r)], [hole]
    raise ValueError(f"unknown shape label {spec.label} (classes: {SHAPE_CLASSES})")


def _rasterize(spec: ShapeSpec, shade: bool = True) -> tuple[np.ndarray | None, np.ndarray, int, int]:
    """Paint one shape into its own patch.

    Returns:
        (rgb float32 [h, w, 3], alpha float32 [h, w] in [0, 1], x0, y0): the patch and the image
        pixel of its top-left corner.
    """
    half = int(math.ceil(spec.radius * 1.15)) + 3
    x0, y0 = int(math.floor(spec.cx)) - half, int(math.floor(spec.cy)) - half
    size = 2 * half + 2
    ox, oy = spec.cx - x0, spec.cy - y0
    c, s = math.cos(spec.angle), math.sin(spec.angle)
    rot = np.array([[c, -s], [s, c]])
    scale = 1 << _SUBPIXEL_BITS

    def to_patch(pts: np.ndarray) -> np.ndarray:
        p = pts @ rot.T + (ox, oy)
        return np.round(p * scale).astype(np.int32).reshape(-1, 1, 2)

    polys, holes = _outline_polys(spec)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [to_patch(p) for p in polys], 255, cv2.LINE_AA, _SUBPIXEL_BITS)
    for h in holes:
        cv2.fillPoly(mask, [to_patch(h)], 0, cv2.LINE_AA, _SUBPIXEL_BITS)
    alpha = mask.astype(np.float32) / 255.0
    if not shade:
        return None, alpha, x0, y0

    color = np.asarray(spec.color, np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    proj = ((xx - ox) * math.cos(spec.shade_angle) + (yy - oy) * math.sin(spec.shade_angle)) / max(spec.radius, 1.0)
    rgb = color[None, None, :] * (1.0 + spec.shade * np.clip(proj, -1, 1))[..., None]
    if spec.outline > 0:
        dark = tuple(float(v) * 0.45 for v in spec.color)
        rgb = np.ascontiguousarray(rgb)
        cv2.polylines(rgb, [to_patch(p) for p in polys], True, dark, spec.outline, cv2.LINE_AA, _SUBPIXEL_BITS)
    return np.clip(rgb, 0, 255), alpha, x0, y0


def _window(x0: int, y0: int, h: int, w: int, height: int, width: int
            ) -> tuple[slice, slice, slice, slice] | None:
    """(image rows, image cols, patch rows, patch cols) of a patch at (x0, y0), or None if outside."""
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x0 + w, width), min(y0 + h, height)
    if ix1 <= ix0 or iy1 <= iy0:
        return None
    return slice(iy0, iy1), slice(ix0, ix1), slice(iy0 - y0, iy1 - y0), slice(ix0 - x0, ix1 - x0)


def compose(background: np.ndarray, shapes: list[ShapeSpec], paint: bool = True
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint ``shapes`` in order (later ones on top) over ``background`` and label what shows.

    Args:
        background: uint8 or float32 [H, W, 3] RGB.
        shapes: painter's order.
        paint: False computes the labels only (the returned image is then ``background``).

    Returns:
        (image float32 [H, W, 3] RGB 0-255, boxes float32 [N, 4] x1y1x2y2 pixels with integer
        edges, labels int64 [N]) for the shapes that stay at least :data:`MIN_VISIBLE` visible,
        in painter's order.
    """
    img = background.astype(np.float32, copy=True) if paint else background
    height, width = img.shape[:2]
    painted: list[tuple[ShapeSpec, np.ndarray, int, int]] = []
    for spec in shapes:
        rgb, alpha, x0, y0 = _rasterize(spec, shade=paint)
        h, w = alpha.shape
        if not paint:
            if _window(x0, y0, h, w, height, width) is not None:
                painted.append((spec, alpha, x0, y0))
            continue
        if spec.shadow > 0:
            off = max(1, int(round(spec.radius * 0.08)))
            soft = cv2.GaussianBlur(alpha, (0, 0), sigmaX=max(1.0, spec.radius * 0.06))
            win = _window(x0 + off, y0 + off, h, w, height, width)
            if win is not None:
                r_, c_, pr, pc = win
                img[r_, c_] *= (1.0 - spec.shadow * soft[pr, pc])[..., None]
        win = _window(x0, y0, h, w, height, width)
        if win is None:
            continue
        r_, c_, pr, pc = win
        a = alpha[pr, pc][..., None]
        img[r_, c_] = img[r_, c_] * (1.0 - a) + rgb[pr, pc] * a
        painted.append((spec, alpha, x0, y0))

    covered = np.zeros((height, width), bool)
    boxes: list[tuple[float, float, float, float]] = []
    labels: list[int] = []
    for spec, alpha, x0, y0 in reversed(painted):
        solid = alpha >= 0.5
        full = int(solid.sum())
        r_, c_, pr, pc = _window(x0, y0, alpha.shape[0], alpha.shape[1], height, width)  # type: ignore[misc]
        vis = solid[pr, pc] & ~covered[r_, c_]
        covered[r_, c_] |= solid[pr, pc]
        if full == 0 or vis.sum() < MIN_VISIBLE * full:
            continue
        rows, cols = np.nonzero(vis.any(axis=1))[0], np.nonzero(vis.any(axis=0))[0]
        bx1, by1 = c_.start + cols[0], r_.start + rows[0]
        bx2, by2 = c_.start + cols[-1] + 1, r_.start + rows[-1] + 1
        if bx2 - bx1 < MIN_BOX_PX or by2 - by1 < MIN_BOX_PX:
            continue
        boxes.append((bx1, by1, bx2, by2))
        labels.append(spec.label)
    boxes.reverse()
    labels.reverse()
    return img, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64)


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


def __getattr__(name: str) -> object:
    # The writers live in core.data.synthetic_files (which imports this module); they stay
    # importable from here, where callers have always found them.
    if name in ("write_dataset", "render_video", "MovingScene"):
        from core.data import synthetic_files

        return getattr(synthetic_files, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
