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
pseudo-labelling (:meth:`PseudoLabelConfig.settings`: the same teacher, precision, runtime and int8
calibration, threshold, sampling, format, classes and names), which is then resumed: frames already
written are skipped without running the teacher. Anything else in the folder, or a folder that holds a
source, is refused before the teacher loads. The run's record is written before the first frame, and the
index files every ``save_every`` frames and on every way the run can end (finished, stopped, Ctrl-C,
an error), so the folder is always a resumable, readable dataset of the frames done, even after a
``kill -9`` or a full disk.

Image ids: ``<video stem>_<frame:06d>`` for a video, ``<folder>_<image stem>`` for an image folder,
``<image stem>`` for one image (the ids ``ssd eval --reference`` gives the same frames). A source is
known by its content (:mod:`core.data.source_ids`): another video of an earlier source's name gets
``<stem>-<8 hex>`` as its base, and the same video moved or renamed keeps the base it had.
"""
from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from core.config import BACKGROUND
from core.data.pseudo_label_files import FORMATS, STATE_FILE, PseudoLabelWriter
from core.jobs import ProgressFn, StopFn, report

#: torchvision's COCO class list pads unused category ids with this name; it is never a class to learn.
PLACEHOLDER_CLASS = "N/A"


class DatasetExistsError(ValueError):
    """The output folder holds files that are not this pseudo-labelling (never replaced or mixed)."""


@dataclass(frozen=True)
class PseudoLabelConfig:
    """One pseudo-labelling run (see the module docstring).

    Attributes:
        sources: videos, image folders or images (not cameras: record them first).
        teacher: the teacher model (any file :func:`core.resolve.load_detector` reads).
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

    def __post_init__(self) -> None:
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

    def settings(self, teacher: Mapping[str, Any]) -> dict[str, Any]:
        """What makes the labels what they are, the one record a resumed run must match (else two labellings
        would mix): the teacher's identity (:func:`teacher_identity`), how it runs (precision, runtime and,
        for int8, the calibration data), the threshold, the sampling, the format and the classes."""
        calibration = None
        if self.precision == "int8":  # the calibration images change an int8 teacher's outputs, nothing else's
            calibration = str(Path(self.calibration).expanduser().resolve()) if self.calibration else "default"
        return {**teacher, "precision": self.precision, "runtime": self.runtime, "calibration": calibration,
                "score_thresh": self.score_thresh, "every": self.every, "format": self.fmt,
                "classes": None if self.classes is None else list(self.classes),
                "rename": [list(p) for p in self.rename], "max_frames": self.max_frames}


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
        ValueError: a class or a renamed class the teacher does not have (names the teacher's classes).
    """
    known = [n for n in teacher_names[1:] if n != PLACEHOLDER_CLASS]
    for name in list(classes or ()) + [a for a, _ in rename]:
        if name not in known:
            raise ValueError(f"the teacher has no class {name!r}; its classes: {', '.join(dict.fromkeys(known))}")
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


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def teacher_identity(teacher: str | Path) -> dict[str, Any]:
    """The teacher's part of a labelling's record (:meth:`PseudoLabelConfig.settings`): the SHA-256 of its
    file (of both files of an OpenVINO IR), so that another teacher under the same name is never mixed in.

    Raises:
        ValueError: the teacher's file is missing (names it).
    """
    from core.model_spec import model_files

    files = model_files(teacher)
    missing = [f for f in files if not f.is_file()]
    if not files or missing:
        raise ValueError(f"{teacher}: teacher weights not found" + (f" ({missing[0]})" if missing else ""))
    if len(files) == 1:
        return {"teacher_sha256": file_sha256(files[0])}
    return {"teacher_sha256": hashlib.sha256("".join(file_sha256(f) for f in files).encode()).hexdigest()}


#: The settings a record of an earlier version lacks, and the value it was made with by default.
_UNRECORDED: dict[str, Any] = {"precision": "fp32", "runtime": "torch", "calibration": None}


def check_target(out_dir: str | Path, settings: dict[str, Any], sources: Sequence[str] = ()
                 ) -> tuple[Path, dict[str, Any] | None]:
    """Check, before the teacher loads, that the labels may be written to ``out_dir``.

    Temporary files a killed write left (:func:`core.io.fileio.remove_stale_temps`) do not count as
    content, and are removed when the run resumes.

    Returns:
        (folder, the earlier run's record when this run resumes it, else None).

    Raises:
        DatasetExistsError: the folder holds anything but this same pseudo-labelling (says what differs).
        ValueError, OSError: ``out_dir`` is a file, one of ``sources`` or holds one, or cannot be created or written.
    """
    from core.data._checks import read_json_file
    from core.io.fileio import check_output_dir, is_stale_temp, remove_stale_temps, same_file

    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder")
    for spec in sources:
        src = Path(spec).expanduser().resolve()
        if out.exists() and any(same_file(folder, out) for folder in (src, *src.parents)):
            raise ValueError(f"the dataset folder {out} is, or holds, the source {spec}: the labels would be written "
                             f"into the footage being labelled; give a folder outside it")
    entries = sorted(p.name for p in out.iterdir() if not is_stale_temp(p.name)) if out.is_dir() else []
    if entries and not (out / STATE_FILE).is_file():
        shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        raise DatasetExistsError(f"{out} is not empty ({len(entries)} entries: {shown}) and holds no pseudo-labels "
                                 f"to resume; pseudo-labels are never mixed into another dataset: give a new folder")
    previous = read_json_file(out / STATE_FILE, "pseudo-label record") if entries else None
    if previous is not None:
        # A record from before the teacher's precision, runtime and calibration were recorded was made with the
        # defaults unless the command said otherwise: it resumes with the defaults only.
        recorded = {**{k: v for k, v in _UNRECORDED.items() if k in settings}, **previous.get("settings", {})}
        differ = [k for k, v in settings.items() if recorded.get(k) != v]
        if differ:
            was = ", ".join(f"{k}={recorded[k]!r}" if k in recorded else f"{k} not recorded" for k in differ)
            now = ", ".join(f"{k}={settings[k]!r}" for k in differ)
            raise DatasetExistsError(f"{out} holds pseudo-labels made with other settings ({was}; now {now}); "
                                     f"resuming would mix two labellings: give a new folder, or the same settings "
                                     f"to resume")
        for folder in (out, *(p for p in out.iterdir() if p.is_dir())):
            remove_stale_temps(folder)  # what a killed write left; never counted as a frame done
    check_output_dir(out, "pseudo-label dataset folder")
    return out, previous


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
    from core.resolve import load_detector

    settings = cfg.settings(teacher_identity(cfg.teacher))
    out, previous = check_target(cfg.out_dir, settings, cfg.sources)
    total = _open_all(cfg.sources, cfg.every, cfg.max_frames)
    plan = plan_sources(cfg.sources, (previous or {}).get("sources", []))
    report(on_progress, 0, total, "pseudo-label", f"loading teacher {Path(cfg.teacher).name}")
    if teacher is None:
        teacher = load_detector(cfg.teacher, device=cfg.device, precision=cfg.precision, runtime=cfg.runtime,
                                calibration=cfg.calibration, calibration_fallback=cfg.sources[0],
                                on_progress=on_progress, should_stop=should_stop, trust_code=cfg.trust_code)
    class_names, mapping = class_plan(tuple(teacher.class_names), cfg.classes, cfg.rename)
    state = {"kind": "pseudo_label", "settings": settings, "teacher": str(cfg.teacher),
             "teacher_classes": list(teacher.class_names), "score_thresh": cfg.score_thresh, "every": cfg.every,
             "class_names": list(class_names), "sources": plan.records, "complete": False}
    note = f"pseudo-labels by teacher {Path(cfg.teacher).name}, score > {cfg.score_thresh:g}"
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

        for spec in self.cfg.sources:
            base = self.bases.get(str(spec))
            prefix = f"{base}_" if base is not None and Path(spec).is_dir() else ""
            with open_frames(str(spec)) as src:
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
            if self.stopped:
                return

    def _flush(self, batch: list[Any]) -> None:
        if not batch:
            return
        dets = self.teacher.detect([f.image for f in batch], score_thresh=self.cfg.score_thresh)
        for frame, det in zip(batch, dets):
            h, w = frame.image.shape[:2]
            boxes, scores, labels, dropped = _labels(det, self.mapping, self.cfg.score_thresh, w, h)
            self.writer.add(frame.image_id, frame.image, boxes, scores, labels)
            self.done.add(frame.image_id)
            self.written += 1
            self.objects += len(labels)
            self.dropped += dropped
            if self.written % self.cfg.save_every == 0:
                self.writer.save()
            self._report(frame.image_id)
        batch.clear()

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
           "check_target", "teacher_identity", "PLACEHOLDER_CLASS"]
