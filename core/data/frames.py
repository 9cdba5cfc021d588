"""Frames of a video or an image folder as dataset images: sampling every N-th frame, stable image
ids, and records whose pixels are a frame of a video file.

A record of a :class:`~core.types.DatasetIndex` names its pixels by ``file``. For a frame of a video
that is the pseudo path ``videoframe:<absolute video path>#<frame number>``
(:func:`video_frame_path`); :func:`core.data.loader.read_image_rgb` decodes it with
:func:`read_video_frame`, which keeps the last video open per thread, so reading frames in order
(a model run over every record) decodes each once, and a jump (an image strip) seeks.

Used where a model's output on footage serves as labels: the reference-model ground truth of
``ssd eval --reference`` (:mod:`core.evaluation.reference`) and ``ssd pseudo-label``
(:mod:`core.pseudo_label`). A camera is refused: its frames cannot be read twice, so record it to a
file first.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

VIDEO_FRAME_PREFIX = "videoframe:"
_VIDEO_FRAME_RE = re.compile(r"^videoframe:(.+)#(\d+)$")
_local = threading.local()


def video_frame_path(video: str | Path, index: int) -> Path:
    """The pseudo file of frame ``index`` of ``video``: ``videoframe:<absolute path>#<index>``."""
    if index < 0:
        raise ValueError(f"frame numbers start at 0, got {index}")
    return Path(f"{VIDEO_FRAME_PREFIX}{Path(video).expanduser().resolve()}#{int(index)}")


def parse_video_frame_path(file: str | Path) -> tuple[Path, int] | None:
    """``(video, frame number)`` of a pseudo path from :func:`video_frame_path`, or None for a real file."""
    m = _VIDEO_FRAME_RE.match(str(file))
    return (Path(m.group(1)), int(m.group(2))) if m else None


def read_video_frame(video: str | Path, index: int) -> np.ndarray:
    """Frame ``index`` of ``video``: uint8 [H, W, 3] RGB.

    The video stays open in the calling thread until another one is read (or
    :func:`close_video_frames`); the next frame in order needs no seek.

    Raises:
        ValueError: the video cannot be opened, or has no frame ``index`` (names the file).
    """
    from core.io.video import VideoFileSource

    path = Path(video)
    source = getattr(_local, "source", None)
    if source is None or getattr(source, "path", None) != path:
        close_video_frames()
        source = _local.source = VideoFileSource(path)
    if source.position != index:
        source.seek(index)
    frame = source.read()
    if frame is None or frame.index != index:
        count = source.frame_count
        close_video_frames()
        raise ValueError(f"{path}: frame {index} cannot be read (the video has {count} frames)")
    return frame.image


def close_video_frames() -> None:
    """Release the video :func:`read_video_frame` keeps open in this thread."""
    source = getattr(_local, "source", None)
    if source is not None:
        source.close()
        _local.source = None


@dataclass(frozen=True)
class SampledFrame:
    """One frame kept by :func:`sample_frames`.

    Attributes:
        image: uint8 [H, W, 3] RGB.
        image_id: ``<video stem>_<frame:06d>`` for a video, the file's stem for an image.
        file: the image file, or the :func:`video_frame_path` of a video frame.
        index: the frame number in the video, the position in the folder.
        source: the video, folder or image it came from.
    """

    image: np.ndarray
    image_id: str
    file: Path
    index: int
    source: str


def open_frames(spec: str | Path) -> Any:
    """A :class:`core.io.video.FrameSource` for a video file, an image folder or one image; a camera is refused.

    Raises:
        ValueError: a camera, or what :func:`core.io.video.open_source` refuses (a missing path, a file
            that is not a video, a folder without images), naming the path.
    """
    from core.io.video import open_source, parse_camera_spec

    if parse_camera_spec(spec) is not None:
        raise ValueError(f"{spec}: a camera cannot be used here (its frames cannot be read twice); record it to "
                         f"a video file and give that file")
    return open_source(spec)


def expected_frames(frame_count: int | None, every: int, max_frames: int | None) -> int | None:
    """How many frames :func:`sample_frames` keeps from a source of ``frame_count`` frames (None: unknown)."""
    if frame_count is None:
        return max_frames
    n = -(-frame_count // every)
    return n if max_frames is None else min(n, max_frames)


def sample_frames(source: Any, spec: str | Path, every: int = 1, max_frames: int | None = None,
                  id_prefix: str = "", name: str | None = None) -> Iterator[SampledFrame]:
    """Every ``every``-th frame of an open source (frames 0, N, 2N, ...), at most ``max_frames`` of them.

    Args:
        source: from :func:`open_frames` (left open).
        spec: what was opened (named in ids and messages).
        every: keep one frame in ``every`` (>= 1); for a folder, one image in ``every``.
        max_frames: stop after this many kept frames (None: all).
        id_prefix: put before every image id (to keep ids of several sources apart).
        name: a video's (or one image's) id base instead of its stem (core.data.source_ids keeps two
            different videos of one name apart this way).
    """
    from core.io.video import VideoFileSource

    if every < 1:
        raise ValueError(f"every must be >= 1 (keep one frame in N), got {every}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    is_video = isinstance(source, VideoFileSource)
    stem = Path(str(spec)).stem if name is None else name
    kept, seen = 0, set()
    for frame in source:
        if frame.index % every:
            continue
        if is_video:
            image_id, file = f"{id_prefix}{stem}_{frame.index:06d}", video_frame_path(spec, frame.index)
        else:
            file = Path(frame.file).resolve()
            image_id = f"{id_prefix}{file.stem if name is None or Path(str(spec)).is_dir() else name}"
            if image_id in seen:  # a.jpg and a.png in one folder
                image_id = f"{id_prefix}{file.name}"
            seen.add(image_id)
        yield SampledFrame(frame.image, image_id, file, frame.index, str(spec))
        kept += 1
        if max_frames is not None and kept >= max_frames:
            return


__all__ = ["VIDEO_FRAME_PREFIX", "video_frame_path", "parse_video_frame_path", "read_video_frame",
           "close_video_frames", "SampledFrame", "open_frames", "sample_frames", "expected_frames"]
