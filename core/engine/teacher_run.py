"""A training run on unlabelled footage: a teacher pseudo-labels it, then the student trains on those labels.

    stage = TeacherStage(sources=("clip.mp4", "photos/"), teacher="trusted.pt", score_thresh=0.5, every=10)
    result = pseudo_label_then_train(TrainConfig(arch="ssdlite320_mobilenet_v3_large", out_dir="runs/clip"),
                                     stage, on_progress=print, should_stop=lambda: False)

Two stages in one run folder, so the run is self-contained and every way it can end is resumable:

1. **pseudo-label** (:func:`core.pseudo_label.pseudo_label`): the teacher labels every ``every``-th frame
   into a VOC dataset in ``<out_dir>/pseudo_labels`` (:data:`LABELS_DIR`). Its progress events are
   :class:`core.jobs.Progress` with stage :data:`STAGE_LABEL`; one more, stage :data:`STAGE_LABELLED`,
   says the dataset is complete. A stop here returns a result without ``train``; starting the same run
   again skips the frames already labelled.
2. **train** (:func:`core.engine.trainer.train`): the run's :class:`TrainConfig` with its data pointed at
   that dataset (:func:`teacher_train_config`: its ``train`` split, ``val`` for validation), and, with
   ``distill``, the teacher's soft scores as an extra loss term. Its events are
   :class:`core.engine.TrainProgress`. Resuming from ``last.pt`` skips stage 1 when its dataset is complete.

Because the checkpoints record that dataset, ``ssd train --resume <out_dir>/last.pt`` continues stage 2 too.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.engine.config import FieldSpec, TrainConfig
from core.engine.events import TrainResult
from core.jobs import Cancelled, ProgressFn, StopFn, report
from core.pseudo_label import PseudoLabelConfig, PseudoLabelResult

#: The pseudo-labelled dataset's folder inside the run folder.
LABELS_DIR = "pseudo_labels"
#: ``Progress.stage`` of the labelling (frames done of frames to label) and of its end (the summary).
STAGE_LABEL = "pseudo-label"
STAGE_LABELLED = "pseudo-labelled"


def _field(name: str, kind: str, default: Any, label: str, help: str, flag: str, **extra: Any) -> FieldSpec:
    return FieldSpec(name=name, kind=kind, default=default, label=label, help=help, group="data", flag=flag, **extra)


#: How the scalar fields of :class:`TeacherStage` are shown, parsed and checked (the Train dialog's fields).
TEACHER_FIELDS: tuple[FieldSpec, ...] = (
    _field("teacher", "path", "demo", "Teacher model", "the detector whose boxes become the labels: any weights "
           "file the app loads, 'demo', torchvision:NAME (torchvision's COCO detectors), owlv2:ONTOLOGY or "
           "grounding-dino:ONTOLOGY (text prompts, e.g. 'forklift=forklift,fork lift truck;person'), or "
           "py:FILE.py:FACTORY (a plug-in: code, needs --trust-code)", "--teacher", path_mode="file"),
    _field("score_thresh", "float", 0.5, "Teacher threshold", "the teacher's detections scoring above this become "
           "labels", "--teacher-thresh", minimum=0.0, maximum=1.0, exclusive_maximum=True),
    _field("every", "int", 10, "Every N-th frame", "label one frame (or image of a folder) in N", "--every", minimum=1,
           maximum=2**31 - 1),
    _field("classes", "str", None, "Classes", "the teacher's classes to learn, comma-separated", "--teacher-classes",
           optional=True,
           none_text="all the teacher's classes"),
    _field("rename", "str", None, "Rename classes", "give teacher classes other names in the dataset, OLD=NEW pairs "
           "separated by commas (two may share a name)", "--teacher-rename", optional=True, none_text="keep the names"),
    _field("tiles", "str", None, "Tiles", "also run the teacher on ROWSxCOLUMNS overlapping tiles of each frame, "
           "merged by NMS (small objects in large frames), e.g. 2x2", "--teacher-tiles", optional=True,
           none_text="whole frames only"),
    _field("tile_overlap", "float", 0.2, "Tile overlap", "how much neighbouring tiles overlap, a fraction of a tile",
           "--teacher-tile-overlap", minimum=0.0, maximum=0.9),
    _field("distill", "bool", False, "Distil from the teacher", "also learn the teacher's soft class scores on the "
           "matched default boxes (the student must take the teacher's input size and default boxes)",
           "--distill-from-teacher"),
    _field("temporal", "bool", False, "Refine the labels in time", "videos: the teacher sees every frame, its boxes "
           "are linked into tracks, one-frame boxes dropped, missed frames filled in and boxes smoothed "
           "(ssd pseudo-label --temporal; the teacher runs N times longer)", "--temporal"),
)


def teacher_field(name: str) -> FieldSpec:
    """The :class:`FieldSpec` of one :data:`TEACHER_FIELDS` entry (``KeyError`` for an unknown name)."""
    for spec in TEACHER_FIELDS:
        if spec.name == name:
            return spec
    raise KeyError(f"TeacherStage has no field {name!r}")


def parse_classes(text: str | None) -> tuple[str, ...] | None:
    """``"person, car"`` -> ``("person", "car")``; empty or None -> None (every class)."""
    names = tuple(dict.fromkeys(n.strip() for n in (text or "").split(",") if n.strip()))
    return names or None


def parse_rename(text: str | None, flag: str = "--rename") -> tuple[tuple[str, str], ...]:
    """``"bus=car, truck=car"`` -> ``(("bus", "car"), ("truck", "car"))``; ValueError naming ``flag`` and the pair."""
    pairs = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        old, sep, new = item.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise ValueError(f"{flag} takes OLD=NEW pairs separated by commas, got {item.strip()!r}")
        pairs.append((old.strip(), new.strip()))
    return tuple(pairs)


@dataclass(frozen=True)
class TeacherStage:
    """The pseudo-labelling stage of a run (see the module docstring).

    Attributes:
        sources: videos, image folders or images (paths).
        teacher: the teacher's weights (any file :func:`core.resolve.load_detector` reads, or ``demo``).
        score_thresh: the teacher's detections scoring above this become labels, in [0, 1).
        every: keep one frame in ``every``.
        classes: the teacher's class names to keep (None: all).
        distill: train with the teacher's soft class scores too (``TrainConfig.distill_teacher``).
        rename: ``"OLD=NEW,..."``: teacher classes under other names in the dataset (None: as they are).
        tiles, tile_overlap: ``"RxC"`` tiles of each frame for the teacher too (None: whole frames).
        temporal: refine the labels of videos in time with the default :class:`core.tracking.TemporalConfig`.
    """

    sources: tuple[str, ...]
    teacher: str = "demo"
    score_thresh: float = 0.5
    every: int = 10
    classes: tuple[str, ...] | None = None
    distill: bool = False
    rename: str | None = None
    tiles: str | None = None
    tile_overlap: float = 0.2
    temporal: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(str(s) for s in self.sources))
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(self.classes))
        if not self.sources:
            raise ValueError("TeacherStage.sources: give at least one video, image folder or image to label")
        for spec in TEACHER_FIELDS:
            if spec.name != "classes":
                spec.check(getattr(self, spec.name))
        self.labelling(".")  # a malformed --teacher-rename or --teacher-tiles fails here, before any work
        if self.distill:
            from core.model_spec import TEACHER_KINDS, kind_of

            if kind_of(self.teacher) in TEACHER_KINDS:
                raise ValueError(f"--distill-from-teacher: {self.teacher!r} can label the footage, but distillation "
                                 f"learns an SSD teacher's scores on each default box; give an SSD file or train "
                                 f"without it")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists, numbers, strings) for settings files."""
        return {"sources": list(self.sources), "teacher": self.teacher, "score_thresh": self.score_thresh,
                "every": self.every, "classes": None if self.classes is None else list(self.classes),
                "distill": self.distill, "rename": self.rename, "tiles": self.tiles, "tile_overlap": self.tile_overlap,
                "temporal": self.temporal}

    @staticmethod
    def from_dict(d: dict[str, Any], source: str = "<dict>") -> "TeacherStage":
        """Inverse of :meth:`to_dict`; ``source`` is named in errors."""
        try:
            return TeacherStage(**{**d, "sources": tuple(d.get("sources") or ())})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from None

    def labelling(self, out_dir: str | Path, device: str = "cpu", trust_code: bool = False) -> PseudoLabelConfig:
        """The :class:`PseudoLabelConfig` of this stage for the run in ``out_dir`` (``trust_code``: the run's
        opt-in for a teacher that runs code when opened)."""
        from core.tracking.refine import TemporalConfig

        return PseudoLabelConfig(sources=self.sources, teacher=self.teacher, out_dir=str(Path(out_dir) / LABELS_DIR),
                                 score_thresh=self.score_thresh, every=self.every, fmt="voc", classes=self.classes,
                                 rename=parse_rename(self.rename, "--teacher-rename"), device=device,
                                 trust_code=trust_code, tiles=self.tiles, tile_overlap=self.tile_overlap,
                                 temporal=TemporalConfig() if self.temporal else None)


