"""Running a detector over a source and writing what it finds: the one loop of ``ssd detect``
and of the Detect view's export.

    result = run_inference(detector, "clip.mp4", json_path="clip.json", video_path="clip_boxes.mp4",
                           score_thresh=0.3, on_progress=print, should_stop=lambda: False)

Nothing is lost on the way: both output paths are checked before the first frame; the JSON is
written atomically (:func:`core.io.fileio.write_json`, which also refuses NaN) and rewritten every
``save_every_s`` seconds marked ``"partial": true`` with the frames done, so a long video that
is stopped, interrupted (Ctrl-C) or killed still leaves a valid file; the video is written to a
temporary file and moved into place when it ends (:class:`core.io.video_writer.VideoWriter`).

The detections JSON (``schema`` 1)::

    {"weights", "class_names", "source", "score_thresh", "class_filter" (null or [label, ...]),
     "partial", "frames_done", "frames_total", "video" (null or {"file", "codec", "score_thresh"}), "warnings",
     "images": [{"file", "frame" (videos and cameras), "width", "height",
                 "detections": [{"box": [x1, y1, x2, y2], "score", "label", "name"}]}]}

Boxes are in pixels of the frame; ``label`` indexes ``class_names`` (0 is the background). With
``tracker`` (``ssd detect --track``) every detection also has ``"track"``, the id of its track (null
when it belongs to none), and the document a ``"tracker"`` object (its settings and the distinct
objects seen per class label); ``mot_path`` writes the tracks in the MOTChallenge text format too
(:mod:`core.tracking.recorder`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Protocol, Sequence

import cv2
import numpy as np

from core.io.drawing import class_name, draw_detections
from core.io.fileio import Inputs, check_output_file, write_json
from core.inference_loop import detect_interleaved
from core.jobs import ProgressFn, StopFn
from core.model_spec import model_inputs
from core.types import Detections
from core.io.video import Frame, FrameSource, ImageFolderSource, SingleImageSource, open_source
from core.io.video_writer import VideoWriter
from core.inference_checks import check_tracking, source_inputs  # noqa: F401 - also this module's API
from core.tracking.bytetrack import TrackerConfig
from core.tracking.recorder import TrackRecorder

#: Seconds between two partial saves of the JSON during a long run.
SAVE_EVERY_S = 30.0
#: Frame rate of an annotated video made from still images (one image per second).
IMAGE_VIDEO_FPS = 1.0
#: Boxes drawn into an annotated video score at least this by default (the Detect view's default
#: confidence too). The JSON keeps every detection above the score threshold (0.01 by default, what an
#: evaluation needs), but drawn at 0.01 a video shows dozens of boxes per object.
VIDEO_SCORE_THRESH = 0.4


class DetectorLike(Protocol):
    """What :func:`run_inference` needs of :class:`core.detector.Detector`."""

    class_names: tuple[str, ...]

    def detect(self, images: Sequence[np.ndarray], score_thresh: float | None = None) -> list[Detections]: ...


@dataclass(frozen=True)
class InferenceResult:
    """What a run wrote.

    Attributes:
        json_path, video_path: the files written (None when not asked for).
        video_codec: four-character code of the video's codec (``"avc1"`` is H.264, ``"mp4v"``
            MPEG-4 Part 2), None without a video.
        frames_done: frames (images) detected and written.
        frames_total: frames the source holds (those that decode, for a truncated video);
            None for a camera.
        detections: detections written to the JSON.
        partial: the run stopped before the end of the source (``should_stop``, Ctrl-C, an error).
        warnings: skipped images, a video that ended early, dropped non-finite detections.
        mot_path: the MOTChallenge tracks file written (None when not asked for).
    """

    json_path: Path | None
    video_path: Path | None
    video_codec: str | None
    frames_done: int
    frames_total: int | None
    detections: int
    partial: bool
    warnings: tuple[str, ...] = field(default_factory=tuple)
    mot_path: Path | None = None


class InferenceInterrupted(KeyboardInterrupt):
    """Ctrl-C (KeyboardInterrupt) during :func:`run_inference`, after the frames done were saved.

    ``result`` says what was written (``partial`` True).
    """

    def __init__(self, result: InferenceResult) -> None:
        super().__init__(f"interrupted after {result.frames_done} frame(s)")
        self.result = result


def detections_json_entry(dets: Detections, class_names: Sequence[str], file: str, width: int, height: int,
                          frame: int | None = None, track_ids: np.ndarray | None = None) -> dict[str, Any]:
    """One entry of the ``images`` list: boxes x1, y1, x2, y2 in pixels rounded to 1/1000 px; with
    ``track_ids`` (int [N], -1 for none) each detection gets ``"track"`` (the id, or None)."""
    entry: dict[str, Any] = {"file": file}
    if frame is not None:
        entry["frame"] = int(frame)
    entry.update(width=int(width), height=int(height), detections=[
        {"box": [round(float(v), 3) for v in box], "score": round(float(s), 6), "label": int(lab),
         "name": class_name(int(lab), class_names)}
        for box, s, lab in zip(dets.boxes, dets.scores, dets.labels)])
    if track_ids is not None:
        for d, tid in zip(entry["detections"], np.asarray(track_ids).tolist()):
            d["track"] = int(tid) if tid >= 0 else None
    return entry


def detections_json(weights: str | Path | None, class_names: Sequence[str], entries: list[dict[str, Any]], *,
                    source: str | None = None, score_thresh: float | None = None,
                    class_filter: Collection[int] | None = None, partial: bool = False,
                    frames_total: int | None = None, video: dict[str, str] | None = None,
                    warnings: Sequence[str] = ()) -> dict[str, Any]:
    """The whole detections document (schema in the module docstring)."""
    return {"schema": 1, "weights": None if weights is None else str(weights), "class_names": list(class_names),
            "source": source, "score_thresh": score_thresh,
            "class_filter": None if class_filter is None else sorted(int(c) for c in class_filter),
            "partial": bool(partial), "frames_done": len(entries), "frames_total": frames_total,
            "video": video, "warnings": list(warnings), "images": entries}


def finite_only(dets: Detections) -> tuple[Detections, int]:
    """``dets`` without the detections whose box or score is NaN or infinite, and how many went."""
    keep = np.isfinite(dets.boxes).all(axis=1) & np.isfinite(dets.scores)
    if keep.all():
        return dets, 0
    return Detections(dets.boxes[keep], dets.scores[keep], dets.labels[keep]), int((~keep).sum())


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` scaled to fit ``size`` = (width, height) with its aspect ratio kept, on black."""
    w, h = size
    ih, iw = image.shape[:2]
    if (iw, ih) == (w, h):
        return image
    s = min(w / iw, h / ih)
    nw, nh = max(1, int(round(iw * s))), max(1, int(round(ih * s)))
    out = np.zeros((h, w, 3), np.uint8)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


