"""`ssd eval --estimate`: a model's accuracy on footage without labels, estimated from the stability of its
boxes (core.evaluation.estimate), with an interval and in words how far to trust it."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from core.cli.progress import ProgressBar
from core.cli.runtime_options import chosen_runtime, show_load_progress

STAGE_BARS = {"meta-set": "calibrate", "signals": "estimate"}


def add_options(p: argparse.ArgumentParser) -> None:
    """The options only ``--estimate`` uses (``--images``, ``--every``, ``--max-frames`` are shared with --reference)."""
    g = p.add_argument_group("accuracy estimate without labels (with --estimate)")
    g.add_argument("--calibration-data", metavar="D", default=None,
                   help="labelled images like the footage (a VOC folder or a COCO annotation JSON) to calibrate the "
                        "estimate on (default: the validation or training data the checkpoint records)")
    g.add_argument("--calibration-images", type=int, default=None, metavar="N",
                   help="images per calibration set (default 100; fewer: faster, a less precise fit)")
    g.add_argument("--severities", default=None, metavar="S,S,...",
                   help="severities of each corruption to calibrate on, 1 (mild) to 6 (default: all six; fewer: "
                        "faster, a less precise fit)")
    g.add_argument("--recalibrate", action="store_true",
                   help="calibrate again even when this weights file's calibration is cached")


def request_from_args(args: argparse.Namespace) -> Any:
    """The :class:`core.evaluation.estimate.EstimateRequest` of the ``ssd eval --estimate`` options."""
    from core.evaluation.estimate import EstimateRequest, SignalSettings
    from core.evaluation.estimate.calibrate import set_list
    from core.evaluation.estimate.corruptions import CORRUPTIONS

    if not args.images:
        raise ValueError("--estimate needs --images SOURCE (a video file, an image folder or an image)")
    if not args.weights:
        raise ValueError("--estimate needs --weights W (a detections file cannot be perturbed: the estimate runs "
                         "the model several times)")
    if args.split:
        raise ValueError("--split names a VOC image set; with --estimate the frames of --images are the data")
    extra: dict[str, Any] = {}
    if args.calibration_images is not None:
        extra["calibration_images"] = args.calibration_images
    if args.severities:
        extra["sets"] = tuple(set_list(CORRUPTIONS, _severities(args.severities)))
    return EstimateRequest(args.weights, args.images, calibration_data=args.calibration_data,
                           metric=args.metric or "voc07", every=args.every, max_frames=args.max_frames,
                           device=args.device, runtime=chosen_runtime(args), precision=args.precision,
                           calibration=args.calibration, trust_code=args.trust_code,
                           settings=SignalSettings(batch_size=args.batch_size), use_cache=not args.recalibrate,
                           **extra)


def _severities(text: str) -> list[int]:
    """``"2,5"`` -> [2, 5]; a ValueError naming ``--severities`` for anything else."""
    from core.evaluation.estimate.corruptions import SEVERITIES

    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise ValueError(f"--severities {text!r}: give numbers 1..{SEVERITIES} separated by commas") from None
    if not values or not all(1 <= v <= SEVERITIES for v in values):
        raise ValueError(f"--severities {text!r}: each must be 1..{SEVERITIES}")
    return values


def run(args: argparse.Namespace) -> int:
    from core.evaluation.estimate import run_estimate
    from core.io.fileio import check_output_dir, write_json

    request = request_from_args(args)
    out = check_output_dir(args.out, "--out folder")
    bars: dict[str, ProgressBar] = {}

    def on_progress(p: Any) -> None:
        if p.stage not in STAGE_BARS:
            show_load_progress(p)
            return
        if not p.total:
            return
        if p.stage not in bars:
            for bar in bars.values():
                bar.close()
            bars[p.stage] = ProgressBar(STAGE_BARS[p.stage], p.total, enabled=not args.quiet)
        bars[p.stage].update(p.done - bars[p.stage].n)

    try:
        output = run_estimate(request, on_progress=on_progress)
    finally:
        for bar in bars.values():
            bar.close()
    write_json(out / "metrics.json", output.metrics(), "metrics file")
    for line in output.summary_lines():
        print(line)
    print(f"wrote {out / 'metrics.json'}", file=sys.stderr)
    return 0
