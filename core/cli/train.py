"""`ssd train`: train a detector. Every option is derived from a TrainConfig field (core.engine.config)."""
from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from core.cli.progress import ProgressBar
from core.engine.config import GROUPS, FieldSpec, FieldValueError, TrainConfig, train_fields


def _value_parser(spec: FieldSpec) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return spec.parse(text)
        except FieldValueError as exc:
            raise argparse.ArgumentTypeError(f"{exc.value!r} {exc.why}") from None

    parse.__name__ = spec.kind  # argparse names the type in some messages
    return parse


def _add_option(group: argparse._ArgumentGroup, spec: FieldSpec) -> None:
    dest = spec.name
    default_text = spec.none_text or "none" if spec.default is None else spec.format(spec.default)
    text = f"{spec.help} (default {default_text})"
    # SUPPRESS: an option not given stays out of the namespace, so a resumed run keeps its saved value.
    if spec.kind == "bool":
        group.add_argument(spec.flag, dest=dest, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           help=text)
    elif spec.kind == "choice":
        group.add_argument(spec.flag, dest=dest, choices=spec.choices, default=argparse.SUPPRESS, help=text)
    else:
        metavar = {"path": "PATH", "floats": "F[,F...]"}.get(spec.kind, spec.kind.upper())
        group.add_argument(spec.flag, dest=dest, type=_value_parser(spec), metavar=metavar,
                           default=argparse.SUPPRESS, help=text)


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a detector",
                       description="Train an SSD detector. Writes last.pt (resumable), model.pt, best.pt and "
                                   "metrics.csv into --out. --resume RUN/last.pt continues that run in its folder "
                                   "with its saved settings (options given here override them). Under torchrun "
                                   "every process runs this same command (DistributedDataParallel; --batch-size "
                                   "is per process).")
    groups = {g: p.add_argument_group(g) for g in GROUPS}
    for spec in train_fields():
        _add_option(groups[spec.group], spec)
    _add_teacher_options(p)
    p.set_defaults(run=run)


def _add_teacher_options(p: argparse.ArgumentParser) -> None:
    """``--unlabelled SOURCE...``: a teacher labels them into RUN/pseudo_labels first (core.engine.teacher_run)."""
    from core.engine.teacher_run import TEACHER_FIELDS

    group = p.add_argument_group(
        "unlabelled data + teacher", "with --unlabelled the run's first stage is a teacher labelling every N-th frame "
        "of the sources into RUN/pseudo_labels (as ssd pseudo-label); the model then trains on those labels (--format, "
        "--data, --train-split and --val-split are refused with it). Running the same command again continues a "
        "stopped labelling.")
    group.add_argument("--unlabelled", nargs="+", metavar="SOURCE", default=argparse.SUPPRESS,
                       help="videos, image folders or images to pseudo-label")
    for spec in TEACHER_FIELDS:
        _add_option(group, spec)


def teacher_stage_from_args(args: argparse.Namespace) -> Any:
    """The :class:`core.engine.teacher_run.TeacherStage` of ``--unlabelled`` and its options, or None."""
    from core.engine.teacher_run import TEACHER_FIELDS, TeacherStage, parse_classes

    given = {spec.name: getattr(args, spec.name) for spec in TEACHER_FIELDS if hasattr(args, spec.name)}
    if not hasattr(args, "unlabelled"):
        if given:
            flags = ", ".join(spec.flag for spec in TEACHER_FIELDS if spec.name in given)
            raise ValueError(f"{flags}: only with --unlabelled SOURCE... (the footage the teacher labels)")
        return None
    if "classes" in given:
        given["classes"] = parse_classes(given["classes"])
    return TeacherStage(sources=tuple(args.unlabelled), **given)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run the options describe: TrainConfig's defaults, overridden by every option given.

    A new run needs ``--out``. ``--resume RUN/last.pt`` starts from the settings that run was saved
    with (so the repeated command, or ``--resume`` alone, continues it) and writes into its folder.
    """
    given = {spec.name: getattr(args, spec.name) for spec in train_fields() if hasattr(args, spec.name)}
    resume = given.get("resume")
    base = TrainConfig()
    if resume is not None:
        from core.engine.checkpoint import saved_train_config

        saved = saved_train_config(resume)
        saved.update(resume=None, overwrite=False)
        base = TrainConfig.from_dict(saved, source=str(resume)) if saved else base
        given.setdefault("out_dir", str(Path(resume).parent))
    elif "out_dir" not in given:
        raise ValueError("give --out (a new run folder), or --resume RUN/last.pt to continue a run")
    elif "arch" not in given and "device" in given:
        from core.config import default_arch

        device = str(given["device"])
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        given["arch"] = default_arch(device)  # the light model on a CPU, SSD300 on a GPU
    if resume is None:
        _pseudo_label_splits(given)
    return replace(base, **given)


#: The options ``--unlabelled`` decides (the teacher's labels in RUN/pseudo_labels, train split, val to validate).
UNLABELLED_DECIDES = ("data_format", "data_path", "train_split", "val_split")


def _pseudo_label_splits(given: dict[str, Any]) -> None:
    """A pseudo-labelled VOC or YOLO folder trains on its ``train`` split and validates on ``val`` unless the
    splits are given: the defaults (``trainval``, ``test``) would train on the frames it validates on, or on
    a split it does not have."""
    from core.data.pseudo_label_files import pseudo_label_splits

    if "train_split" in given or "val_split" in given or not given.get("data_path"):
        return
    splits = pseudo_label_splits(given["data_path"])
    if splits is not None and given.get("data_format") in ("voc", "yolo"):
        given["train_split"], given["val_split"] = splits
        sys.stderr.write(f"{given['data_path']} is a pseudo-labelled dataset: training on its {splits[0]!r} split, "
                         f"validating on {splits[1]!r} (--train-split / --val-split choose others)\n")


class StopOnSignal:
    """SIGINT and SIGTERM ask the run to stop after the current step, which saves a checkpoint first;
    a second SIGINT interrupts at once (the last checkpoint on disk stays whole: writes are atomic).

    Use as ``should_stop`` inside a ``with`` block (handlers are put back on exit).
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopOnSignal":
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum
        sys.stderr.write(f"\n{signal.Signals(signum).name}: stopping after this iteration and saving a checkpoint "
                         "(Ctrl-C again quits at once)\n")
        sys.stderr.flush()

    def __call__(self) -> bool:
        return self.received is not None