class RunOutputs:
    """The files of one source's run: entries for the JSON, the video writer, the partial saves (a
    :class:`core.inference_loop.FrameSink`)."""

    def __init__(self, detector: DetectorLike, source: FrameSource, spec: str, json_path: Path | None,
                 video_path: Path | None, score_thresh: float | None, labels: set[int] | None,
                 video_fps: float | None, save_every_s: float, weights: str | Path | None,
                 video_thresh: float | None = None, tracks: TrackRecorder | None = None) -> None:
        self.detector, self.source, self.spec = detector, source, spec
        self.json_path, self.video_path = json_path, video_path
        self.names = tuple(detector.class_names)
        self.score_thresh = score_thresh if score_thresh is not None else _model_threshold(detector)
        self.labels = labels
        # what the video shows: never below what the JSON keeps (nothing under it was kept)
        self.video_thresh = max(VIDEO_SCORE_THRESH if video_thresh is None else video_thresh, self.score_thresh or 0.0)
        self.is_still = isinstance(source, (SingleImageSource, ImageFolderSource))
        self.video_fps = video_fps or (IMAGE_VIDEO_FPS if self.is_still else source.fps) or 25.0
        self.save_every_s, self.tracks = save_every_s, tracks
        self.weights = weights if weights is not None else getattr(detector, "weights_path", None)
        self.entries: list[dict[str, Any]] = []
        self.writer: VideoWriter | None = None
        self.detections = self.non_finite = self.frames_done = 0
        self.last_save = time.monotonic()

    def add(self, frame: Frame, dets: Detections) -> None:
        """Record one frame's detections (filtered by class) and draw it into the video."""
        if self.labels is not None:
            dets = dets.filter(0.0, self.labels)
        dets, dropped = finite_only(dets)
        self.non_finite += dropped
        h, w = frame.image.shape[:2]
        ids = self.tracks.add(frame.index, dets) if self.tracks is not None else None
        if self.json_path is not None:
            self.entries.append(detections_json_entry(dets, self.names, frame.file or self.spec, w, h,
                                                      frame=None if self.is_still else frame.index, track_ids=ids))
        self.detections += len(dets)
        if self.video_path is not None:
            if self.writer is None:
                self.writer = VideoWriter(self.video_path, self.video_fps, (w, h))
            shown = dets.filter(self.video_thresh, None) if self.video_thresh > 0 else dets
            drawn = draw_detections(frame.image, shown, self.names)
            if self.tracks is not None:
                drawn = self.tracks.draw(drawn)
            self.writer.write(letterbox(drawn, self.writer.size))
        self.frames_done += 1

    def warnings(self) -> list[str]:
        out = list(self.source.warnings)
        if self.non_finite:
            out.append(f"{self.non_finite} detection(s) with a non-finite box or score were dropped: the model "
                       f"outputs NaN or infinity (check its weights)")
        return out

    def save_json(self, partial: bool) -> None:
        if self.tracks is not None:
            self.tracks.save()
        if self.json_path is None:
            return
        video = None if self.writer is None else {"file": str(self.video_path), "codec": self.writer.codec,
                                                  "score_thresh": self.video_thresh}
        doc = detections_json(self.weights, self.names, self.entries, source=self.spec, score_thresh=self.score_thresh,
                              class_filter=self.labels, partial=partial, frames_total=self.source.frame_count,
                              video=video, warnings=self.warnings())
        if self.tracks is not None:
            doc["tracker"] = self.tracks.describe()
        write_json(self.json_path, doc, "detections file")
        self.last_save = time.monotonic()

    def maybe_save(self) -> None:
        if time.monotonic() - self.last_save >= self.save_every_s:
            self.save_json(partial=True)

    def finish(self, partial: bool) -> InferenceResult:
        """Close the video (moved into place) and write the final JSON."""
        if self.writer is not None:
            self.writer.close()
        self.save_json(partial)
        return InferenceResult(self.json_path, self.video_path if self.writer else None,
                               self.writer.codec if self.writer else None, self.frames_done,
                               self.source.frame_count, self.detections, partial, tuple(self.warnings()),
                               self.tracks.mot_path if self.tracks is not None else None)

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.discard()


