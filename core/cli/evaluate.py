"""`ssd eval`: evaluate detections or a model against ground truth."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli.progress import ProgressBar


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
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
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
