"""Functions the views run as :class:`ssd_gui.jobs.Job` s where core has no single function for them yet.

Each has core's job shape (``on_progress``, ``should_stop``). ``export_source`` moves to
``core.inference`` when that lands; the GUI then calls core directly, as the CLI does.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


from core.jobs import report

ProgressFn = Callable[[Any], None]
StopFn = Callable[[], bool]


def load_coco_detector(device: str = "cpu", precision: str = "fp32", allow_download: bool = True,
                       on_progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> Any:
    """torchvision's COCO SSD300 from torchvision's cache, else downloaded (progress in bytes, stage "download")."""
    from core import load_detector
    from core.weights import fetch_torchvision_coco

    dest = fetch_torchvision_coco(allow_download=allow_download,
                                  on_progress=lambda done, total: report(on_progress, done, total, "download"),
                                  should_stop=should_stop)
    return load_detector(dest, device=device, precision=precision, optimize=True)


@dataclass(frozen=True)
class ExportResult:
    """Files written by :func:`export_source`, the frames processed, the video codec and the warnings."""

    video_path: str | None
    json_path: str | None
    frames: int
    cancelled: bool
    video_codec: str | None = None
    warnings: tuple[str, ...] = ()


def export_source(spec: str, detector: Any, video_path: str | Path | None, json_path: str | Path | None,
                  min_score: float, labels: set[int] | None, fps: float | None = None,
                  run_score_thresh: float = 0.05, on_progress: ProgressFn | None = None,
                  should_stop: StopFn | None = None) -> ExportResult:
    """:func:`core.inference.run_inference` (the function of ``ssd detect``) over the file source
    ``spec``, keeping the detections of ``score >= min_score`` and a label in ``labels``.
    Cancelling keeps what was done so far (``cancelled=True``)."""
    from core.inference import run_inference
    from core.video import open_source

    with open_source(spec) as src:
        if src.is_live:
            raise ValueError(f"cannot export '{spec}': live sources are not exported")
        result = run_inference(detector, src, json_path=json_path, video_path=video_path,
                               score_thresh=max(min_score, run_score_thresh), labels=labels, video_fps=fps,
                               on_progress=on_progress, should_stop=should_stop)
    return ExportResult(None if result.video_path is None else str(result.video_path),
                        None if result.json_path is None else str(result.json_path),
                        result.frames_done, result.partial, result.video_codec, result.warnings)


__all__ = ["ExportResult", "export_source", "load_coco_detector"]