def check_outputs(json_path: str | Path | None, video_path: str | Path | None, score_thresh: float | None = None,
                  batch_size: int = 1, max_frames: int | None = None, video_thresh: float | None = None,
                  mot_path: str | Path | None = None, *, inputs: Inputs = (), overwrite_video: bool = True
                  ) -> tuple[Path | None, Path | None]:
    """Check a run's options and output paths before any work (:func:`run_inference` calls it first).

    ``inputs``: (what, path) pairs of the run's inputs (the source, the weights' files), which no output
    may be (symlinks and hard links included). ``overwrite_video`` False refuses a video file that exists.

    Raises ValueError (an output that is an input, an existing folder, the same file twice, an existing
    video without ``overwrite_video``, a bad number) or OSError (a folder that cannot be written),
    naming the path or the option. Returns the JSON and video paths as ``Path``.
    """
    if json_path is None and video_path is None and mot_path is None:
        raise ValueError("nothing to write: give a detections file (JSON), a video file, or both")
    if score_thresh is not None and not (0.0 <= score_thresh <= 1.0):
        raise ValueError(f"score threshold must be in [0, 1], got {score_thresh}")
    if video_thresh is not None and not (0.0 <= video_thresh <= 1.0):
        raise ValueError(f"video score threshold must be in [0, 1], got {video_thresh}")
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max frames must be >= 1, got {max_frames}")
    jp = check_output_file(json_path, "detections file", inputs=inputs) if json_path is not None else None
    vp = check_output_file(video_path, "video file", inputs=inputs) if video_path is not None else None
    mp = check_output_file(mot_path, "MOTChallenge tracks file", inputs=inputs) if mot_path is not None else None
    if vp is not None and not overwrite_video and vp.exists():
        raise ValueError(f"video file {vp} exists; choose another name, or replace it with --overwrite")
    named = [(what, p.resolve()) for what, p in (("detections file", jp), ("video file", vp),
                                                 ("MOTChallenge tracks file", mp)) if p is not None]
    for k, (what, p) in enumerate(named):
        for other, q in named[k + 1:]:
            if p == q:
                raise ValueError(f"the {what} and the {other} are the same file: {p}")
    return jp, vp


