"""``ssd detect`` over several sources at once: one detections JSON (and annotated video, MOT file) per
source, the frames of all the sources going through the model together.

    results = run_inference_many(detector, ["yard.mp4", "shop.mp4"], json_path="out/", video_path="out/{stem}.mp4",
                                 batch_size=2)   # each forward pass: the next frame of each video

Naming: with several sources each output is either a folder (one that exists, or a path ending in ``/``),
where a source's file is named after its stem (:data:`OUTPUT_NAMES`: ``<stem>_detections.json``,
``<stem>_detections.mp4``, ``<stem>_tracks.txt``, as the Detect view's export names its files), or a path
with ``{stem}`` in it, replaced by each source's stem. The stem of a video or an image is its file name
without the extension, of a folder its name, of ``camera:N`` ``cameraN``.

Refused before any work (before the model loads, in ``ssd detect``): two sources whose outputs would be the
same file (the same stem: ``a/clip.mp4`` and ``b/clip.mp4``, or one source given twice), an output that is
one of the sources' files (a video, an image, an image of a source folder) or of the weights (symlinks and hard
links count: :func:`core.io.fileio.check_not_input`), and everything :func:`core.inference.check_outputs` refuses for one source. The engine is
:func:`core.inference_loop.detect_interleaved` with one :class:`core.inference.RunOutputs` per source, the
same as :func:`core.inference.run_inference`'s; Ctrl-C and errors keep each source's frames done (partial).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Sequence

from core.inference import (SAVE_EVERY_S, DetectorLike, InferenceResult, RunOutputs, _describe_source,
                            _save_partial_quietly, check_outputs, check_tracking, source_inputs)
from core.inference_loop import detect_interleaved
from core.io.fileio import Inputs, same_file
from core.io.video import FrameSource, open_source, parse_camera_spec
from core.jobs import ProgressFn, StopFn
from core.model_spec import model_inputs
from core.tracking.bytetrack import TrackerConfig
from core.tracking.recorder import TrackRecorder

#: The file each output gets in an output folder, per kind.
OUTPUT_NAMES: dict[str, str] = {"json": "{stem}_detections.json", "video": "{stem}_detections.mp4",
                                "mot": "{stem}_tracks.txt"}
_WHAT = {"json": "detections file", "video": "video file", "mot": "MOTChallenge tracks file"}
_EXAMPLE = {"json": "out/{stem}.json", "video": "out/{stem}.mp4", "mot": "out/{stem}.txt"}


@dataclass(frozen=True)
class SourceOutputs:
    """One source of a run over several and the files it gets (None: not asked for)."""

    source: str
    stem: str
    json_path: Path | None
    video_path: Path | None
    mot_path: Path | None


class RunsInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_inference_many`, after each source's frames done were saved; ``results`` says what
    was written (each ``partial``)."""

    def __init__(self, results: list[InferenceResult]) -> None:
        super().__init__(f"interrupted after {sum(r.frames_done for r in results)} frame(s)")
        self.results = results


def source_stem(spec: str | Path | int) -> str:
    """The name a source's outputs are named after: ``clip`` for ``videos/clip.mp4``, ``frames`` for the folder
    ``frames/``, ``camera0`` for ``camera:0``."""
    camera = parse_camera_spec(spec)
    if camera is not None:
        return f"camera{camera}"
    p = Path(spec).expanduser()
    return p.name if p.is_dir() else p.stem


def _is_folder(path: str) -> bool:
    return path.endswith(("/", os.sep)) or Path(path).expanduser().is_dir()


def output_path(pattern: str | Path | None, stem: str, kind: str, n_sources: int) -> Path | None:
    """The ``kind`` output ("json", "video" or "mot") of the source ``stem`` given the option's value ``pattern``
    (module docstring); ValueError for a plain file name, which every source would overwrite."""
    if pattern is None:
        return None
    text = str(pattern)
    if "{stem}" in text:
        return Path(text.replace("{stem}", stem)).expanduser()
    if _is_folder(text):
        return Path(text).expanduser() / OUTPUT_NAMES[kind].format(stem=stem)
    raise ValueError(f"with {n_sources} sources the {_WHAT[kind]} must be a folder (ending in '/') or a name with "
                     f"{{stem}} in it (e.g. {_EXAMPLE[kind]}), got '{text}': every source would write that one file")


def plan_outputs(sources: Sequence[str], json_path: str | Path | None = None, video_path: str | Path | None = None,
                 mot_path: str | Path | None = None, score_thresh: float | None = None, batch_size: int = 1,
                 max_frames: int | None = None, video_thresh: float | None = None, *, inputs: Inputs = (),
                 overwrite_video: bool = True) -> list[SourceOutputs]:
    """Each source's output files, checked before any work (module docstring); ValueError or OSError naming the
    file and the sources concerned. ``inputs``: the run's other input files (the weights'), which no output may
    be either; ``overwrite_video`` False refuses a video file that exists (see :func:`check_outputs`)."""
    if not sources:
        raise ValueError("no source given")
    every_input = [pair for spec in sources for pair in source_inputs(spec)] + list(inputs)
    plans = []
    for spec in sources:
        stem = source_stem(spec)
        paths = [output_path(p, stem, kind, len(sources))
                 for p, kind in ((json_path, "json"), (video_path, "video"), (mot_path, "mot"))]
        check_outputs(paths[0], paths[1], score_thresh, batch_size, max_frames, video_thresh, paths[2],
                      inputs=every_input, overwrite_video=overwrite_video)
        plans.append(SourceOutputs(str(spec), stem, *paths))
    for k, plan in enumerate(plans):
        for out in (plan.json_path, plan.video_path, plan.mot_path):
            for other in plans[k + 1:]:
                theirs = [q for q in (other.json_path, other.video_path, other.mot_path) if q is not None]
                if out is not None and any(same_file(out, q) for q in theirs):
                    raise ValueError(f"the sources '{plan.source}' and '{other.source}' would both write {out} "
                                     f"(the same stem '{plan.stem}'): rename one, or run them separately")
    return plans


