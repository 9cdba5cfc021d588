"""The shapes of the synthetic scenes and the painter that labels them.

Labels: boxes are tight around the *visible* pixels of each shape (alpha >= 0.5, after later
shapes are painted over it and after the image border cuts it); a shape that is less than
:data:`MIN_VISIBLE` visible, or whose visible box is under :data:`MIN_BOX_PX` on a side, is
left unlabelled (it still shows, as real partly hidden objects do).

Sizes are ``(width, height)`` in pixels (the OpenCV order). Scenes made of these shapes are
:mod:`core.data.synthetic`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from core.config import BACKGROUND

SHAPE_CLASSES: tuple[str, ...] = (
    BACKGROUND, "circle", "square", "triangle", "star", "hexagon", "cross", "ellipse", "crescent",
)

MIN_VISIBLE = 0.4
MIN_BOX_PX = 4

_SUBPIXEL_BITS = 4  # cv2.fillPoly works in fixed point: 1/16 px vertices keep edges smooth


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
    """Paint ``shapes`` and label what shows: :func:`compose_indexed` without the indices."""
    img, boxes, labels, _ = compose_indexed(background, shapes, paint)
    return img, boxes, labels


def compose_indexed(background: np.ndarray, shapes: list[ShapeSpec], paint: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Paint ``shapes`` in order (later ones on top) over ``background`` and label what shows.

    Args:
        background: uint8 or float32 [H, W, 3] RGB.
        shapes: painter's order.
        paint: False computes the labels only (the returned image is then ``background``).

    Returns:
        (image float32 [H, W, 3] RGB 0-255, boxes float32 [N, 4] x1y1x2y2 pixels with integer
        edges, labels int64 [N], kept int64 [N]: the index in ``shapes`` of each box's shape) for the
        shapes that stay at least :data:`MIN_VISIBLE` visible, in painter's order.
    """
    img = background.astype(np.float32, copy=True) if paint else background
    height, width = img.shape[:2]
    painted: list[tuple[int, ShapeSpec, np.ndarray, int, int]] = []
    for index, spec in enumerate(shapes):
        rgb, alpha, x0, y0 = _rasterize(spec, shade=paint)
        h, w = alpha.shape
        if not paint:
            if _window(x0, y0, h, w, height, width) is not None:
                painted.append((index, spec, alpha, x0, y0))
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
        painted.append((index, spec, alpha, x0, y0))

    covered = np.zeros((height, width), bool)
    found: list[tuple[tuple[float, float, float, float], int, int]] = []  # (box, label, index in shapes)
    for index, spec, alpha, x0, y0 in reversed(painted):
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
        found.append(((bx1, by1, bx2, by2), spec.label, index))
    found.reverse()
    return (img, np.asarray([f[0] for f in found], np.float32).reshape(-1, 4),
            np.asarray([f[1] for f in found], np.int64), np.asarray([f[2] for f in found], np.int64))
