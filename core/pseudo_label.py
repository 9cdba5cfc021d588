"""Pseudo-labelling: a teacher model labels unlabelled footage, and the result is a dataset to train on.

    cfg = PseudoLabelConfig(sources=("clip.mp4", "photos/"), teacher="trusted.pt", out_dir="data/clip_labels",
                            score_thresh=0.5, every=5, fmt="voc")
    result = pseudo_label(cfg, on_progress=print, should_stop=lambda: False)
    # then: ssd train --format voc --data data/clip_labels --train-split train --val-split val ...

The teacher runs over every ``every``-th frame of each video, image folder or image; its detections
scoring above ``score_thresh`` become the labels of a VOC, COCO or YOLO dataset
(:mod:`core.data.pseudo_label_files`), each box with its score, the teacher and its threshold in the
metadata. ``classes`` keeps a subset of the teacher's classes and ``rename`` gives them the names the
dataset should use (two teacher classes may share one name). Boxes are clipped to the frame; boxes
under one pixel after VOC's integer rounding are dropped and counted.

Never loses or mixes a dataset: the output folder must be new or empty, or hold this same
pseudo-labelling (:meth:`PseudoLabelConfig.settings`: the same teacher (its file's SHA-256, or for a teacher
string of core.teachers its fingerprint with model, ontology and tiling), precision, runtime and int8
calibration, threshold, sampling, format, classes, names and temporal refinement), which is then resumed:
frames already written are skipped without running the teacher. Anything else in the folder, or a folder
that holds a source, is refused before the teacher loads. The run's record is written before the first
frame, and the index files every ``save_every`` frames and on every way the run can end (finished,
stopped, Ctrl-C, an error), so the folder is always a resumable, readable dataset of the frames done,
even after a ``kill -9`` or a full disk.

Image ids: ``<video stem>_<frame:06d>`` for a video, ``<folder>_<image stem>`` for an image folder,
``<image stem>`` for one image (the ids ``ssd eval --reference`` gives the same frames). A source is
known by its content (:mod:`core.data.source_ids`): another video of an earlier source's name gets
``<stem>-<8 hex>`` as its base, and the same video moved or renamed keeps the base it had.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from core.config import BACKGROUND
from core.data.pseudo_label_files import FORMATS, STATE_FILE, PseudoLabelWriter  # noqa: F401 - STATE_FILE: the API
from core.data.pseudo_label_target import DatasetExistsError, check_target
from core.io.fileio import file_sha256  # noqa: F401 - kept in this module's API
from core.jobs import ProgressFn, StopFn, report
from core.tracking.refine import TemporalConfig

#: torchvision's COCO class list pads unused category ids with this name; it is never a class to learn.
PLACEHOLDER_CLASS = "N/A"


@dataclass(frozen=True)
class PseudoLabelConfig:
    """One pseudo-labelling run (see the module docstring).

    Attributes:
        sources: videos, image folders or images (not cameras: record them first).
        teacher: the teacher model (any model string :func:`core.resolve.load_detector` reads: a file, or
            ``torchvision:NAME``, ``owlv2:ONTOLOGY``, ``grounding-dino:ONTOLOGY``, ``py:FILE.py:FACTORY``).
        out_dir: the dataset folder (new, empty, or this same run to resume).
        score_thresh: the teacher's detections scoring above this become labels.
        every: keep one frame in ``every`` (one image in ``every`` of a folder).
        fmt: ``voc`` or ``coco``.
        classes: the teacher's class names to keep (None: all).
        rename: (teacher name, dataset name) pairs.
        max_frames: at most this many kept frames per source (None: all).
        device, precision, runtime, calibration, batch_size: how the teacher runs (see
            :func:`core.resolve.load_detector`; int8 calibrates on ``calibration``, else the teacher's
            training data, else the first source).
        save_every: frames between two saves of the index files.
        trust_code: the user's opt-in for a teacher that runs code when opened (core.model_spec).
        tiles, tile_overlap: run the teacher on ``"RxC"`` tiles of each frame as well (core.teachers.tiling).
        temporal: refine the labels of videos in time (:mod:`core.pseudo_label_temporal`) at this config's
            ``score_thresh``; None: frame by frame.
    """

    sources: tuple[str, ...]
    teacher: str
    out_dir: str
    score_thresh: float = 0.5
    every: int = 1
    fmt: str = "voc"
    classes: tuple[str, ...] | None = None
    rename: tuple[tuple[str, str], ...] = ()
    max_frames: int | None = None
    device: str = "cpu"
    precision: str = "fp32"
    runtime: str = "torch"
    calibration: str | None = None
    batch_size: int = 8
    save_every: int = 50
    trust_code: bool = False
    tiles: str | None = None
    tile_overlap: float = 0.2
    temporal: TemporalConfig | None = None

    def __post_init__(self) -> None:
        if self.temporal is not None:  # the refinement's threshold is the labels' threshold
            object.__setattr__(self, "temporal", replace(self.temporal, score_thresh=self.score_thresh,
                                                         low_thresh=min(self.temporal.low_thresh, self.score_thresh)))
        if not self.sources:
            raise ValueError("pseudo-labelling needs at least one source (a video, an image folder or an image)")
        if not 0.0 <= self.score_thresh < 1.0:
            raise ValueError(f"score threshold must be in [0, 1), got {self.score_thresh}")
        if self.fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.fmt!r}")
        for name, value, low in (("every", self.every, 1), ("batch size", self.batch_size, 1),
                                 ("save_every", self.save_every, 1), ("max_frames", self.max_frames, 1)):
            if value is not None and value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        self.tiling()  # a malformed --tiles fails here, before any work

    def tiling(self) -> Any:
        """The :class:`core.teachers.tiling.Tiling` of ``tiles`` and ``tile_overlap`` (None: whole frames)."""
        from core.teachers.tiling import parse_tiling

        return parse_tiling(self.tiles, self.tile_overlap)

    def settings(self, teacher: Mapping[str, Any] | str) -> dict[str, Any]:
        """What makes the labels what they are, the one record a resumed run must match (else two labellings
        would mix): the teacher's identity (:func:`core.resolve.model_identity`; a file's SHA-256 as a string
        is ``teacher_sha256``), how it runs (precision, runtime and, for int8, the calibration data), the
        threshold, the sampling, the format, the classes and the temporal refinement."""
        identity = {"teacher_sha256": teacher} if isinstance(teacher, str) else dict(teacher)
        calibration = None
        if self.precision == "int8":  # the calibration images change an int8 teacher's outputs, nothing else's
            calibration = str(Path(self.calibration).expanduser().resolve()) if self.calibration else "default"
        return {**identity, "precision": self.precision, "runtime": self.runtime, "calibration": calibration,
                "score_thresh": self.score_thresh, "every": self.every, "format": self.fmt,
                "classes": None if self.classes is None else list(self.classes),
                "rename": [list(p) for p in self.rename], "max_frames": self.max_frames,
                "temporal": None if self.temporal is None else self.temporal.settings()}


@dataclass(frozen=True)
class PseudoLabelResult:
    """What a run left in ``out_dir``.

    Attributes:
        out_dir: the dataset folder; ``dataset_path`` is what the reader takes (the folder for VOC,
            ``annotations.json`` for COCO).
        fmt: ``voc`` or ``coco``.
        class_names: the dataset's classes (entry 0 the background).
        frames_written: frames labelled by this run; ``frames_skipped``: done by an earlier run.
        frames_total: frames in the dataset now.
        objects: labels written by this run.
        partial: the run stopped before the end of its sources (``should_stop``); run it again to resume.
        warnings: unreadable images of a folder, a video that ended early, boxes dropped.
    """

    out_dir: Path
    dataset_path: Path
    fmt: str
    class_names: tuple[str, ...]
    frames_written: int
    frames_skipped: int
    frames_total: int
    objects: int
    partial: bool
    warnings: tuple[str, ...] = field(default_factory=tuple)


def class_plan(teacher_names: Sequence[str], classes: Sequence[str] | None,
               rename: Sequence[tuple[str, str]]) -> tuple[tuple[str, ...], np.ndarray]:
    """The dataset's classes and, per teacher label, its dataset label (-1: dropped).

    Raises:
        ValueError: a class or a renamed class the teacher does not have (names the teacher's classes); a new
            name that is the background or empty (its boxes would vanish from the dataset without a word).
    """
    known = [n for n in teacher_names[1:] if n != PLACEHOLDER_CLASS]
    for name in list(classes or ()) + [a for a, _ in rename]:
        if name not in known:
            raise ValueError(f"the teacher has no class {name!r}; its classes: {', '.join(dict.fromkeys(known))}")
    for old, new in rename:
        if new == BACKGROUND or not new.strip():
            raise ValueError(f"--rename {old}={new}: {new!r} is not a class name a box can have (label 0, "
                             f"{BACKGROUND!r}, is the background); to leave {old!r} out, list the classes to keep "
                             f"with --classes")
    keep = set(classes) if classes is not None else set(known)
    names = dict(rename)
    dataset = [BACKGROUND]
    mapping = np.full(len(teacher_names), -1, np.int64)
    for label, name in enumerate(teacher_names):
        if label == 0 or name not in keep:
            continue
        target = names.get(name, name)
        if target not in dataset:
            dataset.append(target)
        mapping[label] = dataset.index(target)
    return tuple(dataset), mapping


def _open_all(sources: Sequence[str], every: int, max_frames: int | None) -> int | None:
    """Open (and close) every source so that a bad one fails before the teacher loads; the frames to label."""
    from core.data.frames import expected_frames, open_frames

    total: int | None = 0
    for spec in sources:
        with open_frames(str(spec)) as src:
            n = expected_frames(src.frame_count, every, max_frames)
        total = None if total is None or n is None else total + n
    return total


def _labels(det: Any, mapping: np.ndarray, thresh: float, width: int, height: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(boxes, scores, dataset labels, boxes dropped) of one frame's teacher detections."""
    from core.inference import finite_only

    det, non_finite = finite_only(det)
    boxes = np.asarray(det.boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(det.scores, np.float64).reshape(-1)
    labels = np.asarray(det.labels, np.int64).reshape(-1)
    ok = (labels >= 0) & (labels < mapping.shape[0])
    mapped = np.where(ok, mapping[np.clip(labels, 0, mapping.shape[0] - 1)], -1)
    keep = (mapped > 0) & (scores > thresh)
    boxes = np.clip(boxes[keep], 0, [width, height, width, height])
    # VOC stores integer pixels: a box that rounds to nothing would be dropped by the reader
    r = np.rint(boxes)
    big = (r[:, 2] > r[:, 0]) & (r[:, 3] > r[:, 1])
    return boxes[big], scores[keep][big], mapped[keep][big], int((~big).sum()) + non_finite


def pseudo_label(cfg: PseudoLabelConfig, on_progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                 teacher: Any = None) -> PseudoLabelResult:
    """Label the frames of ``cfg.sources`` with the teacher and write (or resume) the dataset.

    Args:
        cfg: the run.
        on_progress: :class:`core.jobs.Progress` (stage ``pseudo-label``, frames done of the frames to label,
            skipped ones included) after each frame.
        should_stop: polled between frames; True ends the run with everything done saved (``partial``).
        teacher: an already loaded teacher (default: ``load_detector(cfg.teacher)``).

    Raises:
        DatasetExistsError, ValueError, OSError before any work: see :func:`check_target`, bad sources.
        Ctrl-C and errors mid-run are re-raised after the frames done were saved.
    """
    from core.data.source_ids import plan_sources
    from core.resolve import load_detector, model_identity

    settings = cfg.settings(model_identity(cfg.teacher, cfg.tiling(), cfg.trust_code))  # SHA-256 or fingerprint
    out, previous = check_target(cfg.out_dir, settings, cfg.sources)
    total = _open_all(cfg.sources, cfg.every, cfg.max_frames)
    plan = plan_sources(cfg.sources, (previous or {}).get("sources", []))
    report(on_progress, 0, total, "pseudo-label", f"loading teacher {Path(cfg.teacher).name}")
    if teacher is None:
        teacher = load_detector(cfg.teacher, device=cfg.device, precision=cfg.precision, runtime=cfg.runtime,
                                calibration=cfg.calibration, calibration_fallback=cfg.sources[0],
                                on_progress=on_progress, should_stop=should_stop, trust_code=cfg.trust_code,
                                tiling=cfg.tiling())
    class_names, mapping = class_plan(tuple(teacher.class_names), cfg.classes, cfg.rename)
    state = {"kind": "pseudo_label", "settings": settings, "teacher": str(cfg.teacher),
             "teacher_classes": list(teacher.class_names), "score_thresh": cfg.score_thresh, "every": cfg.every,
             "class_names": list(class_names), "sources": plan.records, "complete": False}
    note = f"pseudo-labels by teacher {getattr(teacher, 'description', Path(cfg.teacher).name)}, " \
           f"score > {cfg.score_thresh:g}"
    writer = PseudoLabelWriter(out, cfg.fmt, class_names, note, state)  # records the run before the first frame
    run = _Run(cfg, teacher, writer, mapping, total, on_progress, should_stop)
    run.bases, run.source_warnings = plan.bases, list(plan.notes)
    try:
        run.label_all()
    except BaseException:
        with contextlib.suppress(Exception):  # the error that ended the run matters more than this save
            writer.save()  # the frames done stay a dataset (and resumable) whatever ended the run
        raise
    state["complete"] = not run.stopped
    writer.save()
    return PseudoLabelResult(out_dir=out, dataset_path=writer.dataset_path, fmt=cfg.fmt, class_names=class_names,
                             frames_written=run.written, frames_skipped=run.skipped, frames_total=len(writer.ids),
                             objects=run.objects, partial=run.stopped, warnings=tuple(run.warnings()))


class _Run:
    """The frame loop of :func:`pseudo_label` and its counters."""

    def __init__(self, cfg: PseudoLabelConfig, teacher: Any, writer: PseudoLabelWriter, mapping: np.ndarray,
                 total: int | None, on_progress: ProgressFn | None, should_stop: StopFn | None) -> None:
        self.cfg, self.teacher, self.writer, self.mapping, self.total = cfg, teacher, writer, mapping, total
        self.on_progress, self.should_stop = on_progress, should_stop
        self.done = writer.done()
        self.seen = self.written = self.skipped = self.objects = self.dropped = 0
        self.stopped = False
        self.source_warnings: list[str] = []
        self.bases: dict[str, str] = {}  # a source -> its image-id base (core.data.source_ids)

    def label_all(self) -> None:
        from core.data.frames import open_frames, sample_frames
        from core.pseudo_label_temporal import label_in_time

        for spec in self.cfg.sources:
            base = self.bases.get(str(spec))
            prefix = f"{base}_" if base is not None and Path(spec).is_dir() else ""
            seen_before = self.seen
            with open_frames(str(spec)) as src:
                if self.cfg.temporal is not None and label_in_time(self, spec, src, prefix, base):
                    if self.stopped:
                        return
                    continue
                batch: list[Any] = []
                for frame in sample_frames(src, str(spec), self.cfg.every, self.cfg.max_frames, prefix, base):
                    if self.should_stop is not None and self.should_stop():
                        self.stopped = True
                        break
                    if frame.image_id in self.done:
                        self.skipped += 1
                        self._report(frame.image_id)
                        continue
                    batch.append(frame)
                    if len(batch) >= self.cfg.batch_size:
                        self._flush(batch)
                self._flush(batch)
                self.source_warnings += list(getattr(src, "warnings", []))
                if self.seen == seen_before and not self.stopped and getattr(src, "warnings", None):
                    # as `ssd detect` says it: a folder of unreadable files is an error, not an empty dataset
                    raise ValueError(f"nothing could be read from {spec}: " + "; ".join(src.warnings))
            if self.stopped:
                return

    def _flush(self, batch: list[Any]) -> None:
        if not batch:
            return
        dets = self.teacher.detect([f.image for f in batch], score_thresh=self.cfg.score_thresh)
        for frame, det in zip(batch, dets):
            self._write(frame, det)
        batch.clear()

    def _write(self, frame: Any, det: Any, filled: Any = None) -> None:
        """One frame's labels: the teacher's detections ``det`` (above the threshold) and, from the temporal
        refinement, the boxes ``filled`` into gaps (written marked as interpolated)."""
        h, w = frame.image.shape[:2]
        thresh = -1.0 if filled is not None else self.cfg.score_thresh  # refined labels are decided already
        parts = [_labels(d, self.mapping, thresh, w, h) for d in ([det] if filled is None else [det, filled])]
        boxes, scores, labels = (np.concatenate([p[k] for p in parts]) for k in range(3))
        dropped = sum(p[3] for p in parts)
        flags = np.arange(len(labels)) >= len(parts[0][2])  # the filled boxes come after the detected ones
        self.writer.add(frame.image_id, frame.image, boxes, scores, labels, interpolated=flags)
        self.done.add(frame.image_id)
        self.written += 1
        self.objects += len(labels)
        self.dropped += dropped
        if self.written % self.cfg.save_every == 0:
            self.writer.save()
        self._report(frame.image_id)

    def _report(self, image_id: str) -> None:
        self.seen += 1
        report(self.on_progress, self.seen, self.total, "pseudo-label",
               f"{image_id} ({self.written} labelled, {self.skipped} already done)")

    def warnings(self) -> list[str]:
        out = list(self.source_warnings)
        if self.dropped:
            out.append(f"{self.dropped} teacher box(es) under one pixel after rounding, or not finite, were dropped")
        return out


__all__ = ["PseudoLabelConfig", "PseudoLabelResult", "DatasetExistsError", "pseudo_label", "class_plan",
           "check_target", "PLACEHOLDER_CLASS"]
