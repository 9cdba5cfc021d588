"""`ssd detect`: run a detector over an image, a folder of images or a video."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli.progress import ProgressBar


def add(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
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
