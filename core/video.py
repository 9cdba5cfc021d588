"""Frame sources: video file, camera, image folder, single image.

Every source yields :class:`Frame` objects whose ``image`` is an ``H x W x 3`` uint8 RGB
array (OpenCV decodes BGR; the conversion happens here, once). Sources are iterators and
context managers::

    with open_source("clip.mp4") as src:
        for frame in src:
            ...

``open_source`` picks the implementation from the spec: an ``int`` or ``"camera:N"`` is a
camera, a folder is a folder of images, a file with an image extension is one image and
anything else is tried as a video. Problems found when opening (missing path, not a video,
empty folder, unreadable image) raise ``ValueError`` naming the path and what is wrong.
A camera that stops delivering frames mid-stream raises :class:`SourceReadError`.
Writing videos is :mod:`core.video_writer`; drawing is :mod:`core.drawing`.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from core.images import IMAGE_EXTENSIONS, is_image_file, read_image

__all__ = ["IMAGE_EXTENSIONS", "CameraSource", "Frame", "FrameSource", "ImageFolderSource", "SingleImageSource",
           "SourceReadError", "VideoFileSource", "list_cameras", "open_source", "parse_camera_spec", "read_image"]


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

    def read(self) -> Frame | None:
        """The next frame, or None at the end of the source."""
        raise NotImplementedError

    def seek(self, index: int) -> None:
        """Make the next :meth:`read` return frame ``index`` (clamped to the valid range)."""
        raise ValueError(f"cannot seek {self.name!r}: it is a live source")

    @property
    def position(self) -> int:
        """Index of the frame the next :meth:`read` returns."""
        raise NotImplementedError

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


def _capture_fps(cap: "cv2.VideoCapture") -> float | None:
    """The frame rate OpenCV reports, or None where it reports nothing usable (0, NaN)."""
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    return fps if np.isfinite(fps) and fps > 0 else None


def _clamp_index(index: int, count: int | None) -> int:
    index = max(0, int(index))
    if count is not None and count > 0:
        index = min(index, count - 1)
    return index


# ----------------------------------------------------------------------------------- images

class SingleImageSource(FrameSource):
    """One image file as a one-frame source; decoded (and validated) when opened."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._image = read_image(self.path)
        self.name = self.path.name
        self.frame_count = 1
        self._pos = 0
        self._closed = False

    @property
    def position(self) -> int:
        return self._pos

    def read(self) -> Frame | None:
        if self._closed or self._pos >= 1:
            return None
        self._pos = 1
        return Frame(0, self._image, 0.0, str(self.path))

    def seek(self, index: int) -> None:
        self._pos = _clamp_index(index, 1)

    def close(self) -> None:
        self._closed = True


