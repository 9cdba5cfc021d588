"""What every frame source shares: :class:`Frame`, the :class:`FrameSource` interface and the
error of a live source that stops. The sources are in :mod:`core.io.video` (images, folders,
cameras, ``open_source``) and :mod:`core.io.video_file` (video files)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np


class SourceReadError(RuntimeError):
    """A live source failed mid-stream (e.g. a camera was unplugged)."""


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes:
        index: position in the source (video frame number, image number in a folder,
            frames read so far for a camera), starting at 0.
        image: uint8 [H, W, 3], RGB, C-contiguous.
        time_s: seconds from the start of a video, seconds since a camera was opened,
            0.0 for still images.
        file: the file the frame came from (None for cameras).
    """

    index: int
    image: np.ndarray
    time_s: float
    file: str | None


class FrameSource:
    """Base class of all frame sources.

    Attributes:
        fps: frames per second of a video or camera, None for images.
        frame_count: number of frames when known (files, folders), None for cameras.
        is_live: True for cameras: no seeking, frames may be dropped by the consumer.
        name: a short human-readable description (file name or "camera 0").
        warnings: what went wrong without stopping the source, one sentence each, naming the
            file (an undecodable image skipped, a video that ended early); grows while reading.
    """

    fps: float | None = None
    frame_count: int | None = None
    is_live: bool = False
    name: str = ""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self._pos = 0  # index of the next frame
        self._closed = False

    def read(self) -> Frame | None:
        """The next frame, or None at the end of the source."""
        raise NotImplementedError

    def seek(self, index: int) -> None:
        """Make the next :meth:`read` return frame ``index`` (clamped to the valid range)."""
        raise ValueError(f"cannot seek {self.name!r}: it is a live source")

    @property
    def position(self) -> int:
        """Index of the frame the next :meth:`read` returns."""
        return self._pos

    def close(self) -> None:
        """Release the underlying file or device; reading afterwards returns None."""

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        frame = self.read()
        if frame is None:
            raise StopIteration
        return frame

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, fps={self.fps}, frame_count={self.frame_count})"


def capture_fps(cap: "cv2.VideoCapture") -> float | None:
    """The frame rate OpenCV reports, or None where it reports nothing usable (0, NaN)."""
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    return fps if np.isfinite(fps) and fps > 0 else None


def clamp_index(index: int, count: int | None) -> int:
    """``index`` clamped to ``[0, count - 1]`` (to ``>= 0`` when the count is unknown)."""
    index = max(0, int(index))
    if count is not None and count > 0:
        index = min(index, count - 1)
    return index
