"""`ssd` command line: thin argument parsing over core.

Subcommands: detect, info, synth, train, eval. Each has ``_add_<name>(subparsers)`` and
``_run_<name>(args) -> int``; heavy imports happen inside the run functions so that
``ssd --help`` is instant.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence


# ------------------------------------------------------------------------------------ detect
def _add_detect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="run a detector on an image, a folder of images or a video",
                       description="Run a detector on SOURCE and write the detections as JSON.")
    p.set_defaults(run=_run_detect)


def _run_detect(args: argparse.Namespace) -> int:
    raise NotImplementedError("detect")


# -------------------------------------------------------------------------------------- info
def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a weights file", description="Print what a weights file is.")
    p.set_defaults(run=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    raise NotImplementedError("info")


# ------------------------------------------------------------------------------------- synth
def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="write a synthetic dataset or demo video",
                       description="Generate labelled synthetic scenes.")
    p.set_defaults(run=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    raise NotImplementedError("synth")


# ------------------------------------------------------------------------------------- train
def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a detector", description="Train an SSD detector.")
    p.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    raise NotImplementedError("train")


# -------------------------------------------------------------------------------------- eval
def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate detections (VOC07, VOC2010+, COCO)",
                       description="Evaluate detections or a model against ground truth.")
    p.set_defaults(run=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    raise NotImplementedError("eval")


_ADDERS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_detect, _add_info, _add_synth, _add_train, _add_eval)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssd", description="SSD object detection: detect, train, evaluate.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _ADDERS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ssd` console script. Errors become one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        print(f"ssd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ssd {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
