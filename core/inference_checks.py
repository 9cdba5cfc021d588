"""Checks of ``ssd detect``'s inputs made before any work: the files a source reads (which no output may
be) and whether tracking can apply to a source (:func:`core.inference.run_inference` and the command call
them before the model loads)."""
from __future__ import annotations

from pathlib import Path

from core.io.images import is_image_file
from core.io.video import FrameSource, ImageFolderSource, SingleImageSource, parse_camera_spec
from core.tracking.bytetrack import TrackerConfig


def check_tracking(src: FrameSource, tracker: TrackerConfig | None, mot_path: str | Path | None) -> None:
    """ValueError for a MOT file without tracking, or tracking asked of an image or a folder of images
    (:func:`run_inference` calls it on the open source; ``ssd detect`` before the model loads)."""
    if mot_path is not None and tracker is None:
        raise ValueError("a MOTChallenge tracks file needs tracking: give a tracker (ssd detect --track)")
    if tracker is not None and isinstance(src, (SingleImageSource, ImageFolderSource)):
        raise ValueError(f"tracking needs a video or a camera; {src.name} is an image or a folder of images")


def source_inputs(source: str | Path | int | FrameSource) -> list[tuple[str, Path]]:
    """The files a source reads, as ``(what, path)`` pairs for :func:`check_outputs`: the video or image, or
    every image of a folder (an output must be none of them). A camera reads no file."""
    if isinstance(source, ImageFolderSource):
        return [("source image", Path(f)) for f in source.files]
    path = getattr(source, "path", None) if isinstance(source, FrameSource) else source
    if not isinstance(path, (str, Path)) or parse_camera_spec(path) is not None:
        return []
    p = Path(path).expanduser()
    if p.is_dir():
        return [("source image", f) for f in sorted(p.iterdir()) if f.is_file() and is_image_file(f)]
    return [("source image" if is_image_file(p) else "source video", p)]


__all__ = ["check_tracking", "source_inputs"]