def open_sources(plans: Sequence[SourceOutputs], tracker: TrackerConfig | None = None) -> list[FrameSource]:
    """Open every planned source (the caller closes them); ValueError for one that cannot be opened, or that cannot
    be tracked when ``tracker`` is given, after closing those already open."""
    opened: list[FrameSource] = []
    try:
        for plan in plans:
            opened.append(open_source(plan.source))
            check_tracking(opened[-1], tracker, plan.mot_path)
    except Exception:
        for src in opened:
            src.close()
        raise
    return opened


def run_inference_many(detector: DetectorLike, sources: Sequence[str], *, json_path: str | Path | None = None,
                       video_path: str | Path | None = None, mot_path: str | Path | None = None,
                       score_thresh: float | None = None, labels: Collection[int] | None = None,
                       batch_size: int = 1, max_frames: int | None = None, save_every_s: float = SAVE_EVERY_S,
                       weights: str | Path | None = None, video_thresh: float | None = None,
                       tracker: TrackerConfig | None = None, on_progress: ProgressFn | None = None,
                       should_stop: StopFn | None = None) -> list[InferenceResult]:
    """Detect objects in every frame of each source; write each one's files (:func:`plan_outputs`).

    The options are :func:`core.inference.run_inference`'s, applied to every source (``max_frames`` per source);
    ``batch_size`` frames per forward pass, taken from the sources in turn. Returns one
    :class:`core.inference.InferenceResult` per source, in order.

    Raises:
        ValueError / OSError before any frame: a bad option, source or output name (:func:`plan_outputs`).
        ValueError at the end: a source none of whose frames could be read (the others' files are written).
        RunsInterrupted: Ctrl-C, after each source's frames done were written (partial). Any other error
            mid-run is raised after the frames done were saved.
    """
    plans = plan_outputs(sources, json_path, video_path, mot_path, score_thresh, batch_size, max_frames, video_thresh,
                         inputs=model_inputs(getattr(detector, "weights_path", None)))
    opened = open_sources(plans, tracker)
    try:
        return run_planned(detector, plans, opened, score_thresh=score_thresh, labels=labels, batch_size=batch_size,
                           max_frames=max_frames, save_every_s=save_every_s, weights=weights,
                           video_thresh=video_thresh, tracker=tracker, on_progress=on_progress,
                           should_stop=should_stop)
    finally:
        for src in opened:
            src.close()


def run_planned(detector: DetectorLike, plans: Sequence[SourceOutputs], opened: Sequence[FrameSource], *,
                score_thresh: float | None = None, labels: Collection[int] | None = None, batch_size: int = 1,
                max_frames: int | None = None, save_every_s: float = SAVE_EVERY_S, weights: str | Path | None = None,
                video_thresh: float | None = None, tracker: TrackerConfig | None = None,
                on_progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> list[InferenceResult]:
    """:func:`run_inference_many` on sources already planned (:func:`plan_outputs`) and open (:func:`open_sources`,
    in the same order; left open): ``ssd detect`` opens them before the model loads, to fail fast."""
    keep = None if labels is None else set(labels)
    outs = [RunOutputs(detector, src, _describe_source(src, plan.source), plan.json_path, plan.video_path,
                       score_thresh, keep, None, save_every_s, weights, video_thresh,
                       None if tracker is None else TrackRecorder(tracker, plan.mot_path))
            for plan, src in zip(plans, opened)]
    try:
        stopped = detect_interleaved(detector, outs, score_thresh, batch_size, max_frames, on_progress, should_stop)
    except KeyboardInterrupt:
        raise RunsInterrupted([out.finish(partial=True) for out in outs]) from None
    except Exception:
        for out in outs:
            _save_partial_quietly(out) if out.frames_done else out.discard()
        raise
    return _finish(outs, stopped)


def _finish(outs: list[RunOutputs], stopped: bool) -> list[InferenceResult]:
    """Close every source's files; a source that gave no frame at all (only warnings) is a ValueError."""
    empty = [out for out in outs if out.frames_done == 0 and out.source.warnings and not stopped]
    for out in empty:
        out.discard()
    results = [out.finish(partial=stopped) for out in outs if out not in empty]
    if empty:
        written = ", ".join(str(r.json_path or r.video_path or r.mot_path) for r in results) or "nothing"
        raise ValueError("nothing could be read from " + "; ".join(
            f"{out.spec}: {'; '.join(out.source.warnings)}" for out in empty) + f" (written for the others: {written})")
    return results


__all__ = ["run_inference_many", "run_planned", "open_sources", "plan_outputs", "output_path", "source_stem", "SourceOutputs", "RunsInterrupted",
           "OUTPUT_NAMES"]
