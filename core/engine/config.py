"""The one definition of a training run: :class:`TrainConfig`, its choices, bounds and the project's seeds.

Every field of :class:`TrainConfig` carries its own description in the dataclass field's metadata
(label, help, group, choices, bounds, the data formats it applies to, its ``ssd train`` option).
``ssd train``'s options (core.cli.train) and the Train dialog's fields are derived from
:func:`train_fields`, and :meth:`TrainConfig.__post_init__` checks every value against the same
specs, so a default, a choice or a bound is written once, here.

    for spec in train_fields():          # FieldSpec(name="lr", kind="float", default=0.001, ...)
        widget = make_widget(spec)       # the GUI; the CLI adds one argparse option per spec
    cfg = TrainConfig(lr=spec.parse("3e-4"))   # text -> value, ValueError naming the field
"""
from __future__ import annotations

import math
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from core.config import ARCHITECTURES, default_arch

# ---------------------------------------------------------------------------------------- seeds
#: Synthetic training scenes (the demo model's and the default run's).
TRAIN_SEED = 1
#: Held-out synthetic scenes for validation during training and the Evaluate view's default; never trained on.
VAL_SEED = 1_000_003
#: The demo model's final held-out test scenes (``python -m core.engine.demo export``); used by nothing else.
TEST_SEED = 2024
#: The demo video's scenes (``core/resources/demo.mp4``).
VIDEO_SEED = 7
#: The annotation-free proof's videos (seeds PROOF_VIDEO_SEED, PROOF_VIDEO_SEED + 1, ...; core.engine.annotation_free).
PROOF_VIDEO_SEED = 500_000
#: The tracking benchmark's videos (seeds TRACKING_VIDEO_SEED + k), the temporal pseudo-label benchmark's (+ k).
TRACKING_VIDEO_SEED = 600_000
TEMPORAL_VIDEO_SEED = 700_000
#: A meta-set copy with seed s corrupts its image i with seed ``s * COPY_SEED_STRIDE + i`` (estimate.calibrate).
COPY_SEED_STRIDE = 1_000_003

# -------------------------------------------------------------------------------------- choices
FORMATS: tuple[str, ...] = ("voc", "coco", "yolo", "synthetic")
#: The architectures of core.config.ARCHITECTURES (their registry: label, description, default boxes).
ARCHS: tuple[str, ...] = tuple(ARCHITECTURES)
PRIORS: tuple[str, ...] = ("voc", "coco")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")
AUGMENTATIONS: tuple[str, ...] = ("ssd", "light", "none")
GROUPS: tuple[str, ...] = ("data", "model", "optimisation", "run")

CHOICE_LABELS: dict[str, str] = {
    "synthetic": "Synthetic shapes", "voc": "VOC folder", "coco": "COCO JSON", "yolo": "YOLO folder (data.yaml)",
    **{name: a.label for name, a in ARCHITECTURES.items()},
    "sgd": "SGD with momentum", "adam": "Adam",
    "ssd": "SSD (photometric, expand, crop, flip)", "light": "Light (photometric, flip)",
    "none": "None (resize only)",
}
#: For VGG; each other architecture has one set, its origin's (qfgaohao's VOC config, torchvision's or NVIDIA's COCO).
PRIOR_LABELS: dict[str, str] = {"voc": "VOC (Caffe / ssd.pytorch)", "coco": "COCO (torchvision)"}

INT32_MAX = 2**31 - 1


