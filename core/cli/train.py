"""`ssd train`: train a detector. Every option is derived from a TrainConfig field (core.engine.config)."""
from __future__ import annotations

import argparse
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
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run the options describe: TrainConfig's defaults, overridden by every option given.

    A new run needs ``--out``; with ``--resume`` the output folder defaults to the checkpoint's.
    """
    given = {spec.name: getattr(args, spec.name) for spec in train_fields() if hasattr(args, spec.name)}
    resume = given.get("resume")
    if "out_dir" not in given:
        if resume is None:
            raise ValueError("give --out (a new run folder), or --resume RUN/last.pt to continue a run")
        given["out_dir"] = str(Path(resume).parent)
    return replace(TrainConfig(), **given)


def _show_progress() -> tuple[Callable[[Any], None], Callable[[], None]]:
    """An ``on_progress`` that draws a bar for steps and prints every other event on its own line."""
    from core.engine import EventKind

    bar: ProgressBar | None = None

    def show(p: Any) -> None:
        nonlocal bar
        if bar is None:
            bar = ProgressBar("train", p.total_iterations)
            bar.n = p.iteration
        if p.kind == EventKind.STEP:
            bar.update(p.iteration - bar.n, suffix=f"loss {p.loss:.3f} (loc {p.loc_loss:.3f} "
                                                   f"conf {p.conf_loss:.3f}) lr {p.lr:.2e}")
        elif p.kind not in (EventKind.CHECKPOINT_SAVED, EventKind.FINISHED):
            sys.stderr.write(f"\n{p.message}\n" if bar.n else f"{p.message}\n")

    def close() -> None:
        if bar is not None:
            bar.close()

    return show, close


def run(args: argparse.Namespace) -> int:
    from core.engine import train

    cfg = config_from_args(args)
    show, close = _show_progress()
    try:
        result = train(cfg, on_progress=show)
    finally:
        close()
    vm = "" if result.val_map is None else f", validation VOC07 mAP@0.5 {result.val_map:.4f}"
    state = "stopped" if result.stopped else "finished"
    print(f"{state} after {result.iterations} iterations{vm}; model -> {result.checkpoint}, "
          f"metrics -> {result.metrics_csv}", file=sys.stderr)
    return 0