def run_inference(detector: DetectorLike, source: str | Path | int | FrameSource, *,
                  json_path: str | Path | None = None, video_path: str | Path | None = None,
                  score_thresh: float | None = None, labels: Collection[int] | None = None,
                  batch_size: int = 1, video_fps: float | None = None, max_frames: int | None = None,
                  save_every_s: float = SAVE_EVERY_S, weights: str | Path | None = None,
                  video_thresh: float | None = None, tracker: TrackerConfig | None = None,
                  mot_path: str | Path | None = None, on_progress: ProgressFn | None = None,
                  should_stop: StopFn | None = None) -> InferenceResult:
    """Detect objects in every frame of ``source``; write the detections JSON and/or an annotated video.

    Args:
        detector: a :class:`core.detector.Detector` (or anything with ``class_names`` and ``detect``).
        source: an image, a folder of images, a video file, ``"camera:N"`` (see
            :func:`core.io.video.open_source`), or an open :class:`FrameSource` (left open).
        json_path: the detections JSON to write (schema in the module docstring), or None.
        video_path: the annotated video (MP4: H.264 where OpenCV can write it, else MPEG-4 Part 2;
            the result says which), or None. Frames of another size than the first are letterboxed.
        score_thresh: keep detections scoring at least this (None: the model's own, 0.01); the video
            draws those scoring ``video_thresh`` or more (None: :data:`VIDEO_SCORE_THRESH`).
        labels: keep only these class indices (the class filter); None keeps all.
        batch_size: frames per forward pass.
        video_fps: frame rate of the video (default: the source's; 1 for still images).
        max_frames: stop after this many frames (a camera); the result is then not partial.
        save_every_s: seconds between partial saves of the JSON.
        weights: what the JSON names as the weights (default: ``detector.weights_path``).
        tracker, mot_path: track the kept detections (:mod:`core.tracking`; videos and cameras only): ids in
            the JSON and the video, and the MOTChallenge text file ``mot_path`` (which needs ``tracker``).
        on_progress: called with :class:`core.jobs.Progress` (stage "detect", detail the file) per frame.
        should_stop: polled between batches; True ends the run early with the frames done kept
            (``partial`` True in the result and the JSON).

    Returns:
        An :class:`InferenceResult`.

    Raises:
        ValueError / OSError before any frame: a bad argument, source or output path.
        ValueError at the end: a folder none of whose images could be read (nothing is written).
        InferenceInterrupted: Ctrl-C; the frames done were written first (partial). Any other error
            mid-run is raised after the frames done were saved (partial).

    (Over 60 lines with this documentation of its many options; the body is 25.)
    """
    jp, vp = check_outputs(json_path, video_path, score_thresh, batch_size, max_frames, video_thresh, mot_path,
                           inputs=source_inputs(source) + model_inputs(getattr(detector, "weights_path", None)))
    owned = not isinstance(source, FrameSource)
    src = open_source(source) if owned else source  # type: ignore[arg-type]
    try:
        check_tracking(src, tracker, mot_path)
    except ValueError:
        if owned:
            src.close()
        raise
    spec = _describe_source(src, source)
    out = RunOutputs(detector, src, spec, jp, vp, score_thresh, None if labels is None else set(labels), video_fps,
                     save_every_s, weights, video_thresh, None if tracker is None else TrackRecorder(tracker, mot_path))
    try:
        stopped = detect_interleaved(detector, [out], score_thresh, batch_size, max_frames, on_progress, should_stop)
        if out.frames_done == 0 and src.warnings and not stopped:
            out.discard()
            raise ValueError(f"nothing could be read from {spec}: " + "; ".join(src.warnings))
        return out.finish(partial=stopped)
    except KeyboardInterrupt:
        raise InferenceInterrupted(out.finish(partial=True)) from None
    except Exception:
        if out.frames_done:
            _save_partial_quietly(out)
        else:
            out.discard()
        raise
    finally:
        if owned:
            src.close()


def _describe_source(src: FrameSource, spec: object) -> str:
    for attr in ("path", "folder"):
        if getattr(src, attr, None) is not None:
            return str(getattr(src, attr))
    return spec if isinstance(spec, str) else src.name


def _model_threshold(detector: DetectorLike) -> float | None:
    config = getattr(detector, "config", None)
    return None if config is None else float(config.postprocess.score_thresh)


def _save_partial_quietly(out: RunOutputs) -> None:
    """After an error: keep the frames done (the error that follows matters more than a failed save)."""
    try:
        out.finish(partial=True)
    except Exception:  # noqa: BLE001 - the original error is re-raised by the caller
        out.discard()