def default_num_workers(cpu_count: int | None = None) -> int:
    """Data-loader processes that train fastest on a machine with ``cpu_count`` logical CPUs.

    Why at least one, even on two cores: with the loading in the training process every step waits
    for its batch to be rendered or decoded and augmented. Measured on the 2-core reference machine
    (width-0.125 SSD300, the 'ssd' augmentation, batch 8, ``benchmarks/bench_train.py``-style runs,
    niced): quiet, 0 workers spent 22 % of the step waiting for data (9.7 images/s) and 1 worker 3 %
    (13.0 images/s); with six other jobs on the two cores, interleaved medians were 1.01 (0 workers),
    1.05 (1) and 1.10 (2) images/s, so a loader process never cost speed. More processes pay only
    with cores to run them: half the cores, at most 4 (the network, not the loader, is then the
    bottleneck, and each process holds a copy of the dataset index).
    """
    n = os.cpu_count() if cpu_count is None else cpu_count
    return min(4, max(1, (n or 1) // 2))


DEFAULT_NUM_WORKERS = default_num_workers()


# -------------------------------------------------------------------------------- field specs
class FieldValueError(ValueError):
    """A value a :class:`FieldSpec` refuses; ``field``, ``flag``, ``value`` and ``why`` for callers that
    phrase it their way (the CLI names the option, the dialog the label)."""

    def __init__(self, spec: "FieldSpec", value: Any, why: str) -> None:
        super().__init__(f"TrainConfig.{spec.name}={value!r} ({spec.flag}): {why}")
        self.field, self.flag, self.label, self.value, self.why = spec.name, spec.flag, spec.label, value, why


@dataclass(frozen=True)
class FieldSpec:
    """How one :class:`TrainConfig` field is shown, parsed and checked (the CLI and the GUI read this).

    Attributes:
        name: the TrainConfig field name.
        kind: "str", "path", "int", "float", "bool", "choice" or "floats" (a tuple of floats).
        default: TrainConfig's default.
        label: a short title for a form ("Learning rate").
        help: one sentence for a tooltip or ``--help``.
        group: one of :data:`GROUPS`.
        flag: the ``ssd train`` option ("--lr").
        choices: the allowed values of a "choice" field; ``choice_labels`` their display texts.
        optional: None is allowed; ``none_text`` says what None means ("no limit", "off").
        minimum, maximum: numeric bounds (each element's for "floats"); ``exclusive_minimum`` /
            ``exclusive_maximum`` make a bound strict.
        path_mode: for "path": "file", "dir" or "any" (a file or a folder).
        formats: the data formats this field applies to (None: all); the dialog hides the others.
    """

    name: str
    kind: str
    default: Any
    label: str
    help: str
    group: str
    flag: str
    choices: tuple[str, ...] | None = None
    choice_labels: tuple[str, ...] | None = None
    optional: bool = False
    none_text: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    path_mode: str | None = None
    formats: tuple[str, ...] | None = None

    def _bad(self, value: Any, why: str) -> FieldValueError:
        return FieldValueError(self, value, why)

    def bounds_text(self) -> str:
        lo = "" if self.minimum is None else f"{'>' if self.exclusive_minimum else '>='} {self.minimum:g}"
        hi = "" if self.maximum is None else f"{'<' if self.exclusive_maximum else '<='} {self.maximum:g}"
        return " and ".join(t for t in (lo, hi) if t)

    def _check_number(self, value: Any, whole: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._bad(whole, "must be a number")
        if self.kind == "int" and not isinstance(value, int):
            raise self._bad(whole, "must be a whole number")
        if not math.isfinite(value):
            raise self._bad(whole, "must be a finite number")
        lo, hi = self.minimum, self.maximum
        if (lo is not None and (value <= lo if self.exclusive_minimum else value < lo)) or \
                (hi is not None and (value >= hi if self.exclusive_maximum else value > hi)):
            raise self._bad(whole, f"must be {self.bounds_text()}")

    def check(self, value: Any) -> None:
        """Raise ``ValueError`` naming the field and its option when ``value`` is not allowed."""
        if value is None:
            if not self.optional:
                raise self._bad(value, "a value is required")
            return
        if self.kind == "choice":
            if value not in (self.choices or ()):
                raise self._bad(value, f"choose one of {self.choices}")
        elif self.kind in ("int", "float"):
            self._check_number(value, value)
        elif self.kind == "floats":
            if not isinstance(value, tuple):
                raise self._bad(value, "must be a tuple of numbers")
            for v in value:
                self._check_number(v, value)
            if list(value) != sorted(value) or len(set(value)) != len(value):
                raise self._bad(value, "must be increasing")
        elif self.kind == "bool":
            if not isinstance(value, bool):
                raise self._bad(value, "must be True or False")
        elif not isinstance(value, str) or not value:
            raise self._bad(value, "must be a non-empty text")

    def parse(self, text: str) -> Any:
        """Text from a command line or a line edit -> a checked value (``ValueError`` naming the field).

        For an optional field "none" (or an empty text) gives None; "floats" take comma-separated numbers.
        """
        t = text.strip()
        if self.optional and t.lower() in ("", "none"):
            return None
        try:
            if self.kind == "int":
                value: Any = int(t)
            elif self.kind == "float":
                value = float(t)
            elif self.kind == "floats":
                value = tuple(float(v) for v in t.replace(";", ",").split(",") if v.strip())
            elif self.kind == "bool":
                if t.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(t)
                value = t.lower() in ("1", "true", "yes", "on")
            else:
                value = t
        except ValueError:
            raise self._bad(text, f"not a valid {self.kind} value") from None
        self.check(value)
        return value

    def format(self, value: Any) -> str:
        """A value as :meth:`parse` reads it back ("none" for None, "0.6667,0.8333" for floats)."""
        if value is None:
            return "none"
        if self.kind == "floats":
            return ",".join(f"{v:.6g}" for v in value)
        return str(value)


def _spec(default: Any, label: str, help: str, group: str, kind: str, **extra: Any) -> Any:
    """A dataclass field whose metadata describes it (see :class:`FieldSpec`)."""
    return field(default=default, metadata={"spec": dict(label=label, help=help, group=group, kind=kind, **extra)})


_SYN = ("synthetic",)
_FILES = ("voc", "coco", "yolo")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; every field is settable from ``ssd train`` and the GUI.

    Each field's help, bounds and choices are in its metadata (see :func:`train_fields`). In short:
    data (format, path, splits, synthetic scenes, augmentation), model (architecture, default boxes,
    width, backbone or detector weights to start from), optimisation (epochs, batch size per process,
    optimiser, learning rate and its schedule: linear warm-up over ``warmup_iters``, times ``gamma`` at
    each milestone, given as fractions of the run), run (device, loader processes, torch threads,
    seed, output folder, checkpoint and validation intervals, resume).
    """

    # -- data
    data_format: str = _spec("synthetic", "Format", "dataset format", "data", "choice", choices=FORMATS,
                             flag="--format")
    data_path: str | None = _spec(None, "Path", "VOC root (several: comma-separated), COCO JSON or YOLO folder",
                                  "data", "path", optional=True, path_mode="any", formats=_FILES, flag="--data")
    train_split: str = _spec("trainval", "Training split", "VOC image set or YOLO split to train on", "data", "str",
                             formats=("voc", "yolo"))
    val_split: str | None = _spec("test", "Validation split / JSON",
                                  "VOC image set, YOLO split or COCO instances JSON to validate on; 'none' disables "
                                  "validation (for synthetic scenes any other value turns it on)",
                                  "data", "str", optional=True, none_text="no validation")
    synthetic_count: int = _spec(2000, "Scenes", "synthetic training scenes", "data", "int", minimum=1,
                                 maximum=INT32_MAX, formats=_SYN)
    synthetic_seed: int = _spec(TRAIN_SEED, "Seed", "seed of the synthetic training scenes", "data", "int",
                                minimum=0, maximum=INT32_MAX, formats=_SYN)
    synthetic_size: int = _spec(300, "Scene size (px)", "side of the square synthetic scenes in pixels", "data",
                                "int", minimum=32, maximum=4096, formats=_SYN)
    val_count: int = _spec(200, "Validation scenes", "held-out synthetic scenes", "data", "int", minimum=1,
                           maximum=INT32_MAX, formats=_SYN)
    val_seed: int = _spec(VAL_SEED, "Validation seed",
                          "seed of the held-out synthetic scenes (never the training seed)", "data", "int",
                          minimum=0, maximum=INT32_MAX, formats=_SYN)
    augment: str = _spec("ssd", "Augmentation",
                         "ssd: the paper's photometric + expand + crop + flip chain; light: photometric + flip; "
                         "none: resize only", "data", "choice", choices=AUGMENTATIONS)
    cache_images: bool = _spec(False, "Keep decoded images in memory",
                               "decode/render each training image once per loader process", "data", "bool")
    # -- model
    arch: str = _spec(default_arch("cpu"), "Architecture", "network (ssd info --models describes each; the "
                      "default is the light one, for CPUs)", "model", "choice", choices=ARCHS, flag="--model")
    priors: str | None = _spec(None, "Default boxes", "default-box set: voc or coco for the VGG models; the "
                               "others have their own", "model", "choice", choices=PRIORS,
                               choice_labels=tuple(PRIOR_LABELS[p] for p in PRIORS), optional=True,
                               none_text="the model's own (voc for VGG)")
    width: float = _spec(1.0, "Width", "channel multiplier: 1.0 is the published network; 0.125 trains fast on "
                         "a CPU", "model", "float", minimum=0.0, exclusive_minimum=True, maximum=4.0)
    backbone_weights: str | None = _spec(None, "Backbone", "ImageNet classifier weights in torchvision's layout to "
                                         "initialise the trunk: vgg16, mobilenet_v3_large (SSDlite320), "
                                         "mobilenet_v2 (SSDLite300) or resnet50", "model", "path", optional=True,
                                         path_mode="file", flag="--backbone")
    init_weights: str | None = _spec(None, "Start from", "detector weights (same architecture, width and "
                                     "classes) to fine-tune from, with a fresh optimiser and schedule",
                                     "model", "path", optional=True, path_mode="file", flag="--init")
    distill_teacher: str | None = _spec(None, "Distil from", "a teacher detector (same input size and default "
                                        "boxes, classes covering this run's) whose soft class scores on the matched "
                                        "priors become an extra loss term (core.engine.distill)", "model", "path",
                                        optional=True, none_text="no distillation", path_mode="file", flag="--distill")
    trust_code: bool = _spec(False, "Trust the TorchScript teacher's code (it can read and write your files)",
                             "allow a teacher that runs code when opened (a "
                             ".torchscript archive runs the TorchScript code inside it, which can read and write your "
                             "files); only for files from a source you trust", "model", "bool", flag="--trust-code")
    # -- optimisation
    epochs: int = _spec(10, "Epochs", "passes over the training set", "optimisation", "int", minimum=1,
                        maximum=INT32_MAX)
    batch_size: int = _spec(16, "Batch size", "images per step and process", "optimisation", "int", minimum=1,
                            maximum=65536)
    optimizer: str = _spec("sgd", "Optimizer", "optimiser", "optimisation", "choice", choices=OPTIMIZERS)
    lr: float = _spec(1e-3, "Learning rate", "peak learning rate", "optimisation", "float", minimum=0.0,
                      exclusive_minimum=True)
    momentum: float = _spec(0.9, "Momentum", "SGD momentum", "optimisation", "float", minimum=0.0, maximum=1.0,
                            exclusive_maximum=True)
    weight_decay: float = _spec(5e-4, "Weight decay", "L2 weight decay", "optimisation", "float", minimum=0.0)
    warmup_iters: int = _spec(500, "Warm-up iterations", "iterations of linear learning-rate warm-up",
                              "optimisation", "int", minimum=0, maximum=INT32_MAX)
    milestones: tuple[float, ...] = _spec((2 / 3, 5 / 6), "LR milestones",
                                          "learning-rate drops as fractions of the run (the paper: about "
                                          "0.667, 0.833), comma-separated", "optimisation", "floats",
                                          minimum=0.0, maximum=1.0, exclusive_minimum=True, exclusive_maximum=True)
    gamma: float = _spec(0.1, "LR factor at milestones", "learning-rate factor at each milestone", "optimisation",
                         "float", minimum=0.0, exclusive_minimum=True, maximum=1.0)
    max_iterations: int | None = _spec(None, "Max iterations", "stop after this many iterations in all",
                                       "optimisation", "int", optional=True, none_text="no limit", minimum=1,
                                       maximum=INT32_MAX)
    amp: bool = _spec(False, "Mixed precision", "fp16 autocast (CUDA only)", "optimisation", "bool")
    distill_weight: float = _spec(1.0, "Distillation weight", "A: the weight of the distillation term "
                                  "(A * T^2 * KL(teacher || student) on the matched priors)", "optimisation",
                                  "float", minimum=0.0)
    distill_temperature: float = _spec(2.0, "Distillation temperature", "T: softens both class distributions "
                                       "before comparing them (1: the plain softmax)", "optimisation", "float",
                                       minimum=0.0, exclusive_minimum=True, maximum=100.0)
    # -- run
    device: str = _spec("cpu", "Device", "cpu, cuda, cuda:N or auto", "run", "str")
    num_workers: int = _spec(DEFAULT_NUM_WORKERS, "Loader workers",
                             "data loader processes (0: load in the training process; the default is what "
                             "trains fastest on this machine)", "run", "int", minimum=0, maximum=64,
                             flag="--workers")
    num_threads: int | None = _spec(None, "Threads", "torch CPU threads of this process (1 is fastest on a CPU "
                                    "shared with other busy jobs)", "run", "int", optional=True,
                                    none_text="torch's default", minimum=1, maximum=1024, flag="--threads")
    seed: int = _spec(0, "Seed", "seed of the initial weights, sample order and augmentation", "run", "int",
                      minimum=0, maximum=INT32_MAX)
    out_dir: str = _spec("runs/train", "Output folder", "run folder for last.pt, model.pt, best.pt and "
                         "metrics.csv", "run", "path", path_mode="dir", flag="--out")
    checkpoint_every: int = _spec(500, "Checkpoint every (it.)", "iterations between checkpoints (0: epoch ends "
                                  "only)", "run", "int", minimum=0, maximum=INT32_MAX)
    val_every_epochs: int = _spec(1, "Validate every (epochs)", "epochs between validations (0: only at the end)",
                                  "run", "int", minimum=0, maximum=INT32_MAX, flag="--val-every")
    resume: str | None = _spec(None, "Resume from", "a run's last.pt to continue from", "run", "path",
                               optional=True, path_mode="file")
    overwrite: bool = _spec(False, "Overwrite", "replace a run already in the output folder instead of refusing",
                            "run", "bool")
    val_batch_size: int = _spec(16, "Validation batch size", "images per validation batch", "run", "int",
                                minimum=1, maximum=65536)

    def __post_init__(self) -> None:
        if isinstance(self.milestones, list):  # from JSON or a checkpoint
            object.__setattr__(self, "milestones", tuple(self.milestones))
        for spec in train_fields():
            spec.check(getattr(self, spec.name))
        if self.priors is not None and self.priors not in ARCHITECTURES[self.arch].priors:
            raise ValueError(f"TrainConfig.priors={self.priors!r} (--priors): {self.arch} offers "
                             f"{tuple(ARCHITECTURES[self.arch].priors)}")
        if self.data_format != "synthetic" and not self.data_path:
            raise ValueError(f"TrainConfig.data_path={self.data_path!r} (--data): a {self.data_format} dataset "
                             "needs a path")
        if self.data_format == "synthetic" and self.val_split is not None and self.val_seed == self.synthetic_seed:
            raise ValueError(f"TrainConfig.val_seed={self.val_seed!r} (--val-seed): the held-out synthetic scenes "
                             "must use a seed never used in training")

    def model_inputs(self) -> list[tuple[str, str]]:
        """(option, model string) of ``--init``, ``--backbone`` and ``--distill``: never a file the run writes."""
        given = (("--init weights", self.init_weights), ("--backbone weights", self.backbone_weights),
                 ("--distill teacher", self.distill_teacher))
        return [(role, str(spec)) for role, spec in given if spec]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists, numbers, strings, None) for checkpoints."""
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any], source: str = "<dict>") -> "TrainConfig":
        """Inverse of :meth:`to_dict`; ``source`` (a file) is named in errors."""
        known = {f.name for f in fields(TrainConfig)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{source}: unknown TrainConfig fields {unknown}")
        d = dict(d)
        if "milestones" in d:
            d["milestones"] = tuple(float(m) for m in d["milestones"])
        try:
            return TrainConfig(**d)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None


_FIELDS: tuple[FieldSpec, ...] | None = None


def train_fields() -> tuple[FieldSpec, ...]:
    """One :class:`FieldSpec` per :class:`TrainConfig` field, in declaration order (grouped by ``group``)."""
    global _FIELDS
    if _FIELDS is None:
        specs = []
        for f in fields(TrainConfig):
            meta = dict(f.metadata["spec"])
            choices = meta.get("choices")
            if choices is not None and "choice_labels" not in meta:
                meta["choice_labels"] = tuple(CHOICE_LABELS.get(c, c) for c in choices)
            meta.setdefault("flag", "--" + f.name.replace("_", "-"))
            default = f.default if f.default is not MISSING else None
            specs.append(FieldSpec(name=f.name, default=default, **meta))
        _FIELDS = tuple(specs)
    return _FIELDS


def field_spec(name: str) -> FieldSpec:
    """The :class:`FieldSpec` of one field (``KeyError`` for an unknown name)."""
    for spec in train_fields():
        if spec.name == name:
            return spec
    raise KeyError(f"TrainConfig has no field {name!r}")