class ImageFolderSource(FrameSource):
    """The images of a folder in sorted file-name order (not recursive).

    An image that cannot be decoded mid-folder is skipped and described in ``warnings``,
    so that one bad file does not stop a long run; the frame indices keep their gap.
    """

    def __init__(self, folder: str | Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ValueError(f"cannot open image folder '{self.folder}': not a folder")
        self.files: list[Path] = sorted(
            p for p in self.folder.iterdir() if p.is_file() and is_image_file(p))
        if not self.files:
            raise ValueError(
                f"cannot open image folder '{self.folder}': it holds no images "
                f"(looked for {', '.join(IMAGE_EXTENSIONS)})")
        self.name = self.folder.name or str(self.folder)
        self.frame_count = len(self.files)
        self._pos = 0
        self._closed = False

    @property
    def position(self) -> int:
        return self._pos

    def read(self) -> Frame | None:
        while not self._closed and self._pos < len(self.files):
            index, path = self._pos, self.files[self._pos]
            self._pos += 1
            try:
                image = read_image(path)
            except ValueError as exc:
                self.warnings.append(str(exc))
                continue
            return Frame(index, image, 0.0, str(path))
        return None

    def seek(self, index: int) -> None:
        self._pos = _clamp_index(index, len(self.files))

    def close(self) -> None:
        self._closed = True


# ----------------------------------------------------------------------------------- videos

class VideoFileSource(FrameSource):
    """A video file decoded with ``cv2.VideoCapture``.

    The first frame is decoded when the source is opened, so that a file OpenCV "opens" but
    cannot decode is reported at once rather than as an empty video.

    Truncated files (a download or copy cut short: the header announces more frames than the
    data holds) are found when the source is opened, by seeking to the last announced frame;
    when it does not decode, a binary search of seeks finds the last frame that does (a few
    dozen decoded frames). ``frame_count`` is then the number of frames that decode,
    ``header_frame_count`` what the header announced, and ``warnings`` says so. Should reading
    still end earlier than that, ``frame_count`` is lowered again when the end is met.

    Frame numbers are never guessed: after a seek the frame's own timestamp says which frame
    OpenCV decoded, and the frame is labelled with that number. A seek past the last frame that
    decodes lands on that last frame (as a seek past the end of any video does), labelled with
    its true index.

    Attributes:
        frame_count: frames that decode (the header's count until the source learns better).
        header_frame_count: the count the file's header announces (None when it has none).
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"cannot open video '{self.path}': no such file")
        self._cap = self._open()
        ok, bgr = self._cap.read()
        if not ok or bgr is None or bgr.size == 0:
            self._cap.release()
            raise ValueError(f"cannot open video '{self.path}': no frame could be decoded")
        self._pending: np.ndarray | None = bgr
        self.name = self.path.name
        self.fps = _capture_fps(self._cap)
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.header_frame_count: int | None = count if count > 0 else None
        self.frame_count = self.header_frame_count
        self._pos = 0
        self._check_pts = False
        self._closed = False
        if self.header_frame_count is not None and self.header_frame_count > 1:
            self._find_decodable_end(self.header_frame_count)

    def _open(self) -> "cv2.VideoCapture":
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise ValueError(f"cannot open video '{self.path}': not a video or unsupported codec")
        return cap

    @property
    def truncated(self) -> bool:
        """True when fewer frames decode than the header announces."""
        return (self.header_frame_count is not None and self.frame_count is not None
                and self.frame_count < self.header_frame_count)

    def _true_index(self) -> int | None:
        """Index of the frame just decoded, from its timestamp (None without a frame rate)."""
        if not self.fps:
            return None
        return int(round(float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) * self.fps / 1000.0))

    def _decodes(self, index: int) -> bool:
        """Whether seeking to frame ``index`` yields that very frame (moves the capture)."""
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, float(index))
        if not self._cap.grab():
            return False
        true = self._true_index()
        return true is None or true == index

    def _find_decodable_end(self, announced: int) -> None:
        """Check that the last announced frame decodes; else find the last one that does."""
        if not self._decodes(announced - 1):
            lo, hi = 0, announced - 1  # frame lo decodes (frame 0 did), frame hi does not
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if self._decodes(mid) else (lo, mid)
            self._ended_early(lo + 1)
        # Start again from a fresh capture: sequential reading after seeks is what codecs get wrong.
        self._cap.release()
        self._cap = self._open()
        self._pending = None

    def _ended_early(self, count: int) -> None:
        if self.frame_count is not None and count >= self.frame_count:
            return
        self.frame_count = count
        announced = self.header_frame_count
        self.warnings.append(
            f"{self.path}: the video ended early: {count} of the {announced} frames its header announces "
            f"could be decoded (the file is probably truncated)")

    @property
    def position(self) -> int:
        return self._pos

    def read(self) -> Frame | None:
        if self._closed:
            return None
        if self._pending is not None:
            bgr, self._pending = self._pending, None
        else:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                if self._check_pts:  # a seek found nothing there: the end, whose exact place is unknown
                    self._check_pts = False
                elif self.frame_count is not None and self._pos < self.frame_count:
                    self._ended_early(self._pos)  # read on from frame _pos - 1, which decoded
                return None
        index = self._pos
        if self._check_pts:
            self._check_pts = False
            true = self._true_index()
            index = index if true is None else true
        self._pos = index + 1
        if self.frame_count is not None and self._pos > self.frame_count:
            self.frame_count = self._pos  # decoded beyond an end that seeking had suggested
        t = index / self.fps if self.fps else float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
        return Frame(index, np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), t, str(self.path))

    def seek(self, index: int) -> None:
        """Make the next :meth:`read` return frame ``index``, clamped to the frames that decode.

        Where the codec lands elsewhere, the frame read is labelled with its own index (from its
        timestamp), never with ``index``.
        """
        if self._closed:
            return
        index = _clamp_index(index, self.frame_count)
        self._pending = None
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, float(index))
        self._pos = index
        self._check_pts = True

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pending = None
            self._cap.release()


class CameraSource(FrameSource):
    """A camera by OpenCV index. Reading a frame that never comes raises :class:`SourceReadError`."""

    is_live = True

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = int(index)
        self.name = f"camera {self.index}"
        self._cap = cv2.VideoCapture(self.index)
        if not self._cap.isOpened():
            self._cap.release()
            raise ValueError(f"cannot open camera {self.index}: no such device or it is busy")
        self.fps = _capture_fps(self._cap)
        self._pos = 0
        self._t0 = time.monotonic()
        self._closed = False

    @property
    def position(self) -> int:
        return self._pos

    def read(self) -> Frame | None:
        if self._closed:
            return None
        ok, bgr = self._cap.read()
        if not ok or bgr is None or bgr.size == 0:
            raise SourceReadError(f"camera {self.index} stopped delivering frames (unplugged or in use?)")
        index = self._pos
        self._pos += 1
        return Frame(index, np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)),
                     time.monotonic() - self._t0, None)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cap.release()


# ------------------------------------------------------------------------------------ opening

def parse_camera_spec(spec: str | Path | int) -> int | None:
    """The camera index of ``spec`` (an int or ``"camera:N"``), else None."""
    if isinstance(spec, bool):
        return None
    if isinstance(spec, int):
        return spec
    if isinstance(spec, str) and spec.lower().startswith("camera:"):
        rest = spec.split(":", 1)[1]
        if not rest.strip().isdigit():
            raise ValueError(f"bad camera spec {spec!r}: expected 'camera:N' with N a non-negative integer")
        return int(rest)
    return None


def open_source(spec: str | Path | int) -> FrameSource:
    """Open a camera (``int`` or ``"camera:N"``), an image folder, one image or a video file.

    Raises:
        ValueError: the path is missing, or the file or folder cannot be read as a source.
    """
    cam = parse_camera_spec(spec)
    if cam is not None:
        return CameraSource(cam)
    path = Path(spec)
    if not path.exists():
        raise ValueError(f"cannot open source '{path}': no such file or folder")
    if path.is_dir():
        return ImageFolderSource(path)
    if is_image_file(path):
        return SingleImageSource(path)
    return VideoFileSource(path)


def list_cameras(max_index: int = 4) -> list[int]:
    """Indices in ``[0, max_index)`` of the cameras that actually open."""
    found = []
    for i in range(max_index):
        # On Linux a camera is a /dev/videoN node; probing absent ones only makes OpenCV log warnings.
        if sys.platform.startswith("linux") and not os.path.exists(f"/dev/video{i}"):
            continue
        cap = cv2.VideoCapture(i)
        try:
            if cap.isOpened():
                found.append(i)
        finally:
            cap.release()
    return found
