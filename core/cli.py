"""`ssd` command line: thin argument parsing over core.

Subcommands: detect, info, synth, train, eval. Each has ``_add_<name>(subparsers)`` and
``_run_<name>(args) -> int``; heavy imports happen inside the run functions so that
``ssd --help`` is instant.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence


# ------------------------------------------------------------------------------------ detect
def _add_detect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="run a detector on an image, a folder of images or a video",
                       description="Run a detector on SOURCE (an image, a folder of images or a video file) and "
                                   "write the detections as JSON.")
    p.add_argument("source", metavar="SOURCE", help="image file, folder of images, or video file")
    p.add_argument("--weights", required=True,
                   help="weights file (this project's checkpoint, torchvision ssd300_vgg16, ssd.pytorch) or "
                        "'torchvision:ssd300_vgg16_coco'")
    p.add_argument("--out", required=True, help="path of the JSON file to write")
    p.add_argument("--score-thresh", type=float, default=None,
                   help="keep detections with a score above this (default: the model's, 0.01)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"),
                   help="fp32 (exact), bf16 (CPU/CUDA) or fp16 (CUDA)")
    p.add_argument("--batch-size", type=int, default=1, help="images per forward pass (default: 1)")
    p.add_argument("--no-optimize", dest="optimize", action="store_false",
                   help="run the eager network instead of the frozen CPU fp32 graph (which costs a few "
                        "seconds at load and then runs faster; its outputs are the same)")
    p.set_defaults(run=_run_detect)


def _run_detect(args: argparse.Namespace) -> int:
    import json

    from core.detector import detections_json, detections_json_entry, load_detector
    from core.video import VideoFileSource, open_source

    if args.score_thresh is not None and not (0.0 <= args.score_thresh <= 1.0):
        raise ValueError(f"--score-thresh must be in [0, 1], got {args.score_thresh}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    source = open_source(args.source)  # fails fast, before the model loads, on a bad SOURCE
    detector = load_detector(args.weights, device=args.device, precision=args.precision, optimize=args.optimize)
    is_video = isinstance(source, VideoFileSource)
    entries: list[dict] = []
    bar = ProgressBar("detect", source.frame_count, enabled=source.frame_count != 1)
    with source:
        pending: list = []

        def flush() -> None:
            dets = detector.detect([f.image for f in pending], score_thresh=args.score_thresh)
            for frame, d in zip(pending, dets):
                h, w = frame.image.shape[:2]
                entries.append(detections_json_entry(
                    d, detector.class_names, frame.file or str(args.source), w, h,
                    frame=frame.index if is_video else None))
                bar.update(1)
            pending.clear()

        for frame in source:
            pending.append(frame)
            if len(pending) >= args.batch_size:
                flush()
        if pending:
            flush()
    bar.close()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(detections_json(args.weights, detector.class_names, entries), indent=1))
    n = sum(len(e["detections"]) for e in entries)
    print(f"{len(entries)} image(s), {n} detection(s) -> {out}", file=sys.stderr)
    return 0


# -------------------------------------------------------------------------------------- info
def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a weights file",
                       description="Print what a weights file is: format, classes, config, parameter count.")
    p.add_argument("weights", metavar="W", help="weights file")
    p.set_defaults(run=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    from core.weights import describe, load_weights, resolve_weights_spec

    print(describe(load_weights(resolve_weights_spec(args.weights, allow_download=False))))
    return 0


class ProgressBar:
    """A plain text progress bar on stderr (no dependency); ``total`` None shows a counter."""

    def __init__(self, label: str, total: int | None, enabled: bool = True, width: int = 30) -> None:
        import time

        self.label, self.total, self.enabled, self.width = label, total, enabled, width
        self.n, self._t0, self._last = 0, time.monotonic(), 0.0

    def update(self, k: int = 1, suffix: str = "") -> None:
        import time

        self.n += k
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and self.n != self.total):
            return
        self._last = now
        rate = self.n / max(now - self._t0, 1e-9)
        if self.total:
            frac = min(1.0, self.n / self.total)
            fill = int(frac * self.width)
            eta = (self.total - self.n) / rate if rate > 0 else 0.0
            line = (f"\r{self.label} [{'#' * fill}{'.' * (self.width - fill)}] {self.n}/{self.total} "
                    f"{rate:.1f}/s eta {eta:.0f}s {suffix}")
        else:
            line = f"\r{self.label} {self.n} {rate:.1f}/s {suffix}"
        sys.stderr.write(line)
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.n:
            sys.stderr.write("\n")
            sys.stderr.flush()


# ------------------------------------------------------------------------------------- synth
def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth", help="write a synthetic dataset or demo video",
        description="Generate labelled synthetic scenes of coloured shapes (circle, square, triangle, star, "
                    "hexagon, cross, ellipse, crescent). Either a dataset (--out) or a video (--video).",
        epilog="examples:\n  ssd synth --out data/shapes --count 2000 --seed 0 --format voc\n"
               "  ssd synth --video resources/demo.mp4 --seconds 20 --fps 25 --seed 0",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", metavar="DIR", help="write a dataset into DIR")
    what.add_argument("--video", metavar="FILE", help="write an mp4 (mp4v) video of moving shapes to FILE")
    p.add_argument("--count", type=int, default=1000, metavar="N", help="number of images (dataset; default 1000)")
    p.add_argument("--format", choices=("voc", "coco"), default="voc",
                   help="dataset layout: VOC tree with labels.txt, or COCO images/ + annotations.json (default voc)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed; same seed, same data (default 0)")
    p.add_argument("--size", type=int, nargs=2, metavar=("W", "H"), default=None,
                   help="image size in pixels (default 320 320 for datasets, 640 360 for videos)")
    p.add_argument("--seconds", type=float, default=20.0, help="video length in seconds (default 20)")
    p.add_argument("--fps", type=int, default=25, help="video frame rate (default 25)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    from core.data.synthetic import render_video, write_dataset

    if args.out is not None:
        if args.count <= 0:
            raise ValueError(f"--count must be positive, got {args.count}")
        size = tuple(args.size) if args.size else (320, 320)
        bar = ProgressBar("synth", args.count, enabled=not args.quiet)
        try:
            result = write_dataset(args.out, args.count, args.seed, args.format, size,  # type: ignore[arg-type]
                                   progress=lambda i, n: bar.update(1))
        finally:
            bar.close()
        hint = "load_voc" if args.format == "voc" else "load_coco"
        print(f"wrote {args.count} images ({args.format}, {size[0]}x{size[1]}, seed {args.seed}): {result} "
              f"(read it with core.data.{args.format}.{hint})")
        return 0
    size = tuple(args.size) if args.size else (640, 360)
    total = max(1, int(round(args.seconds * args.fps)))
    bar = ProgressBar("video", total, enabled=not args.quiet)
    try:
        path = render_video(args.video, args.seconds, args.fps, args.seed, size,  # type: ignore[arg-type]
                            progress=lambda i, n: bar.update(1))
    finally:
        bar.close()
    print(f"wrote {path} ({total} frames, {size[0]}x{size[1]} at {args.fps} fps, seed {args.seed})")
    return 0


# ------------------------------------------------------------------------------------- train
def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a detector",
                       description="Train an SSD detector. Writes last.pt (resumable), model.pt, best.pt and "
                                   "metrics.csv into --out. Under torchrun every process runs this same command "
                                   "(DistributedDataParallel; --batch-size is per process).")
    d = p.add_argument_group("data")
    d.add_argument("--data", default=None, help="VOC root(s, comma-separated) or COCO instances JSON (not for synthetic)")
    d.add_argument("--format", dest="data_format", required=True, choices=("voc", "coco", "synthetic"))
    d.add_argument("--train-split", default="trainval", help="VOC image set to train on (default trainval)")
    d.add_argument("--val-split", default="test",
                   help="VOC image set / COCO val JSON for validation; 'none' disables (default test)")
    d.add_argument("--synthetic-count", type=int, default=2000, help="synthetic training scenes (default 2000)")
    d.add_argument("--synthetic-seed", type=int, default=1)
    d.add_argument("--synthetic-size", type=int, default=300, help="side of synthetic scenes in px (default 300)")
    d.add_argument("--val-count", type=int, default=200, help="held-out synthetic scenes (default 200)")
    d.add_argument("--val-seed", type=int, default=1_000_003, help="seed of the held-out synthetic scenes")
    d.add_argument("--augment", default="ssd", choices=("ssd", "light", "none"),
                   help="ssd: the paper's chain; light: photometric + flip; none (default ssd)")
    d.add_argument("--cache-images", action="store_true", help="keep decoded training images in memory")
    m = p.add_argument_group("model")
    m.add_argument("--model", dest="arch", default="ssd300", choices=("ssd300", "ssd512"))
    m.add_argument("--priors", default="voc", choices=("voc", "coco"))
    m.add_argument("--width", type=float, default=1.0, help="channel multiplier (default 1.0, the paper's net)")
    m.add_argument("--backbone", dest="backbone_weights", default=None,
                   help="ImageNet VGG16 weights (torchvision layout) to initialise the trunk")
    m.add_argument("--init", dest="init_weights", default=None,
                   help="detector weights (same architecture, width and classes) to fine-tune from")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=10)
    o.add_argument("--batch-size", type=int, default=16, help="images per step and process (default 16)")
    o.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"))
    o.add_argument("--lr", type=float, default=1e-3)
    o.add_argument("--momentum", type=float, default=0.9)
    o.add_argument("--weight-decay", type=float, default=5e-4)
    o.add_argument("--warmup-iters", type=int, default=500)
    o.add_argument("--milestones", default="0.6667,0.8333",
                   help="lr decay points as fractions of the run, comma-separated (default 0.6667,0.8333)")
    o.add_argument("--gamma", type=float, default=0.1)
    o.add_argument("--max-iterations", type=int, default=None, help="stop after this many iterations in all")
    o.add_argument("--amp", action="store_true", help="fp16 mixed precision (CUDA only)")
    r = p.add_argument_group("run")
    r.add_argument("--out", required=True, help="run folder for checkpoints and metrics.csv")
    r.add_argument("--resume", default=None, help="a last.pt to continue from")
    r.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    r.add_argument("--workers", dest="num_workers", type=int, default=2, help="data loader processes (default 2)")
    r.add_argument("--threads", dest="num_threads", type=int, default=None,
                   help="torch CPU threads (default: torch's; 1 is fastest on a CPU shared with other jobs)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--checkpoint-every", type=int, default=500, help="iterations between checkpoints (0: epoch ends)")
    r.add_argument("--val-every", dest="val_every_epochs", type=int, default=1,
                   help="epochs between validations (0: only at the end)")
    p.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from core.engine import TrainConfig, TrainProgress, train

    try:
        milestones = tuple(float(v) for v in args.milestones.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--milestones must be comma-separated fractions, got {args.milestones!r}") from None
    fields = {k: getattr(args, k) for k in (
        "data_format", "train_split", "synthetic_count", "synthetic_seed", "synthetic_size", "val_count",
        "val_seed", "augment", "cache_images", "arch", "priors", "width", "backbone_weights", "init_weights", "epochs",
        "batch_size", "optimizer", "lr", "momentum", "weight_decay", "warmup_iters", "gamma", "device", "amp",
        "num_workers", "num_threads", "seed", "checkpoint_every", "val_every_epochs", "resume", "max_iterations")}
    val_split = None if str(args.val_split).lower() == "none" else args.val_split
    cfg = TrainConfig(data_path=args.data, val_split=val_split, milestones=milestones, out_dir=args.out, **fields)
    bar: ProgressBar | None = None

    def show(p: TrainProgress) -> None:
        nonlocal bar
        if bar is None:
            bar = ProgressBar("train", p.total_iterations)
            bar.n = p.iteration if p.iteration < p.total_iterations else 0
        if p.message:
            sys.stderr.write(f"\n{p.message}\n")
        if p.message.startswith("resumed"):
            return
        bar.update(p.iteration - bar.n, suffix=f"loss {p.loss:.3f} (loc {p.loc_loss:.3f} conf {p.conf_loss:.3f}) "
                                                f"lr {p.lr:.2e}")

    result = train(cfg, on_progress=show)
    if bar is not None:
        bar.close()
    vm = "" if result.val_map is None else f", validation VOC07 mAP@0.5 {result.val_map:.4f}"
    state = "stopped" if result.stopped else "finished"
    print(f"{state} after {result.iterations} iterations{vm}; model -> {result.checkpoint}, "
          f"metrics -> {result.metrics_csv}", file=sys.stderr)
    return 0


# -------------------------------------------------------------------------------------- eval
def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="evaluate detections (VOC07, VOC2010+, COCO)",
        description="Evaluate existing detections (--dets) or a model (--weights) against ground truth. Prints a "
                    "per-class table and writes metrics.json, pr_<class>.csv (the raw PR points) and "
                    "pr_<class>.png into --out.",
        epilog="examples:\n  ssd eval --gt data/VOCdevkit/VOC2007 --dets results/ --metric voc07\n"
               "  ssd eval --gt instances_val2017.json --dets results.json --metric coco --out eval_coco\n"
               "  ssd eval --gt data/shapes --split val --weights model.pt --metric voc12\n\n"
               "DETS: a COCO results JSON (against a VOC folder: image_id = file stem, category_id = 1-based\n"
               "class index), a folder of devkit comp4_det_<split>_<class>.txt files, or the JSON of ssd detect.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gt", required=True, help="ground truth: a VOC folder or a COCO annotation JSON")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dets", help="detections file or folder (see below)")
    src.add_argument("--weights", help="run this model over the ground-truth images first")
    p.add_argument("--metric", required=True, choices=("voc07", "voc12", "coco"),
                   help="voc07: 11-point AP; voc12: VOC2010+ all-point AP; coco: pycocotools AP@[.5:.95] etc.")
    p.add_argument("--out", default="eval_out", help="output folder (default: eval_out)")
    p.add_argument("--split", default="test", help="VOC ImageSets/Main split to read (default: test)")
    p.add_argument("--score-thresh", type=float, default=None,
                   help="with --weights: the model's score threshold (default: the model's, 0.01)")
    p.add_argument("--device", default="cpu", help="with --weights: cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"), help="with --weights")
    p.add_argument("--batch-size", type=int, default=8, help="with --weights: images per forward pass (default: 8)")
    p.add_argument("--no-plots", action="store_true", help="skip the PR-curve PNGs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    import math

    from core.evaluation import evaluate
    from core.evaluation.io import (load_ground_truth, read_detections, write_metrics_json, write_pr_csvs,
                                    write_pr_plots)

    if args.score_thresh is not None and not (0.0 <= args.score_thresh <= 1.0):
        raise ValueError(f"--score-thresh must be in [0, 1], got {args.score_thresh}")
    gt = load_ground_truth(args.gt, split=args.split, check_images=args.weights is not None)
    if args.weights is not None:
        from core.detector import load_detector
        from core.evaluation.run import run_detector

        detector = load_detector(args.weights, device=args.device, precision=args.precision)
        bar = ProgressBar("eval", len(gt.records), enabled=not args.quiet)
        dets = run_detector(detector, gt, batch_size=args.batch_size, score_thresh=args.score_thresh,
                            on_progress=lambda done, total: bar.update(done - bar.n))
        bar.close()
        result = evaluate(gt, dets, detector_class_names=detector.class_names, source=str(args.weights))
    else:
        dets, read_warnings, names = read_detections(args.dets, gt)
        result = evaluate(gt, dets, detector_class_names=names, source=str(args.dets), extra_warnings=read_warnings)

    metrics = result.metrics_dict(args.metric)
    out = Path(args.out)
    write_metrics_json(out / "metrics.json", metrics)
    write_pr_csvs(out, result)
    if not args.no_plots:
        ap_by_label = [math.nan] + [math.nan if v["ap"] is None else v["ap"] for v in metrics["per_class"].values()]
        import numpy as np

        write_pr_plots(out, result, np.array(ap_by_label))

    def fmt(v: float | None) -> str:
        return "     -" if v is None else f"{v:6.4f}"

    width = max([len("class")] + [len(n) for n in metrics["per_class"]])
    print(f"{gt.name}: {len(gt.records)} images, metric {args.metric}")
    print(f"{'class':<{width}}  {'AP':>6}  {'num_gt':>7}  {'num_det':>8}")
    for name, v in metrics["per_class"].items():
        print(f"{name:<{width}}  {fmt(v['ap'])}  {v['num_gt']:>7}  {v['num_det']:>8}")
    print(f"{'mAP':<{width}}  {fmt(metrics['mAP'])}")
    if args.metric == "coco":
        print("  ".join(f"{k} {v:.4f}" for k, v in metrics["coco"].items()))
    for w in metrics["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    print(f"wrote {out / 'metrics.json'} and the PR points{'' if args.no_plots else ' and plots'} in {out}")
    return 0


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
