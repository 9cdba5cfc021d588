"""Writing videos: an atomic MP4 writer that picks the most widely playable codec available.

Browsers and common players open H.264 in MP4; the OpenCV wheels from PyPI usually ship
without an H.264 encoder (its licence), and then MPEG-4 Part 2 (``mp4v``) is what they can
write (VLC, QuickTime and most desktop players open it; browsers do not). Which codecs an
OpenCV build really has is found by writing and reading back a small file once per process
(:func:`writable_codecs`): ``VideoWriter.isOpened()`` alone says yes to codecs whose encoder
then fails. VP9 in MP4 plays in browsers too, but encodes at ~150 ms per 720p frame on two
cores (mp4v: ~7 ms), so it is not a default.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from core.io.fileio import atomic_path, remove_stale_temps

#: Codecs tried in this order; the first one the OpenCV build can write is used.
CODEC_PREFERENCE: tuple[str, ...] = ("avc1", "H264", "mp4v")
#: Human-readable names for the codecs' four-character codes.
CODEC_NAMES = {"avc1": "H.264", "H264": "H.264", "mp4v": "MPEG-4 Part 2", "vp09": "VP9"}


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the C-level stderr (FFmpeg's and OpenCV's logs of a failed encoder) for a probe."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a windowed app): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _disk_full(folder: Path) -> bool:
    """Whether the file system of ``folder`` has less room left than a frame may take (1 MiB)."""
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


def _fourcc(codec: str) -> int:
    if len(codec) != 4:
        raise ValueError(f"video codec must be a four-character code such as 'avc1' or 'mp4v', got {codec!r}")
    return cv2.VideoWriter_fourcc(*codec)


def _round_trips(codec: str, suffix: str) -> bool:
    """Whether this OpenCV build writes ``codec`` into a ``suffix`` file that decodes again."""
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[16:48, 16:48] = 200
    with tempfile.TemporaryDirectory(prefix="ssd-codec-") as folder:
        path = str(Path(folder) / f"probe{suffix}")
        with _quiet_stderr():
            writer = cv2.VideoWriter(path, _fourcc(codec), 10.0, (64, 64))
            try:
                if not writer.isOpened():
                    return False
                for _ in range(2):
                    writer.write(frame)
            finally:
                writer.release()
            cap = cv2.VideoCapture(path)
            try:
                ok, back = cap.read()
            finally:
                cap.release()
    return bool(ok) and back is not None and back.shape == frame.shape


@functools.lru_cache(maxsize=None)
def writable_codecs(suffix: str = ".mp4", candidates: Sequence[str] = CODEC_PREFERENCE) -> tuple[str, ...]:
    """The codecs of ``candidates`` this OpenCV build can write into a ``suffix`` file, in order.

    Probed once per process and suffix by really writing and reading back a two-frame video.
    """
    return tuple(c for c in candidates if _round_trips(c, suffix.lower()))


def pick_codec(suffix: str = ".mp4") -> str:
    """The first of :data:`CODEC_PREFERENCE` that works for a ``suffix`` file.

    Raises:
        ValueError: none works (an OpenCV build without FFmpeg).
    """
    codecs = writable_codecs(suffix.lower())
    if not codecs:
        raise ValueError(f"this OpenCV build cannot write {suffix} videos with any of {', '.join(CODEC_PREFERENCE)}")
    return codecs[0]


class VideoWriter:
    """Writes RGB frames of one size to a video file, atomically.

    Frames go to a temporary file next to ``path``; :meth:`close` moves it into place (so a
    crash, a full disk or :meth:`discard` leaves an earlier file at ``path`` intact). Used as a
    context manager, an exception inside the block discards the video. The temporaries a kill
    left behind (``.<name>.<random>.tmp`` and ``.tmp.mp4``) are removed by the next writer of the
    same file, or by ``core.io.fileio.remove_stale_temps``.

    Args:
        path: output file (``.mp4`` for the codec choice above); its folder is created.
        fps: frames per second (> 0).
        size: (width, height) of every frame in pixels.
        codec: a four-character code (``"mp4v"``, ``"avc1"``); None picks :func:`pick_codec`.

    Attributes:
        codec: the four-character code used; ``codec_name`` its readable name.
        frames_written: frames written so far.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int], codec: str | None = None) -> None:
        self.path = Path(path)
        w, h = int(size[0]), int(size[1])
        if w <= 0 or h <= 0:
            raise ValueError(f"cannot write video '{self.path}': bad frame size {size}")
        if not (fps > 0 and np.isfinite(fps)):
            raise ValueError(f"cannot write video '{self.path}': bad fps {fps}")
        self.size = (w, h)
        self.fps = float(fps)
        self.codec = codec if codec is not None else pick_codec(self.path.suffix or ".mp4")
        self.codec_name = CODEC_NAMES.get(self.codec, self.codec)
        self.frames_written = 0
        self._closed = False
        # What a kill during an earlier write of this same file left behind (atomic_path's cleanup never ran).
        remove_stale_temps(self.path.parent, self.path.name)
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path, "video"))
        # OpenCV (FFmpeg) picks the container from the extension, which atomic_path's temporary lacks.
        self._tmp, self._work = tmp, tmp.with_name(tmp.name + (self.path.suffix or ".mp4"))
        self._writer = cv2.VideoWriter(str(self._work), _fourcc(self.codec), self.fps, self.size)
        if not self._writer.isOpened():
            full = _disk_full(self.path.parent)
            self.discard()
            if full:
                raise OSError(errno.ENOSPC, f"could not write video {self.path}: no space left on device "
                                            f"({'the previous version is intact' if self.path.exists() else 'nothing was written'})")
            raise ValueError(f"cannot write video '{self.path}': OpenCV could not open a {self.codec} writer")

    def write(self, rgb: np.ndarray) -> None:
        """Append one frame: uint8 [H, W, 3] RGB with (W, H) equal to ``size``."""
        if self._closed:
            raise ValueError(f"cannot write to '{self.path}': the writer is closed")
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or (rgb.shape[1], rgb.shape[0]) != self.size:
            raise ValueError(
                f"cannot write frame of shape {rgb.shape} dtype {rgb.dtype} to '{self.path}': "
                f"expected uint8 [{self.size[1]}, {self.size[0]}, 3]")
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file and move it to ``path`` (OSError naming the file when that fails)."""
        if self._closed:
            return
        self._closed = True
        self._writer.release()
        try:
            self._check_complete()
            os.replace(self._work, self._tmp)
        except BaseException as exc:
            self._work.unlink(missing_ok=True)
            self._stack.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._stack.close()  # fsync, then rename over path

    def _check_complete(self) -> None:
        """Raise an OSError unless the finished file holds every frame written.

        OpenCV's FFmpeg writer only logs a failed write ("Failed to write frame") and a full disk then
        leaves a file without its index (the MP4 ``moov`` atom): no frame decodes. Checked here, before
        the file replaces an earlier one at ``path``.
        """
        with _quiet_stderr():  # FFmpeg logs "moov atom not found" for the broken file
            cap = cv2.VideoCapture(str(self._work))
            try:
                count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
            finally:
                cap.release()
        if count != self.frames_written:
            if _disk_full(self.path.parent):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            raise OSError(errno.EIO, f"the {self.codec_name} encoder stored {count} of the {self.frames_written} "
                                     f"frames")

    def discard(self) -> None:
        """Stop and delete what was written; ``path`` keeps its earlier content, if any."""
        was_closed, self._closed = self._closed, True
        if not was_closed:
            self._writer.release()
        self._work.unlink(missing_ok=True)
        discarded = RuntimeError("video discarded")
        self._stack.__exit__(RuntimeError, discarded, None)  # removes atomic_path's temporary

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        elif not self._closed:
            self.discard()
