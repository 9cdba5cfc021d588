"""Frame sources (video file, camera, image folder, single image), a video writer and
detection drawing.

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
"""
from __future__ import annotations

import colorsys
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from core.types import Detections

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


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
    """

    fps: float | None = None
    frame_count: int | None = None
    is_live: bool = False
    name: str = ""

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

def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 [H, W, 3] RGB.

    Raises:
        ValueError: the file is missing, cannot be decoded, or has zero width or height.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"cannot read image '{p}': no such file")
    # np.fromfile + imdecode instead of imread: imread fails silently on non-ASCII paths.
    try:
        data = np.fromfile(str(p), dtype=np.uint8)
    except OSError as exc:
        raise ValueError(f"cannot read image '{p}': {exc}") from exc
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise ValueError(f"cannot read image '{p}': not an image or unsupported format")
    if bgr.ndim != 3 or bgr.shape[0] == 0 or bgr.shape[1] == 0:
        raise ValueError(f"cannot read image '{p}': empty image of shape {bgr.shape}")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


class SingleImageSource(FrameSource):
    """One image file as a one-frame source; decoded (and validated) when opened."""

    def __init__(self, path: str | Path) -> None:
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
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ValueError(f"cannot open image folder '{self.folder}': not a folder")
        self.files: list[Path] = sorted(
            p for p in self.folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not self.files:
            raise ValueError(
                f"cannot open image folder '{self.folder}': it holds no images "
                f"(looked for {', '.join(IMAGE_EXTENSIONS)})")
        self.name = self.folder.name or str(self.folder)
        self.frame_count = len(self.files)
        self.warnings: list[str] = []
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
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"cannot open video '{self.path}': no such file")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise ValueError(f"cannot open video '{self.path}': not a video or unsupported codec")
        ok, bgr = self._cap.read()
        if not ok or bgr is None or bgr.size == 0:
            self._cap.release()
            raise ValueError(f"cannot open video '{self.path}': no frame could be decoded")
        self._pending: np.ndarray | None = bgr
        self.name = self.path.name
        self.fps = _capture_fps(self._cap)
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 else None
        self._pos = 0
        self._closed = False

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
                return None
        index = self._pos
        self._pos += 1
        t = index / self.fps if self.fps else float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
        return Frame(index, np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), t, str(self.path))

    def seek(self, index: int) -> None:
        if self._closed:
            return
        index = _clamp_index(index, self.frame_count)
        self._pending = None
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, float(index))
        self._pos = index

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pending = None
            self._cap.release()


class CameraSource(FrameSource):
    """A camera by OpenCV index. Reading a frame that never comes raises :class:`SourceReadError`."""

    is_live = True

    def __init__(self, index: int) -> None:
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
    if path.suffix.lower() in IMAGE_EXTENSIONS:
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


# ------------------------------------------------------------------------------------ writing

class VideoWriter:
    """Writes RGB frames of one size to an mp4 file (``mp4v`` codec).

    Args:
        path: output file; its folder is created when missing.
        fps: frames per second (> 0).
        size: (width, height) of every frame in pixels.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        w, h = int(size[0]), int(size[1])
        if w <= 0 or h <= 0:
            raise ValueError(f"cannot write video '{self.path}': bad frame size {size}")
        if not (fps > 0 and np.isfinite(fps)):
            raise ValueError(f"cannot write video '{self.path}': bad fps {fps}")
        self.size = (w, h)
        self.fps = float(fps)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
        if not self._writer.isOpened():
            raise ValueError(f"cannot write video '{self.path}': OpenCV could not open an mp4v writer")
        self.frames_written = 0
        self._closed = False

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
        if not self._closed:
            self._closed = True
            self._writer.release()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------------ drawing

_GOLDEN = 0.618033988749895


def class_color(label: int) -> tuple[int, int, int]:
    """A stable RGB colour for ``label``.

    Hues step by the golden ratio so that neighbouring labels get far-apart hues; saturation
    and value alternate between two levels so that labels whose hues wrap close stay apart.
    """
    h = (0.1 + label * _GOLDEN) % 1.0
    s = 0.85 if label % 2 == 0 else 0.65
    v = 0.95 if (label // 2) % 2 == 0 else 0.80
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def label_text(label: int, score: float, class_names: Sequence[str]) -> str:
    """``"name 0.87"``; an index beyond ``class_names`` shows as ``"class <label>"``."""
    name = class_names[label] if 0 <= label < len(class_names) else f"class {label}"
    return f"{name} {score:.2f}"


def draw_detections(image_rgb: np.ndarray, detections: Detections, class_names: Sequence[str],
                    min_score: float = 0.0, labels: set[int] | None = None) -> np.ndarray:
    """A copy of ``image_rgb`` (uint8 [H, W, 3]) with boxes, class names and scores drawn.

    Args:
        detections: boxes x1, y1, x2, y2 in pixels of ``image_rgb``.
        class_names: index 0 is the background; label l is drawn as ``class_names[l]``.
        min_score: detections below it are not drawn.
        labels: if given, only these labels are drawn.
    """
    out = np.ascontiguousarray(image_rgb.copy())
    dets = detections.filter(min_score, labels)
    h, w = out.shape[:2]
    thick = max(1, int(round(min(h, w) / 300)))
    font_scale = max(0.35, min(h, w) / 900)
    # Lowest scores first so that the most confident box ends on top.
    for i in np.argsort(dets.scores, kind="stable"):
        x1, y1, x2, y2 = (int(round(float(v))) for v in dets.boxes[i])
        x1, x2 = max(0, min(x1, w - 1)), max(0, min(x2, w - 1))
        y1, y2 = max(0, min(y1, h - 1)), max(0, min(y2, h - 1))
        color = class_color(int(dets.labels[i]))
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick)
        text = label_text(int(dets.labels[i]), float(dets.scores[i]), class_names)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        ty = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y1
        cv2.rectangle(out, (x1, ty), (min(w - 1, x1 + tw + 4), ty + th + base + 2), color, -1)
        luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
        ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
        cv2.putText(out, text, (x1 + 2, ty + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, ink, 1, cv2.LINE_AA)
    return out