@dataclass(frozen=True)
class TeacherRunResult:
    """What :func:`pseudo_label_then_train` left.

    Attributes:
        labels: the pseudo-labelling (``partial`` when it was stopped).
        train: the training run, or None when the run stopped before it began.
    """

    labels: PseudoLabelResult
    train: TrainResult | None

    @property
    def stopped(self) -> bool:
        """The run ended before its last iteration (Resume continues it)."""
        return self.train is None or self.train.stopped


def teacher_train_config(cfg: TrainConfig, stage: TeacherStage) -> TrainConfig:
    """``cfg`` training on the stage's dataset in its run folder (and distilling from its teacher when asked)."""
    return replace(cfg, data_format="voc", data_path=str(Path(cfg.out_dir) / LABELS_DIR), train_split="train",
                   val_split="val", distill_teacher=stage.teacher if stage.distill else cfg.distill_teacher)


def _finished_labelling(label_cfg: PseudoLabelConfig) -> PseudoLabelResult | None:
    """The dataset an earlier start finished for these sources and settings, or None (label, or resume labelling).

    Raises:
        core.pseudo_label.DatasetExistsError: the folder holds another labelling (never mixed).
    """
    from core.data.source_ids import covers
    from core.pseudo_label import check_target
    from core.resolve import model_identity

    out = Path(label_cfg.out_dir)
    if not out.is_dir():
        return None
    try:
        identity = model_identity(label_cfg.teacher, label_cfg.tiling(), label_cfg.trust_code)
    except (ValueError, FileNotFoundError):
        return None  # pseudo_label names what is missing
    _, previous = check_target(out, label_cfg.settings(identity), label_cfg.sources)
    if previous is None or not previous.get("complete") or not covers(previous.get("sources", []), label_cfg.sources):
        return None
    frames = int(previous.get("frames", 0))
    return PseudoLabelResult(out_dir=out, dataset_path=out, fmt="voc", class_names=tuple(previous["class_names"]),
                             frames_written=0, frames_skipped=frames, frames_total=frames, objects=0, partial=False)


