"""Validation shared by the readers: input files opened safely, one box against its image."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

# Annotation and detection files are read whole. A COCO train2017 instances file is ~450 MB;
# beyond this a "file" is far more likely /dev/zero or a wrong path than a dataset, and
# json.loads would need about ten times its size in memory.
MAX_TEXT_BYTES = 1 << 30

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


def check_input_file(path: str | Path, what: str, max_bytes: int = MAX_TEXT_BYTES) -> Path:
    """``path`` as a regular file of at most ``max_bytes``, checked without opening it.

    Opening a FIFO blocks until someone writes to it, and reading a device such as
    ``/dev/zero`` never ends; both are refused here.

    Raises:
        ValueError: nothing at ``path``, a folder, a FIFO, a device or a file over ``max_bytes``
            (names the file).
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise ValueError(f"{p}: {what} not found") from None
    except OSError as exc:
        raise ValueError(f"{p}: cannot read the {what}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ValueError(f"{p}: the {what} is a folder, expected a file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device or special file"
        raise ValueError(f"{p}: the {what} is {kind}, not a regular file")
    if st.st_size > max_bytes:
        raise ValueError(f"{p}: the {what} is {st.st_size / 2**20:.0f} MiB, more than the "
                         f"{max_bytes / 2**20:.0f} MiB this reader accepts")
    return p


def read_text_file(path: str | Path, what: str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of a checked input file (see :func:`check_input_file`).

    Raises:
        ValueError: not a regular file, too large, or not UTF-8 (names the file and the byte).
    """
    p = check_input_file(path, what, max_bytes)
    raw = p.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{p}: the {what} is not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})"
                         ) from None


def read_json_file(path: str | Path, what: str, max_bytes: int = MAX_TEXT_BYTES) -> Any:
    """Parse a checked input file as JSON; errors name the file, line, column and character."""
    p = Path(path)
    text = read_text_file(p, what, max_bytes)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: malformed JSON at line {exc.lineno}, column {exc.colno} "
                         f"(char {exc.pos}): {exc.msg}") from None
    except RecursionError:
        raise ValueError(f"{p}: JSON nested too deeply to read") from None
