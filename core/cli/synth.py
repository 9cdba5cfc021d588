"""`ssd synth`: write a synthetic dataset or a demo video."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable, TypeVar

from core.cli.progress import ProgressBar, sigterm_as_interrupt

T = TypeVar("T")


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth", help="write a synthetic dataset or demo video",
        description="Generate labelled synthetic scenes of coloured shapes (circle, square, triangle, star, "
                    "hexagon, cross, ellipse, crescent). Either a dataset (--out) or a video (--video).",
        epilog="examples:\n  ssd synth --out data/shapes --count 2000 --seed 0 --format voc\n"
               "  ssd synth --video core/resources/demo.mp4 --seconds 20 --fps 25 --seed 0",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", metavar="DIR",
                      help="write a dataset into DIR, a new or empty folder (see --overwrite)")
    what.add_argument("--video", metavar="FILE", help="write an mp4 (mp4v) video of moving shapes to FILE")
    p.add_argument("--count", type=int, default=1000, metavar="N", help="number of images (dataset; default 1000)")
    p.add_argument("--format", choices=("voc", "coco"), default="voc",
                   help="dataset layout: VOC tree with labels.txt, or COCO images/ + annotations.json (default voc)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed; same seed, same data (default 0)")
    p.add_argument("--size", type=int, nargs=2, metavar=("W", "H"), default=None,
                   help="image size in pixels (default 320 320 for datasets, 640 360 for videos)")
    p.add_argument("--seconds", type=float, default=20.0, help="video length in seconds (default 20)")
    p.add_argument("--fps", type=int, default=25, help="video frame rate (default 25)")
    p.add_argument("--overwrite", action="store_true",
                   help="with --out: replace the dataset already in DIR as a whole (never mixed; a folder "
                        "holding anything but a dataset is not replaced); with --video: replace FILE")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _with_bar(label: str, total: int, quiet: bool, work: Callable[[Callable[[Any], None]], T]) -> T:
    """``work(on_progress)`` with a progress bar, SIGTERM handled as Ctrl-C (nothing half-written either way)."""
    bar = ProgressBar(label, total, enabled=not quiet)
    try:
        with sigterm_as_interrupt():
            return work(lambda p: bar.update(p.done - bar.n))
    finally:
        bar.close()


def run(args: argparse.Namespace) -> int:
    from core.data.synthetic_files import DatasetExistsError, check_dataset_target, render_video, write_dataset

    if args.out is not None:
        if args.count <= 0:
            raise ValueError(f"--count must be positive, got {args.count}")
        try:
            check_dataset_target(args.out, args.overwrite)  # before the first image, not after the last
        except DatasetExistsError as exc:
            raise ValueError(f"{exc}. Write it elsewhere with --out NEW_FOLDER"
                             + ("" if "not a dataset" in str(exc) else ", or replace that dataset with --overwrite")
                             ) from None
        size = tuple(args.size) if args.size else (320, 320)
        result = _with_bar("synth", args.count, args.quiet, lambda on_progress: write_dataset(
            args.out, args.count, args.seed, args.format, size, overwrite=args.overwrite,  # type: ignore[arg-type]
            on_progress=on_progress))
        print(f"wrote {args.count} images ({args.format}, {size[0]}x{size[1]}, seed {args.seed}): {result}")
        return 0
    size = tuple(args.size) if args.size else (640, 360)
    total = max(1, int(round(args.seconds * args.fps)))
    if Path(args.video).expanduser().is_file() and not args.overwrite:  # before the first frame
        raise ValueError(f"video {args.video} exists; choose another name, or replace it with --overwrite")
    path = _with_bar("video", total, args.quiet, lambda on_progress: render_video(
        args.video, args.seconds, args.fps, args.seed, size, overwrite=args.overwrite,  # type: ignore[arg-type]
        on_progress=on_progress))
    print(f"wrote {path} ({total} frames, {size[0]}x{size[1]} at {args.fps} fps, seed {args.seed})")
    return 0