def _show_progress() -> tuple[Callable[[Any], None], Callable[[], None]]:
    """An ``on_progress`` that draws a bar for steps and prints every other event on its own line."""
    from core.engine import EventKind

    bar: ProgressBar | None = None

    def show(p: Any) -> None:
        nonlocal bar
        if bar is None:
            bar = ProgressBar("train", p.total_iterations, start=p.iteration)
        if p.kind == EventKind.STEP:
            bar.update(p.iteration - bar.n, suffix=f"loss {p.loss:.3f} (loc {p.loc_loss:.3f} "
                                                   f"conf {p.conf_loss:.3f}) lr {p.lr:.2e}")
            return
        if p.kind in (EventKind.CHECKPOINT_SAVED, EventKind.FINISHED, EventKind.STOPPED):
            return  # said once at the end
        prefix = "warning: " if p.kind == EventKind.WARNING else ""
        sys.stderr.write(("\n" if bar.started else "") + f"{prefix}{p.message}\n")

    def close() -> None:
        if bar is not None:
            bar.close()

    return show, close


def _show_stage(show_train: Callable[[Any], None]) -> tuple[Callable[[Any], None], Callable[[], None]]:
    """``show_train`` with a bar for the pseudo-labelling stage's ``core.jobs.Progress`` events in front."""
    from core.engine.teacher_run import STAGE_LABEL, STAGE_LABELLED
    from core.jobs import Progress

    bar: ProgressBar | None = None

    def show(p: Any) -> None:
        nonlocal bar
        if not isinstance(p, Progress):
            show_train(p)
        elif p.stage == STAGE_LABELLED:
            close()
            sys.stderr.write(f"pseudo-labels: {p.detail}\n")
        elif p.stage == STAGE_LABEL and p.done:
            if bar is None:
                bar = ProgressBar("pseudo-label", p.total, start=p.done - 1)
            bar.update(p.done - bar.n)

    def close() -> None:
        nonlocal bar
        if bar is not None:
            bar.close()
            bar = None

    return show, close


def run(args: argparse.Namespace) -> int:
    from core.engine import train
    from core.engine.teacher_run import pseudo_label_then_train

    stage = teacher_stage_from_args(args)
    ignored = [spec.flag for spec in train_fields() if spec.name in UNLABELLED_DECIDES and hasattr(args, spec.name)]
    if stage is not None and ignored:
        raise ValueError(f"{', '.join(ignored)}: not with --unlabelled, whose run trains on the teacher's labels in "
                         f"RUN/pseudo_labels (its train split, validated on val); drop them, or train on a dataset "
                         f"without --unlabelled")
    cfg = config_from_args(args)
    show, close = _show_progress()
    if stage is not None:
        show, close_stage = _show_stage(show)
    with StopOnSignal() as stop:
        try:
            if stage is None:
                result = train(cfg, on_progress=show, should_stop=stop)
            else:
                both = pseudo_label_then_train(cfg, stage, on_progress=show, should_stop=stop)
                if both.train is None:
                    print(f"stopped while pseudo-labelling: {both.labels.frames_total} frame(s) labelled in "
                          f"{both.labels.out_dir}; run the same command again to continue", file=sys.stderr)
                    return 128 + stop.received if stop.received is not None else 0
                result = both.train
        finally:
            close()
            if stage is not None:
                close_stage()
    vm = "" if result.val_map is None else f", validation VOC07 mAP@0.5 {result.val_map:.4f}"
    last = result.run_dir / "last.pt"
    if not result.stopped:
        print(f"finished after {result.iterations} iterations{vm}; model -> {result.checkpoint}, "
              f"metrics -> {result.metrics_csv}", file=sys.stderr)
        return 0
    why = f" ({signal.Signals(stop.received).name})" if stop.received is not None else ""
    print(f"stopped{why} after {result.iterations} iterations{vm}; checkpoint saved: {last}\n"
          f"resume with: ssd train --resume {last}", file=sys.stderr)
    return 128 + stop.received if stop.received is not None else 0
