"""What a training run tells its caller: typed progress events, the result, and its errors.

``on_progress`` receives one :class:`TrainProgress` per event; ``kind`` (an :class:`EventKind`) says
what happened, so nobody parses ``message``, which is for people:

    STARTED           once, after data and model are built (``total_iterations`` known)
    RESUMED           once, instead of STARTED, when continuing from a checkpoint
    STEP              after every optimizer step (loss terms, lr, throughput, ETA)
    VALIDATED         after a validation (``val_map``)
    CHECKPOINT_SAVED  after ``last.pt`` was written (``path``)
    WARNING           something the user should know (a dataset problem); ``message`` says what
    STOPPED           the run stopped on request (``path`` = the checkpoint to resume from)
    FINISHED          the run reached its last iteration (``path`` = ``model.pt``)

Loss fields are NaN on every event but STEP; ``val_map`` is set on VALIDATED only.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable, NamedTuple


class EventKind(str, Enum):
    """The kind of a :class:`TrainProgress` event (a ``str``: ``EventKind.STEP == "step"``)."""

    STARTED = "started"
    RESUMED = "resumed"
    STEP = "step"
    VALIDATED = "validated"
    CHECKPOINT_SAVED = "checkpoint_saved"
    WARNING = "warning"
    STOPPED = "stopped"
    FINISHED = "finished"


class NonFiniteLossError(RuntimeError):
    """The loss or the weights became NaN or infinite; the message names the iteration and the last
    good checkpoint (or the weights file the run started from)."""


@dataclass(frozen=True)
class TrainProgress:
    """One progress event (plain numbers; safe to send across threads).

    Attributes:
        kind: what happened (see the module docstring).
        iteration: optimizer steps done so far (1-based after the first step).
        total_iterations: steps the run will do.
        epoch: 1-based epoch the iteration belongs to.
        loss, loc_loss, conf_loss: the batch's loss terms (averaged over ranks); NaN unless ``kind`` is STEP.
        lr: learning rate used for the latest step (the next step's before the first).
        images_per_s: recent throughput over all ranks (0 before the first step).
        eta_s: estimated seconds to the end, excluding validation (NaN while unknown).
        val_map: VOC07 mAP@0.5 of the validation that just finished (VALIDATED), else None.
        data_wait_fraction: recent share of the step time spent waiting for the data loader.
        message: a human-readable note; never needs parsing.
        path: the file a CHECKPOINT_SAVED, STOPPED or FINISHED event is about, else None.
    """

    iteration: int
    total_iterations: int
    epoch: int
    loss: float
    loc_loss: float
    conf_loss: float
    lr: float
    images_per_s: float
    eta_s: float
    val_map: float | None
    data_wait_fraction: float
    message: str = ""
    kind: EventKind = EventKind.STEP
    path: Path | None = None

    # core.jobs.Progress's shape, so a generic job worker can show any job's progress.
    @property
    def done(self) -> int:
        return self.iteration

    @property
    def total(self) -> int:
        return self.total_iterations

    @property
    def stage(self) -> str:
        return self.kind.value

    @property
    def detail(self) -> str:
        return self.message

    @property
    def fraction(self) -> float | None:
        if not self.total_iterations:
            return None
        return min(1.0, max(0.0, self.iteration / self.total_iterations))


@dataclass(frozen=True)
class TrainResult:
    """What a finished (or stopped) run left behind."""

    run_dir: Path
    checkpoint: Path
    iterations: int
    stopped: bool
    val_map: float | None
    metrics_csv: Path


ProgressFn = Callable[[TrainProgress], None]
StopFn = Callable[[], bool]


class StepOut(NamedTuple):
    """One optimizer step: the loss terms (averaged over ranks), the learning rate it used, its images."""

    loss: float
    loc: float
    conf: float
    lr: float
    images: int
    distill: float | None = None  # the distillation term (weighted), when distilling