def _stopped_before_labelling(out: Path) -> PseudoLabelResult:
    """The result of a run stopped before its first frame (the frames of an earlier start are still there)."""
    done = len(list((out / "Annotations").glob("*.xml"))) if out.is_dir() else 0
    return PseudoLabelResult(out_dir=out, dataset_path=out, fmt="voc", class_names=(), frames_written=0,
                             frames_skipped=0, frames_total=done, objects=0, partial=True)


def _overwrite_run(out: Path) -> None:
    """``overwrite`` of a new run: the old run's files go now, not when training starts (a stop while labelling
    must not leave an old ``last.pt`` to resume), and its pseudo-labels too (only a folder this module wrote)."""
    from core.data.pseudo_label_files import STATE_FILE
    from core.engine.rundir import prepare_run_dir

    prepare_run_dir(out, overwrite=True, resumed=False)
    labels = out / LABELS_DIR
    if labels.is_dir() and (labels / STATE_FILE).is_file():
        shutil.rmtree(labels)


def pseudo_label_then_train(cfg: TrainConfig, stage: TeacherStage, on_progress: ProgressFn | None = None,
                            should_stop: StopFn | None = None) -> TeacherRunResult:
    """Run both stages (see the module docstring) in ``cfg.out_dir``.

    Args:
        cfg: the training run; its data fields are replaced by :func:`teacher_train_config`.
        stage: the sources, the teacher and the labelling settings.
        on_progress: :class:`core.jobs.Progress` during stage 1, :class:`core.engine.TrainProgress` during stage 2.
        should_stop: polled between frames and between iterations; the run ends resumable.

    Raises:
        core.engine.rundir.RunExistsError: the folder holds another run and neither resume nor overwrite
            was asked for (before any work).
        core.pseudo_label.DatasetExistsError, ValueError, OSError: as :func:`core.pseudo_label.pseudo_label`
            and :func:`core.engine.trainer.train`.
    """
    from core.engine.distill import check_distillation
    from core.engine.rundir import check_run_dir, check_run_inputs
    from core.engine.trainer import train
    from core.pseudo_label import pseudo_label

    out = Path(cfg.out_dir).expanduser()
    check_run_dir(out, cfg.resume, cfg.overwrite)
    check_run_inputs(out, cfg.model_inputs() + [("teacher", stage.teacher)])
    check_distillation(teacher_train_config(cfg, stage))  # a teacher that cannot teach fails now, not after labelling
    if cfg.overwrite and cfg.resume is None:
        _overwrite_run(out)
    label_cfg = stage.labelling(out, "cpu" if cfg.device == "auto" else cfg.device, cfg.trust_code)
    labels = _finished_labelling(label_cfg)
    if labels is None:
        try:
            labels = pseudo_label(label_cfg, on_progress=on_progress, should_stop=should_stop)
        except Cancelled:  # stopped while the teacher loaded: nothing labelled yet, the run starts again
            labels = _stopped_before_labelling(Path(label_cfg.out_dir))
        if labels.partial:
            return TeacherRunResult(labels, None)
    if labels.frames_total == 0:
        raise ValueError(f"{label_cfg.out_dir}: the teacher labelled no frame of {', '.join(stage.sources)}")
    earlier = f", {labels.frames_skipped} labelled before" if labels.frames_skipped else ""
    report(on_progress, labels.frames_total, labels.frames_total, STAGE_LABELLED,
           f"{labels.frames_total} frame(s) in {labels.dataset_path} ({labels.frames_written} labelled now{earlier}, "
           f"{labels.objects} label(s) written now)" + "".join(f"; {w}" for w in labels.warnings))
    return TeacherRunResult(labels, train(teacher_train_config(cfg, stage), on_progress, should_stop))


__all__ = ["LABELS_DIR", "STAGE_LABEL", "STAGE_LABELLED", "TEACHER_FIELDS", "TeacherRunResult", "TeacherStage",
           "parse_classes", "parse_rename", "pseudo_label_then_train", "teacher_field", "teacher_train_config"]
