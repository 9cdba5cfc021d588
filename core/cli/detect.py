"""`ssd detect`: run a detector over an image, a folder of images, a video or a camera
(core.inference.run_inference, the same function as the Detect view's export), or over several such
sources at once (core.inference_many.run_inference_many: one output of each kind per source)."""
from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from core.cli.runtime_options import add_runtime_options, add_tiling_options, load_cli_detector
from core.config import NMS_METHODS


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="run a detector on an image, a folder of images, a video or a camera",
                       description="Run a detector on SOURCE and write the detections as JSON and/or an annotated "
                                   "video. Ctrl-C keeps the frames done so far (the JSON then says \"partial\": true). "
                                   "Several SOURCEs are detected together (their frames batched, see --batch-size), "
                                   "each into its own files: --out, --save-video and --mot are then folders (ending "
                                   "in '/': STEM_detections.json, STEM_detections.mp4, STEM_tracks.txt) or names "
                                   "with {stem} in them (out/{stem}.json), STEM being each source's file name "
                                   "without its extension.")
    p.add_argument("source", metavar="SOURCE", nargs="+",
                   help="image file, folder of images, video file, or camera:N; several for one run over all")
    p.add_argument("--weights", required=True,
                   help="weights file (this project's checkpoint, torchvision ssd300_vgg16 or "
                        "ssdlite320_mobilenet_v3_large, ssd.pytorch, qfgaohao/pytorch-ssd), 'demo' (the bundled demo "
                        "model), 'torchvision:ssd300_vgg16_coco' or 'torchvision:ssdlite320_mobilenet_v3_large_coco'; "
                        "or a teacher: torchvision:NAME (torchvision's COCO detectors), owlv2:ONTOLOGY, "
                        "grounding-dino:ONTOLOGY (text prompts), py:FILE.py:FACTORY (a plug-in, needs --trust-code)")
    p.add_argument("--out", default=None, help="path of the detections JSON to write")
    p.add_argument("--save-video", metavar="PATH", default=None,
                   help="also write the frames with their detections drawn, as an MP4 (H.264 where this OpenCV "
                        "build can write it, else MPEG-4 Part 2; the message says which)")
    p.add_argument("--track", action="store_true",
                   help="follow objects over the frames of a video or camera (ByteTrack, per class): each detection "
                        "in the JSON gets a \"track\" id, the video shows ids and trails")
    p.add_argument("--track-thresh", type=float, default=None, metavar="T",
                   help="with --track: detections scoring at least T start and extend tracks, lower ones down to "
                        "0.1 only extend them (default 0.5, ByteTrack's)")
    p.add_argument("--mot", metavar="PATH", default=None,
                   help="write the tracks as a MOTChallenge text file (frame,id,x,y,w,h,conf,-1,-1,-1, frames from 1; "
                        "implies --track)")
    p.add_argument("--overwrite", action="store_true",
                   help="let --save-video replace a file that exists (no output may ever be SOURCE or the weights)")
    p.add_argument("--score-thresh", type=float, default=None,
                   help="keep detections with a score above this in the JSON (default: the model's, 0.01: low, "
                        "as an evaluation needs them)")
    p.add_argument("--video-thresh", type=float, default=None, metavar="T",
                   help="draw into --save-video only the detections scoring at least T (default 0.4, the app's "
                        "default confidence; never below --score-thresh): at 0.01 a video shows dozens of boxes "
                        "per object")
    p.add_argument("--classes", default=None, metavar="NAMES",
                   help="keep only these classes: comma-separated names or indices (default: all)")
    p.add_argument("--nms", default=None, choices=NMS_METHODS,
                   help="hard NMS, or soft-NMS: overlapping boxes' scores decayed, not removed (default: the "
                        "model's, hard)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    add_runtime_options(p)
    add_tiling_options(p)
    p.add_argument("--batch-size", type=int, default=1,
                   help="images per forward pass (default: 1); with several sources a batch takes the next frame of "
                        "each in turn")
    p.add_argument("--max-frames", type=int, default=None,
                   help="stop after this many frames (e.g. for a camera; per source)")
    p.add_argument("--no-optimize", dest="optimize", action="store_false",
                   help="run the eager network instead of the frozen CPU fp32 graph (which costs a few "
                        "seconds at load and then runs faster; its outputs are the same)")
    p.set_defaults(run=run)


def parse_classes(spec: str | None, class_names: Sequence[str]) -> set[int] | None:
    """``"cat,dog"`` or ``"1,3"`` -> the class indices; ValueError naming an unknown class."""
    if spec is None:
        return None
    labels = set()
    for part in (s.strip() for s in spec.split(",")):
        if not part:
            continue
        if part.isdigit() and 0 < int(part) < len(class_names):
            labels.add(int(part))
        elif part in class_names[1:]:
            labels.add(class_names.index(part))
        else:
            raise ValueError(f"--classes: unknown class {part!r}; the model's classes are "
                             f"{', '.join(class_names[1:])}")
    if not labels:
        raise ValueError(f"--classes: no class given in {spec!r}")
    return labels


def tracker_options(args: argparse.Namespace) -> Any:
    """The :class:`core.tracking.TrackerConfig` of ``--track`` / ``--mot`` / ``--track-thresh``, or None."""
    from core.tracking import TrackerConfig

    if not (args.track or args.mot is not None):
        if args.track_thresh is not None:
            raise ValueError("--track-thresh needs --track (or --mot)")
        return None
    if args.track_thresh is None:
        return TrackerConfig()
    if not 0.1 <= args.track_thresh <= 1.0:
        raise ValueError(f"--track-thresh must be in [0.1, 1] (0.1 is the low threshold), got {args.track_thresh}")
    return TrackerConfig(high_thresh=args.track_thresh)


def run(args: argparse.Namespace) -> int:
    from core.cli.progress import ProgressBar, sigterm_as_interrupt
    from core.inference import InferenceInterrupted, check_outputs, check_tracking, run_inference, source_inputs
    from core.io.video import open_source
    from core.model_spec import model_inputs

    if args.out is None and args.save_video is None and args.mot is None:
        raise ValueError("give --out (detections JSON), --save-video, --mot, or several")
    tracker = tracker_options(args)
    if len(args.source) > 1:
        return _run_many(args, tracker)
    args.source = args.source[0]
    # Bad output paths and options fail here, in a second, not after the model has loaded.
    check_outputs(args.out, args.save_video, args.score_thresh, args.batch_size, args.max_frames, args.video_thresh,
                  args.mot, inputs=source_inputs(args.source) + model_inputs(args.weights),
                  overwrite_video=args.overwrite)
    source = open_source(args.source)  # fails fast, before the model loads, on a bad SOURCE
    with source:
        check_tracking(source, tracker, args.mot)
        detector = load_cli_detector(args, args.weights, args.source, optimize=args.optimize)
        if args.nms is not None:
            detector.set_postprocess(nms=args.nms)
        labels = parse_classes(args.classes, detector.class_names)
        bar = ProgressBar("detect", source.frame_count, enabled=source.frame_count != 1)
        try:
            with sigterm_as_interrupt():  # a kill is handled as Ctrl-C: the frames done are saved first
                result = run_inference(detector, source, json_path=args.out, video_path=args.save_video,
                                       score_thresh=args.score_thresh, video_thresh=args.video_thresh,
                                       labels=labels, batch_size=args.batch_size,
                                       max_frames=args.max_frames, weights=args.weights, tracker=tracker,
                                       mot_path=args.mot,
                                       on_progress=lambda p: bar.update(p.done - bar.n))
        except InferenceInterrupted as exc:
            bar.close()
            _summary(exc.result, "interrupted")
            return 130
        bar.close()
    _summary(result, None)
    return 0


def _run_many(args: argparse.Namespace, tracker: Any) -> int:
    """Several sources: their outputs planned and checked and the sources opened before the model loads."""
    from core.cli.progress import ProgressBar, sigterm_as_interrupt
    from core.inference_loop import frames_expected
    from core.inference_many import RunsInterrupted, open_sources, plan_outputs, run_planned
    from core.model_spec import model_inputs

    plans = plan_outputs(args.source, args.out, args.save_video, args.mot, args.score_thresh, args.batch_size,
                         args.max_frames, args.video_thresh, inputs=model_inputs(args.weights),
                         overwrite_video=args.overwrite)
    opened = open_sources(plans, tracker)
    try:
        detector = load_cli_detector(args, args.weights, args.source[0], optimize=args.optimize)
        if args.nms is not None:
            detector.set_postprocess(nms=args.nms)
        labels = parse_classes(args.classes, detector.class_names)
        bar = ProgressBar("detect", frames_expected(opened, args.max_frames))
        try:
            with sigterm_as_interrupt():  # a kill is handled as Ctrl-C: the frames done are saved first
                results = run_planned(detector, plans, opened, score_thresh=args.score_thresh,
                                      video_thresh=args.video_thresh, labels=labels, batch_size=args.batch_size,
                                      max_frames=args.max_frames, weights=args.weights, tracker=tracker,
                                      on_progress=lambda p: bar.update(p.done - bar.n))
        except RunsInterrupted as exc:
            bar.close()
            for result in exc.results:
                _summary(result, "interrupted")
            return 130
        bar.close()
    finally:
        for src in opened:
            src.close()
    for result in results:
        _summary(result, None)
    return 0


def _summary(result: Any, stopped: str | None) -> None:
    """What was written, on stderr: warnings first (each skipped file, a video that ended early)."""
    from core.io.text import printable

    for w in result.warnings:
        print(f"ssd detect: warning: {printable(w)}", file=sys.stderr)
    written = [printable(p) for p in (result.json_path, result.video_path, result.mot_path)
               if p is not None]
    of = f" of {result.frames_total}" if result.frames_total is not None else ""
    codec = f" (video codec {result.video_codec})" if result.video_codec else ""
    head = f"ssd detect: {stopped}: kept the first " if stopped else ""
    tail = " (partial)" if result.partial else ""
    print(f"{head}{result.frames_done}{of} image(s), {result.detections} detection(s) -> "
          f"{', '.join(written)}{codec}{tail}", file=sys.stderr)
