"""`ssd eval`: evaluate detections or a model against ground truth."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.cli import estimate
from core.cli.progress import ProgressBar
from core.cli.runtime_options import add_runtime_options, add_tiling_options, chosen_runtime, show_load_progress, \
    tiling_from_args
from core.config import NMS_METHODS


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="evaluate detections (VOC07, VOC2010+, COCO)",
        description="Evaluate existing detections (--dets) or a model (--weights) against ground truth. Prints a "
                    "per-class table and writes metrics.json, pr_<class>.csv (the raw PR points) and "
                    "pr_<class>.png into --out.",
        epilog="examples:\n  ssd eval --gt data/VOCdevkit/VOC2007 --dets results/ --metric voc07\n"
               "  ssd eval --gt instances_val2017.json --dets results.json --metric coco --out eval_coco\n"
               "  ssd eval --gt data/shapes --split val --weights model.pt --metric voc12\n"
               "  ssd eval --reference trusted.pt --reference-thresh 0.5 --images clip.mp4 --weights fast.pt \\\n"
               "           --metric voc07   # no annotations: agreement with the reference model\n"
               "  ssd eval --estimate --images clip.mp4 --weights model.pt --out est   # no annotations: an accuracy\n"
               "           estimate with an interval, calibrated on the model's own (shifted) data\n\n"
               "DETS: a COCO results JSON (against a VOC folder: image_id = file stem, category_id = 1-based\n"
               "class index), a folder of devkit comp4_det_<split>_<class>.txt files, or the JSON of ssd detect.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    truth = p.add_mutually_exclusive_group(required=True)
    truth.add_argument("--gt", help="ground truth: a VOC folder (several: comma-separated), a COCO annotation JSON, or a YOLO "
                            "dataset (its folder with data.yaml, or the YAML)")
    truth.add_argument("--reference", metavar="W",
                       help="no annotations: the detections of this reference model (any model ssd detect takes: "
                            "a file, torchvision:NAME, owlv2:ONTOLOGY, grounding-dino:ONTOLOGY, py:FILE.py:FACTORY) on "
                            "--images are the ground truth, so every figure measures agreement with it, not accuracy")
    truth.add_argument("--estimate", action="store_true",
                       help="no annotations: estimate the accuracy of --weights on --images from how stable its "
                            "boxes are, with an interval (calibrated on shifted copies of labelled data)")
    ref = p.add_argument_group("reference model as ground truth (with --reference)")
    ref.add_argument("--reference-thresh", type=float, default=0.5, metavar="T",
                     help="the reference's detections scoring above T are the ground truth (default 0.5)")
    ref.add_argument("--images", metavar="SOURCE", help="a video file, an image folder or an image (also --estimate's)")
    ref.add_argument("--every", type=int, default=1, metavar="N", help="keep one frame in N (default 1: all)")
    ref.add_argument("--max-frames", type=int, default=None, metavar="N", help="keep at most N frames")
    ref.add_argument("--reference-tiles", default=None, metavar="RxC",
                     help="also run the reference on ROWSxCOLUMNS overlapping tiles of each frame (overlap: "
                          "--tile-overlap), merged by NMS")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dets", help="detections file or folder (see below)")
    src.add_argument("--weights", help="run this model over the ground-truth images first")
    p.add_argument("--metric", default=None, choices=("voc07", "voc12", "coco"),
                   help="voc07: 11-point AP; voc12: VOC2010+ all-point AP; coco: pycocotools AP@[.5:.95] etc. "
                        "(required, except with --estimate: voc07)")
    p.add_argument("--out", default="eval_out", help="output folder (default: eval_out)")
    p.add_argument("--split", default=None,
                   help="VOC ImageSets/Main split or YOLO split to read (default: test, else val, else trainval "
                        "(YOLO: train): the first that exists)")
    p.add_argument("--score-thresh", type=float, default=None,
                   help="with --weights: the model's score threshold (default: the model's, 0.01)")
    p.add_argument("--nms", default=None, choices=NMS_METHODS,
                   help="with --weights: hard NMS or soft-NMS (scores decayed by overlap; default: the model's, "
                        "hard)")
    p.add_argument("--device", default="cpu", help="with --weights: cpu, cuda, cuda:N or auto (default: cpu)")
    add_runtime_options(p, "with --weights: ")
    add_tiling_options(p, "with --weights: ")
    p.add_argument("--batch-size", type=int, default=8, help="with --weights: images per forward pass (default: 8)")
    p.add_argument("--no-plots", action="store_true", help="skip the PR-curve PNGs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    estimate.add_options(p)
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
    from core.data.index import describe_ground_truth

    spec = output.request.ground_truth
    what = describe_ground_truth(spec, output.gt)  # which split, how many images of how many
    if what.startswith("split") and getattr(spec, "split", "") is None:
        what += "; --split chooses another"
    print(f"{what}; metric {metric}")
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

    truth = ground_truth_from_args(args) if args.reference else DatasetSpec("auto", args.gt, args.split)
    return EvaluationRequest(truth, weights=args.weights, detections=args.dets, metric=args.metric,
                             score_thresh=args.score_thresh, nms=args.nms, device=args.device,
                             precision=args.precision, batch_size=args.batch_size,
                             runtime=chosen_runtime(args) if args.weights else "torch", calibration=args.calibration,
                             trust_code=args.trust_code, tiling=tiling_from_args(args) if args.weights else None)


def ground_truth_from_args(args: argparse.Namespace) -> Any:
    """The :class:`core.evaluation.reference.ReferenceSource` of ``--reference`` and its options.

    The reference is the trusted model: it runs in fp32 (whatever ``--precision`` the evaluated model
    uses) on the runtime ``--runtime`` gives fp32, so a model evaluated against itself runs alike twice.
    """
    from core.evaluation.reference import ReferenceSource
    from core.runtime import choose_runtime

    if not args.images:
        raise ValueError("--reference needs --images SOURCE (a video file, an image folder or an image)")
    if args.split:
        raise ValueError("--split names a VOC image set; with --reference the frames of --images are the data")
    runtime, _ = choose_runtime(args.runtime, args.device, "fp32")
    return ReferenceSource(args.reference, args.images, threshold=args.reference_thresh, every=args.every,
                           max_frames=args.max_frames, device=args.device, runtime=runtime,
                           batch_size=args.batch_size, trust_code=args.trust_code, tiles=args.reference_tiles,
                           tile_overlap=args.tile_overlap)


def _check_not_inputs(out: Path, args: argparse.Namespace) -> None:
    """Refuse an ``--out`` where a file ``ssd eval`` writes (``metrics.json``, ``pr_<class>.csv`` and ``.png``)
    is one of its inputs: the detections, the ground truth, a model, the images."""
    from core.io.fileio import check_not_input, same_file
    from core.model_spec import model_inputs

    inputs = [("detections file", args.dets), ("ground truth", args.gt), ("images", args.images)]
    inputs += model_inputs(args.weights) + model_inputs(args.reference, "reference model")
    check_not_input(out / "metrics.json", inputs, "metrics file")
    for role, path in inputs:
        name = Path(str(path or "")).name
        if path and name.startswith("pr_") and name.endswith((".csv", ".png")) and same_file(Path(path).parent, out):
            raise ValueError(f"--out {out}: ssd eval writes pr_<class>.csv and .png there, and the {role} {path} is "
                             f"one of those names: choose another --out")


def run(args: argparse.Namespace) -> int:
    from core.evaluation.io import write_evaluation
    from core.evaluation.run import run_evaluation
    from core.io.fileio import check_output_dir

    if args.estimate:
        return estimate.run(args)
    if args.calibration_data or args.recalibrate or args.calibration_images is not None or args.severities:
        raise ValueError("--calibration-data, --calibration-images, --severities and --recalibrate go with --estimate "
                         "(an accuracy estimate without labels)")
    if args.metric is None:
        raise ValueError("--metric is required: voc07, voc12 or coco")
    if not args.reference and (args.images or args.every != 1 or args.max_frames is not None or args.reference_tiles):
        raise ValueError("--images, --every, --max-frames and --reference-tiles go with --reference (a reference "
                         "model as ground truth)")
    request = request_from_args(args)
    _check_not_inputs(Path(args.out), args)
    out = check_output_dir(args.out, "--out folder")  # before the work, not after an hour of images
    bars: dict[str, ProgressBar] = {}

    def on_progress(p: Any) -> None:
        show_load_progress(p)
        if p.stage in ("reference", "detect") and p.total:
            if p.stage not in bars:
                for other in bars.values():
                    other.close()
                bars[p.stage] = ProgressBar("eval" if p.stage == "detect" else "reference", p.total,
                                            enabled=not args.quiet)
            bar = bars[p.stage]
            bar.update(p.done - bar.n)

    try:
        output = run_evaluation(request, on_progress=on_progress)
    finally:
        for bar in bars.values():
            bar.close()
    write_evaluation(out, output.metrics, output.result, plots=not args.no_plots)
    if output.caveat:
        print(output.caveat)
    _print_table(output, args.metric)
    for w in output.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"wrote {out / 'metrics.json'} and the PR points{'' if args.no_plots else ' and plots'} in {out}")
    return 0
