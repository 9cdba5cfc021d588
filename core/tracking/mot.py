"""The MOTChallenge text format of tracking results (Milan et al., MOT16, arXiv:1603.00831, section 3.3).

One line per tracked box: ``frame,id,bb_left,bb_top,bb_width,bb_height,conf,x,y,z`` with 1-based
frame numbers, the box's top-left corner and size in pixels, the detection's score and ``-1`` for the
three world coordinates, which a 2D tracker does not know::

    1,3,120.5,48,60.25,80,0.913,-1,-1,-1

TrackEval, py-motmetrics and motrics read it as a tracker's result. Rows are in frame order, then id.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np


def mot_lines(frame_index: int, boxes: np.ndarray, scores: np.ndarray, ids: np.ndarray) -> list[str]:
    """The lines of one frame.

    Args:
        frame_index: the 0-based frame number (written as ``frame_index + 1``).
        boxes: float [N, 4] x1, y1, x2, y2 in pixels; scores: float [N]; ids: int [N], -1 for an
            untracked detection (not written).
    """
    if frame_index < 0:
        raise ValueError(f"frame numbers start at 0, got {frame_index}")
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    rows = []
    for i in np.argsort(np.asarray(ids), kind="stable"):
        tid = int(ids[i])
        if tid < 0:
            continue
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        rows.append(f"{frame_index + 1},{tid},{_num(x1)},{_num(y1)},{_num(x2 - x1)},{_num(y2 - y1)},"
                    f"{_num(float(scores[i]), 6)},-1,-1,-1")
    return rows


def mot_text(lines: Iterable[str]) -> str:
    """The file's text: the lines, each ended by a newline."""
    return "".join(f"{line}\n" for line in lines)


def _num(v: float, digits: int = 3) -> str:
    """``v`` rounded to ``digits`` decimals, without trailing zeros (``48.0`` -> ``48``)."""
    text = f"{round(v, digits):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


__all__ = ["mot_lines", "mot_text"]
