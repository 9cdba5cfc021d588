"""Validation shared by the VOC and COCO readers: one box against its image, with a reason."""
from __future__ import annotations

# Annotations in the wild overshoot the border by float noise (COCO) or by one pixel of
# the 1-based VOC convention; such boxes are clipped silently. Larger overshoots are
# clipped too but reported, because they usually mean a wrong <size> or a wrong image.
OVERSHOOT_TOLERANCE_PX = 1.0


def check_box(x1: float, y1: float, x2: float, y2: float, width: int, height: int
              ) -> tuple[tuple[float, float, float, float] | None, str | None]:
    """Validate one x1, y1, x2, y2 pixel box against a ``width`` x ``height`` image.

    Returns:
        (box, problem): ``box`` is the (possibly clipped) box, or None when the box must be
        dropped; ``problem`` is a short human-readable reason, or None when nothing was wrong.
    """
    if not all(v == v and abs(v) != float("inf") for v in (x1, y1, x2, y2)):
        return None, f"non-finite box ({x1}, {y1}, {x2}, {y2})"
    if x2 <= x1 or y2 <= y1:
        return None, f"degenerate box ({x1:g}, {y1:g}, {x2:g}, {y2:g}): x2 <= x1 or y2 <= y1"
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        return None, f"box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) lies outside the {width}x{height} image"
    cx1, cy1 = max(x1, 0.0), max(y1, 0.0)
    cx2, cy2 = min(x2, float(width)), min(y2, float(height))
    overshoot = max(cx1 - x1, cy1 - y1, x2 - cx2, y2 - cy2)
    problem = None
    if overshoot > OVERSHOOT_TOLERANCE_PX:
        problem = (f"box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) extends {overshoot:g} px beyond the "
                   f"{width}x{height} image; clipped")
    return (cx1, cy1, cx2, cy2), problem
