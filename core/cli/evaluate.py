"""`ssd eval`: evaluate detections or a model against ground truth."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from core.cli.progress import ProgressBar
from core.cli.runtime_options import add_runtime_options, chosen_runtime, show_load_progress
from core.config import NMS_METHODS


def add(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--gt", required=True,
                   help="ground truth: a VOC folder (several: comma-separated) or a COCO annotation JSON")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dets", help="detections file or folder (see below)")
    src.add_argument("--weights", help="run this model over the ground-truth images first")
    p.add_argument("--metric", required=True, choices=("voc07", "voc12", "coco"),
                   help="voc07: 11-point AP; voc12: VOC2010+ all-point AP; coco: pycocotools AP@[.5:.95] etc.")
    p.add_argument("--out", default="eval_out", help="output folder (default: eval_out)")
    p.add_argument("--split", default=None,
                   help="VOC ImageSets/Main split to read (default: test, else val, else trainval: the first "
                        "that exists)")
    p.add_argument("--score-thresh", type=float, default=None,
                   help="with --weights: the model's score threshold (default: the model's, 0.01)")
    p.add_argument("--nms", default=None, choices=NMS_METHODS,
                   help="with --weights: hard NMS or soft-NMS (scores decayed by overlap; default: the model's, "
                        "hard)")
    p.add_argument("--device", default="cpu", help="with --weights: cpu, cuda, cuda:N or auto (default: cpu)")
    add_runtime_options(p, "with --weights: ")
    p.add_argument("--batch-size", type=int, default=8, help="with --weights: images per forward pass (default: 8)")
    p.add_argument("--no-plots", action="store_true", help="skip the PR-curve PNGs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _print_table(output: Any, metric: str) -> None:
    metrics = output.metrics

    def fmt(v: float | None) -> str:
        return "     -" if v is None else f"{v:6.4f}"

    from core.evaluation.definitions import ap_definition

    # COCO also shows pycocotools' AP50, AP by object size and AR at 1/10/100 detections per class
    extra = ("ap50", "ap_small", "ap_medium", "ap_large", "ar1", "ar10", "ar100") if metric == "coco" else ()
    heads = {"ap50": "AP50", "ap_small": "APs", "ap_medium": "APm", "ap_large": "APl", "ar1": "AR1",
             "ar10": "AR10", "ar100": "AR100"}
    width = max([len("class")] + [len(n) for n in metrics["per_class"]])
    print(f"{output.gt.name}: {len(output.gt.records)} images, metric {metric}")
    print(f"{'class':<{width}}  {'AP':>6}  {'num_gt':>7}  {'num_det':>8}" + "".join(f"  {heads[k]:>6}" for k in extra))
    for name, v in metrics["per_class"].items():
        print(f"{name:<{width}}  {fmt(v['ap'])}  {v['num_gt']:>7}  {v['num_det']:>8}"
              + "".join(f"  {fmt(v[k])}" for k in extra))
    print(f"{'mAP':<{width}}  {fmt(metrics['mAP'])}")
    if metric == "coco":
        print("  ".join(f"{k} {v:.4f}" for k, v in metrics["coco"].items()))
    print(f"AP: {ap_definition(metric).short}")


def request_from_args(args: argparse.Namespace) -> Any:
    """The :class:`core.evaluation.run.EvaluationRequest` these options describe."""
    from core.data.index import DatasetSpec
    from core.evaluation.run import EvaluationRequest

    return EvaluationRequest(DatasetSpec("auto", args.gt, args.split), weights=args.weights, detections=args.dets,
                             metric=args.metric, score_thresh=args.score_thresh, nms=args.nms, device=args.device,
                             precision=args.precision, batch_size=args.batch_size,
                             runtime=chosen_runtime(args) if args.weights else "torch", calibration=args.calibration)


def run(args: argparse.Namespace) -> int:
    from core.evaluation.io import write_evaluation
    from core.evaluation.run import run_evaluation
    from core.fileio import check_output_dir

    request = request_from_args(args)
    out = check_output_dir(args.out, "--out folder")  # before the work, not after an hour of images
    bar: ProgressBar | None = None

    def on_progress(p: Any) -> None:
        nonlocal bar
        show_load_progress(p)
        if p.stage == "detect":
            if bar is None:
                bar = ProgressBar("eval", p.total, enabled=not args.quiet)
            bar.update(p.done - bar.n)

    try:
        output = run_evaluation(request, on_progress=on_progress)
    finally:
        if bar is not None:
            bar.close()
    write_evaluation(out, output.metrics, output.result, plots=not args.no_plots)
    _print_table(output, args.metric)
    for w in output.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"wrote {out / 'metrics.json'} and the PR points{'' if args.no_plots else ' and plots'} in {out}")
    return 0
