"""`ssd pseudo-label`: a teacher model labels videos and image folders; the result is a dataset to train on."""
from __future__ import annotations

import argparse
import sys

from core.cli.progress import ProgressBar, sigterm_as_interrupt
from core.cli.runtime_options import add_runtime_options, add_tiling_options, chosen_runtime, show_load_progress


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pseudo-label", help="label videos or image folders with a teacher model (a dataset to train on)",
        description="Run a teacher model over videos, image folders or images, keep every N-th frame, and write "
                    "a VOC, COCO or YOLO dataset whose labels are the teacher's detections above --score-thresh "
                    "(each box keeps its score; the teacher and threshold are recorded in DIR/pseudo_label.json). "
                    "Running "
                    "the same command again resumes: frames already written are skipped. DIR must be new or empty, "
                    "or hold this same pseudo-labelling; another dataset is never overwritten.",
        epilog="examples:\n  ssd pseudo-label street.mp4 --teacher torchvision:fasterrcnn_resnet50_fpn_v2 --out data/street "
               "--every 10 --classes person,car,bus --rename bus=car\n"
               "  ssd pseudo-label yard.mp4 --teacher 'owlv2:forklift=forklift,fork lift truck;pallet' --score-thresh 0.2 "
               "--out data/yard --tiles 2x2\n"
               "  ssd train --format voc --data data/street --train-split train --val-split val --out runs/street\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="video files, image folders or images")
    p.add_argument("--teacher", required=True, metavar="W",
                   help="the teacher: any weights ssd detect reads, torchvision:NAME (torchvision's COCO detectors, "
                        "e.g. fasterrcnn_resnet50_fpn_v2), owlv2:ONTOLOGY or grounding-dino:ONTOLOGY (text prompts: "
                        "'forklift=forklift,fork lift truck;pallet>0.3=wooden pallet;person'), or py:FILE.py:FACTORY "
                        "(a Python plug-in: runs its code, needs --trust-code)")
    p.add_argument("--out", required=True, metavar="DIR", help="the dataset folder to write (or resume)")
    p.add_argument("--score-thresh", type=float, default=0.5, metavar="T",
                   help="keep the teacher's detections scoring above T (default 0.5)")
    p.add_argument("--every", type=int, default=1, metavar="N", help="keep one frame in N (default 1: all)")
    p.add_argument("--format", choices=("voc", "coco", "yolo"), default="voc",
                   help="dataset layout: voc, coco, or yolo (Ultralytics: data.yaml, images/, labels/; the scores in "
                        "scores/) (default voc)")
    p.add_argument("--classes", metavar="A,B,...", help="keep only these teacher classes (default: all)")
    p.add_argument("--rename", metavar="OLD=NEW,...",
                   help="give teacher classes other names in the dataset (two may share a name)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="at most N kept frames per source")
    t = p.add_argument_group(
        "temporal refinement", "--temporal: on videos the teacher sees every frame (N times longer), its boxes are "
        "linked into tracks (ByteTrack, per class), tracks detected in fewer than --min-track frames are dropped, gaps "
        "of up to --max-gap frames filled by linear interpolation (marked <interpolated>1</interpolated>, or "
        "\"interpolated\": true in COCO), boxes averaged over --smooth frames; every N-th frame is still what is "
        "written. Image folders and images stay frame by frame.")
    t.add_argument("--temporal", action="store_true", help="refine the labels of videos in time")
    t.add_argument("--max-gap", type=int, default=None, metavar="N", help="fill gaps of up to N frames (default 10)")
    t.add_argument("--min-track", type=int, default=None, metavar="N",
                   help="drop tracks the teacher found in fewer than N frames (default 3)")
    t.add_argument("--smooth", type=int, default=None, metavar="N",
                   help="average each box over N frames, odd (default 3; 1: no smoothing)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    add_runtime_options(p, "the teacher: ")
    add_tiling_options(p)
    p.add_argument("--batch-size", type=int, default=8, help="frames per forward pass (default: 8)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ValueError(f"--classes needs class names separated by commas, got {text!r}")
    return names


def temporal_options(args: argparse.Namespace) -> object:
    """The :class:`core.tracking.TemporalConfig` of ``--temporal`` and its options, or None."""
    from core.tracking import TemporalConfig

    given = {k: getattr(args, k) for k in ("max_gap", "min_track", "smooth") if getattr(args, k) is not None}
    if not args.temporal:
        if given:
            raise ValueError(f"{', '.join('--' + k.replace('_', '-') for k in given)}: only with --temporal")
        return None
    return TemporalConfig(**given)  # its score threshold becomes --score-thresh (PseudoLabelConfig)


def train_options(fmt: str, dataset: object) -> str:
    """The ``ssd train`` options that train on a pseudo-labelled dataset: its ``train`` split, validated on ``val``
    (never on the frames it trains on, or ``best.pt`` would be picked on training data)."""
    if fmt == "coco":  # one annotation file: no held-out split to validate on
        return f"--format coco --data {dataset} --val-split none"
    return f"--format {fmt} --data {dataset} --train-split train --val-split val"


def run(args: argparse.Namespace) -> int:
    from core.engine.teacher_run import parse_rename
    from core.pseudo_label import PseudoLabelConfig, pseudo_label

    cfg = PseudoLabelConfig(sources=tuple(args.sources), teacher=args.teacher, out_dir=args.out,
                            score_thresh=args.score_thresh, every=args.every, fmt=args.format,
                            classes=_names(args.classes), rename=parse_rename(args.rename), max_frames=args.max_frames,
                            device=args.device, precision=args.precision, runtime=chosen_runtime(args),
                            calibration=args.calibration, batch_size=args.batch_size, trust_code=args.trust_code,
                            tiles=args.tiles, tile_overlap=args.tile_overlap, temporal=temporal_options(args))
    bar: ProgressBar | None = None

    def on_progress(p: object) -> None:
        nonlocal bar
        if getattr(p, "stage", "") != "pseudo-label":
            show_load_progress(p)  # converting or quantizing the teacher
            return
        if bar is None and getattr(p, "done", 0):
            bar = ProgressBar("pseudo-label", getattr(p, "total", None), enabled=not args.quiet)
        if bar is not None:
            bar.update(getattr(p, "done") - bar.n)

    try:
        with sigterm_as_interrupt():  # a kill is handled as Ctrl-C: the frames done are saved, the run resumes
            result = pseudo_label(cfg, on_progress=on_progress)
    except KeyboardInterrupt:
        print(f"\nstopped; the frames done are saved in {args.out}: run the same command to resume", file=sys.stderr)
        raise
    finally:
        if bar is not None:
            bar.close()
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    fmt_hint = train_options(result.fmt, result.dataset_path)
    print(f"labelled {result.frames_written} frame(s) ({result.frames_skipped} done before), {result.objects} "
          f"object(s) of {len(result.class_names) - 1} class(es); the dataset holds {result.frames_total} frame(s): "
          f"{result.dataset_path}\ntrain on it with: ssd train {fmt_hint} --out RUN_DIR")
    return 0
