"""Real video files for the tests: written by OpenCV, and truncated as a cut-short download is.

OpenCV's MP4 muxer writes the index (``moov``) after the frames (``mdat``), so cutting such a
file loses the index and nothing opens. Downloads and cameras write it first ("fast start");
:func:`truncated_mp4` moves it first (shifting the chunk offsets it holds) and then cuts the
frame data after a whole frame, so that the header still announces every frame while exactly
the frames kept decode.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from core.io.video_writer import VideoWriter


def numbered_frame(k: int, size: tuple[int, int] = (96, 64)) -> np.ndarray:
    """Frame ``k`` < 4096 (RGB, uint8 [H, W, 3]) showing its number as 12 black/white stripes (bit 0 left),
    which survive a lossy codec."""
    w, h = size
    bits = np.array([(k >> b) & 1 for b in range(12)], np.uint8) * 255
    row = np.repeat(bits, -(-w // 12))[:w]
    return np.ascontiguousarray(np.broadcast_to(row[None, :, None], (h, w, 3)))


def frame_number(image: np.ndarray) -> int:
    """Inverse of :func:`numbered_frame`."""
    w = image.shape[1]
    step = -(-w // 12)
    means = [float(image[:, b * step:min(w, (b + 1) * step)].mean()) for b in range(12) if b * step < w]
    return sum(1 << b for b, m in enumerate(means) if m > 127)


def write_video(path: Path, n: int, size: tuple[int, int] = (96, 64), fps: float = 10.0) -> Path:
    """An mp4v MP4 of ``n`` numbered frames."""
    with VideoWriter(path, fps, size, codec="mp4v") as w:
        for k in range(n):
            w.write(numbered_frame(k, size))
    return path


def _boxes(buf: bytes | bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    i = start
    while i < end:
        size = int.from_bytes(buf[i:i + 4], "big")
        yield bytes(buf[i + 4:i + 8]), i, size
        i += size


def _edit_sample_table(buf: bytearray, start: int, end: int, delta: int, found: dict[str, list[int]]) -> None:
    """Shift the chunk offsets (``stco``) by ``delta``; collect them and the sample sizes (``stsz``)."""
    for kind, i, size in _boxes(buf, start, end):
        if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):
            _edit_sample_table(buf, i + 8, i + size, delta, found)
        elif kind == b"stco":  # version/flags, entry count, then 32-bit file offsets
            for k in range(int.from_bytes(buf[i + 12:i + 16], "big")):
                o = i + 16 + 4 * k
                buf[o:o + 4] = (int.from_bytes(buf[o:o + 4], "big") + delta).to_bytes(4, "big")
                found["offsets"].append(int.from_bytes(buf[o:o + 4], "big"))
        elif kind == b"stsz":  # version/flags, common size (0: one per sample), count, sizes
            common, n = int.from_bytes(buf[i + 12:i + 16], "big"), int.from_bytes(buf[i + 16:i + 20], "big")
            found["sizes"] = [common] * n if common else [
                int.from_bytes(buf[i + 20 + 4 * k:i + 24 + 4 * k], "big") for k in range(n)]
        assert kind != b"co64", "64-bit chunk offsets are not expected in a small test file"


def truncated_mp4(src: Path, dst: Path, keep_frames: int) -> Path:
    """``src`` with its index moved first and its frame data cut after ``keep_frames`` whole frames."""
    data = src.read_bytes()
    top = {kind: (i, size) for kind, i, size in _boxes(data, 0, len(data))}
    (mi, ms), (di, ds) = top[b"moov"], top[b"mdat"]
    assert mi > di, "expected OpenCV's layout: frames first, index last"
    moov = bytearray(data[mi:mi + ms])
    found: dict[str, list[int]] = {"offsets": [], "sizes": []}
    _edit_sample_table(moov, 0, len(moov), ms, found)
    assert 0 < keep_frames < len(found["sizes"])
    whole = data[:di] + bytes(moov) + data[di:di + ds]
    # One video track: its samples lie back to back from the first chunk on.
    dst.write_bytes(whole[:min(found["offsets"]) + sum(found["sizes"][:keep_frames])])
    return dst


def decodable_frames(path: Path) -> int:
    """How many frames OpenCV decodes reading ``path`` from the start."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n
