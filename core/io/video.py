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
The shared interface is :mod:`core.io.frames`, video files :mod:`core.io.video_file`; writing videos
is :mod:`core.io.video_writer`, drawing :mod:`core.io.drawing`.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from core.io.frames import Frame, FrameSource, SourceReadError, capture_fps, clamp_index
from core.io.images import IMAGE_EXTENSIONS, is_image_file, read_image
from core.io.video_file import VideoFileSource

__all__ = ["IMAGE_EXTENSIONS", "CameraSource", "Frame", "FrameSource", "ImageFolderSource", "SingleImageSource",
           "SourceReadError", "VideoFileSource", "list_cameras", "open_source", "parse_camera_spec", "read_image"]


# ----------------------------------------------------------------------------------- images

class SingleImageSource(FrameSource):
    """One image file as a one-frame source; decoded (and validated) when opened."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._image = read_image(self.path)
        self.name = self.path.name
        self.frame_count = 1

    def read(self) -> Frame | None:
        if self._closed or self._pos >= 1:
            return None
        self._pos = 1
        return Frame(0, self._image, 0.0, str(self.path))

    def seek(self, index: int) -> None:
        self._pos = clamp_index(index, 1)

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
        self._pos = clamp_index(index, len(self.files))

    def close(self) -> None:
        self._closed = True


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
        self.fps = capture_fps(self._cap)
        self._t0 = time.monotonic()

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
