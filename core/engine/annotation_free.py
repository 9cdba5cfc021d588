"""The annotation-free proof: a student trained only on a teacher's pseudo-labels of unlabelled video,
scored against true labels it never saw.

    python -m core.engine.annotation_free --out runs/annotation_free           # the recorded figure
    python -m core.engine.annotation_free --out runs/annotation_free_quick --quick   # minutes: the pipeline

Steps (a second run skips or resumes each one whose output is there):

1. **Footage.** ``videos`` synthetic videos of moving shapes (seeds ``PROOF_VIDEO_SEED + k``, used by
   nothing else), square like the training scenes. Their true labels exist (the renderer knows them)
   but are never written next to the frames.
2. **Pseudo-labels.** The teacher (``core/resources/demo_model.pt`` by default) labels every ``every``-th
   frame with ``ssd pseudo-label``'s engine (:func:`core.pseudo_label.pseudo_label`): its detections
   scoring above ``score_thresh`` become a VOC dataset.
3. **Label quality** (reported, used by nothing): the pseudo-labels against the frames' true labels
   at IoU 0.5, as precision and recall.
4. **Student.** A fresh network of the teacher's architecture, trained from random weights with
   this project's trainer on the pseudo-labels alone (its ``train`` split; ``best.pt`` is picked on
   their ``val`` split, pseudo-labels too).
5. **Score.** Teacher and student on ``test_count`` held-out scenes of ``TEST_SEED`` against their
   true labels (VOC07 mAP@0.5); the figure is student mAP / teacher mAP. The student before
   training (its random initial weights) is scored too, as the baseline, and each model's
   class-agnostic AP (every box an "object") says how well it finds objects at all.

``OUT/result.json`` holds every number and the time of each step.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.engine.config import PROOF_VIDEO_SEED, TEST_SEED, TrainConfig
from core.jobs import ProgressFn, StopFn, report


@dataclass(frozen=True)
class ProofConfig:
    """One run of the proof (see the module docstring for the steps).

    Attributes:
        videos, seconds, fps, size: the footage (``size`` px square).
        every, score_thresh: the pseudo-labelling.
        student: the student's training run (``data_path`` and ``out_dir`` are filled in).
        test_count, test_seed: the held-out scenes the teacher and the student are scored on.
    """

    videos: int
    seconds: float
    fps: int
    size: int
    every: int
    score_thresh: float
    student: TrainConfig
    test_count: int
    test_seed: int = TEST_SEED


def _student(**changes: Any) -> TrainConfig:
    # The demo model's first-stage recipe (Adam, light augmentation, COCO boxes, width 0.125) on pseudo-labels.
    base = TrainConfig(data_format="voc", data_path="<pseudo-labels>", train_split="train", val_split="val",
                       augment="light", cache_images=True, arch="ssd300", priors="coco", width=0.125, epochs=10,
                       batch_size=8, optimizer="adam", lr=1e-3, weight_decay=0.0, warmup_iters=200,
                       milestones=(0.75, 0.92), gamma=0.1, device="cpu", num_workers=1, num_threads=2, seed=0,
                       out_dir="<run>", checkpoint_every=200, val_every_epochs=2)
    return replace(base, **changes)


#: The recorded figure: 192 videos of 20 s at 10 fps, one frame in 4 (9,600 frames: many short videos, so the
#: student sees many backgrounds and shape sets, as the teacher's 20,000 scenes did), 14 epochs of the 8,640
#: ``train`` frames (15,120 iterations, about the teacher's own 18,125), the rate decayed at 75 % and 92 %.
FULL = ProofConfig(videos=192, seconds=20, fps=10, size=300, every=4, score_thresh=0.5, student=_student(epochs=14),
                   test_count=500)
#: Minutes on two CPU cores: checks that the pipeline runs end to end and that the student learns.
QUICK = ProofConfig(videos=2, seconds=4, fps=10, size=300, every=1, score_thresh=0.5,
                    student=_student(epochs=4, batch_size=4, warmup_iters=10, val_every_epochs=0, num_threads=None,
                                     num_workers=0, checkpoint_every=0, milestones=(0.8,)),
                    test_count=30)


def render_footage(cfg: ProofConfig, out: Path, on_progress: ProgressFn | None = None,
                   should_stop: StopFn | None = None) -> list[Path]:
    """The videos (a file already there is kept: the same seed renders the same video)."""
    from core.data.synthetic_files import render_video

    paths = []
    for k in range(cfg.videos):
        path = out / "videos" / f"proof_{k:03d}.mp4"
        if not path.is_file():  # render_video writes atomically: a file there is a whole video
            render_video(path, cfg.seconds, cfg.fps, PROOF_VIDEO_SEED + k, (cfg.size, cfg.size),
                         should_stop=should_stop)
        paths.append(path)
        report(on_progress, k + 1, cfg.videos, "footage", path.name)
    return paths


def true_labels(cfg: ProofConfig, videos: list[Path], labelled: Any) -> Any:
    """The true labels of the pseudo-labelled frames (same ids), re-rendered from the videos' seeds."""
    from core.data.synthetic import SHAPE_CLASSES, MovingScene
    from core.types import DatasetIndex, ImageRecord

    wanted = {r.image_id: r for r in labelled.records}
    records = []
    for k, video in enumerate(videos):
        scene = MovingScene(PROOF_VIDEO_SEED + k, (cfg.size, cfg.size), cfg.fps)
        for i, (_, boxes, labels) in enumerate(scene.frames(max(1, int(round(cfg.seconds * cfg.fps))))):
            rec = wanted.get(f"{video.stem}_{i:06d}")
            if rec is not None:
                records.append(ImageRecord(rec.image_id, rec.file, rec.width, rec.height, boxes, labels))
    return DatasetIndex("true labels of the proof's frames", "proof videos", SHAPE_CLASSES, records)


def label_quality(cfg: ProofConfig, videos: list[Path], dataset: Path) -> dict[str, float]:
    """Precision and recall of the pseudo-labels against the frames' true labels (IoU 0.5)."""
    from core.data.voc import load_voc
    from core.evaluation import evaluate
    from core.types import Detections

    labelled = load_voc(dataset, "trainval")
    truth = true_labels(cfg, videos, labelled)
    dets = {r.image_id: Detections(r.boxes, np.ones(len(r.labels), np.float32), r.labels) for r in labelled.records}
    stats = evaluate(truth, dets).at_threshold(0.0)
    tp, fp, n = int(stats.tp.sum()), int(stats.fp.sum()), int(stats.num_gt.sum())
    return {"frames": len(truth.records), "true_objects": n, "pseudo_labels": tp + fp,
            "precision": tp / max(tp + fp, 1), "recall": tp / max(n, 1)}


def held_out_scores(weights: str | Path, cfg: ProofConfig) -> dict[str, float]:
    """VOC07 mAP@0.5 on the held-out scenes against their true labels, and the class-agnostic AP (every
    box an "object": how well the model finds objects, whatever it calls them)."""
    from core.data.index import DatasetSpec
    from core.evaluation import evaluate
    from core.evaluation.run import EvaluationRequest, run_evaluation
    from core.types import DatasetIndex, Detections, ImageRecord

    spec = DatasetSpec("synthetic", count=cfg.test_count, seed=cfg.test_seed, size=cfg.size)
    result = run_evaluation(EvaluationRequest(spec, weights=str(weights), metric="voc07")).result
    one = DatasetIndex("objects", result.gt.source, ("__background__", "object"),
                       [ImageRecord(r.image_id, r.file, r.width, r.height, r.boxes, np.ones_like(r.labels))
                        for r in result.gt.records])
    dets = {r.image_id: Detections(d.boxes, d.scores, np.ones_like(d.labels))
            for r, d in zip(result.gt.records, result.detections_per_image())}
    return {"map_voc07": float(result.voc(True).mAP), "agnostic_ap_voc07": float(evaluate(one, dets).voc(True).mAP)}


def initial_student(cfg: TrainConfig, class_names: tuple[str, ...], path: Path) -> Path:
    """The student's weights before training (the trainer seeds and builds it the same way): the baseline."""
    import torch

    from core.config import preset
    from core.model import build_model
    from core.weights import save_checkpoint

    ssd_config = preset(cfg.arch, num_classes=len(class_names), priors=cfg.priors, width=cfg.width)
    torch.manual_seed(cfg.seed)
    return save_checkpoint(path, build_model(ssd_config.model), ssd_config, class_names)


def student_variant(cfg: ProofConfig, distill: bool = False, arch: str | None = None,
                    width: float | None = None) -> tuple[str, ProofConfig]:
    """(name, config) of a student variant: ``student`` is the teacher's architecture on the pseudo-labels
    alone; ``_distill`` adds the teacher's soft scores (core.engine.distill); ``_<arch>`` another
    architecture (its own default boxes and width). Variants share the footage and the pseudo-labels."""
    changes: dict[str, Any] = {}
    name = "student"
    if arch is not None and arch != cfg.student.arch:
        changes.update(arch=arch, priors=None, width=1.0 if width is None else width)
        name += f"_{arch}"
    elif width is not None:
        changes["width"] = width
    if distill:
        changes["distill_teacher"] = "<teacher>"
        name += "_distill"
    return name, replace(cfg, student=replace(cfg.student, **changes))


def run_proof(cfg: ProofConfig, out: str | Path, teacher: str | Path | None = None,
              on_progress: ProgressFn | None = None, should_stop: StopFn | None = None,
              variant: str = "student") -> dict[str, Any]:
    """All steps; returns (and writes to ``out/result.json``, ``out/result_<variant>.json`` for a variant
    of :func:`student_variant`) the figures. Resumes where a run stopped."""
    from core.detector import DEMO_WEIGHTS
    from core.engine.trainer import train
    from core.io.fileio import check_output_dir, write_json
    from core.pseudo_label import PseudoLabelConfig, pseudo_label

    out = check_output_dir(out, "proof folder")
    teacher = str(teacher or DEMO_WEIGHTS)
    times: dict[str, float] = {}
    t = time.monotonic()
    videos = render_footage(cfg, out, on_progress, should_stop)
    times["footage_s"], t = time.monotonic() - t, time.monotonic()
    labels = pseudo_label(PseudoLabelConfig(sources=tuple(str(v) for v in videos), teacher=teacher,
                                            out_dir=str(out / "pseudo_labels"), score_thresh=cfg.score_thresh,
                                            every=cfg.every), on_progress=on_progress, should_stop=should_stop)
    if labels.partial:
        raise KeyboardInterrupt("stopped while pseudo-labelling; run again to resume")
    times["pseudo_label_s"], t = time.monotonic() - t, time.monotonic()
    quality = label_quality(cfg, videos, labels.dataset_path)
    run_dir = out / variant
    student_cfg = replace(cfg.student, data_path=str(labels.dataset_path), out_dir=str(run_dir),
                          resume=str(run_dir / "last.pt") if (run_dir / "last.pt").is_file() else None)
    if student_cfg.distill_teacher is not None:
        student_cfg = replace(student_cfg, distill_teacher=teacher)
    result = train(student_cfg, on_progress=on_progress, should_stop=should_stop)
    if result.stopped:
        raise KeyboardInterrupt(f"stopped while training; run again to resume from {run_dir / 'last.pt'}")
    times["train_s"], t = time.monotonic() - t, time.monotonic()
    student = run_dir / "best.pt" if (run_dir / "best.pt").is_file() else result.checkpoint
    report(on_progress, 0, 3, "score", "held-out scenes")
    scores = {name: held_out_scores(w, cfg) for name, w in (
        ("teacher", teacher), ("student", student),
        ("student_before_training", initial_student(student_cfg, labels.class_names, out / f"{variant}_init.pt")))}
    times["score_s"] = time.monotonic() - t
    teacher_map, student_map = scores["teacher"]["map_voc07"], scores["student"]["map_voc07"]
    figures = {"teacher": teacher, "student": str(student), "teacher_map_voc07": teacher_map,
               "student_map_voc07": student_map, "fraction_of_teacher": student_map / teacher_map,
               "held_out_scores": scores, "pseudo_labels": quality, "frames_labelled": labels.frames_total,
               "iterations": result.iterations,
               "held_out": {"seed": cfg.test_seed, "count": cfg.test_count, "size": cfg.size}, "times": times,
               "config": {"videos": cfg.videos, "seconds": cfg.seconds, "fps": cfg.fps, "every": cfg.every,
                          "score_thresh": cfg.score_thresh, "student": student_cfg.to_dict()}}
    figures["variant"] = variant
    write_json(out / ("result.json" if variant == "student" else f"result_{variant}.json"), figures, "proof result",
               indent=2)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.engine.annotation_free", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/annotation_free", help="run folder (default runs/annotation_free)")
    parser.add_argument("--quick", action="store_true", help="the short version (minutes; checks the pipeline)")
    parser.add_argument("--teacher", default=None, help="teacher weights (default core/resources/demo_model.pt)")
    parser.add_argument("--distill", action="store_true", help="the student also learns the teacher's soft scores")
    parser.add_argument("--student", default=None, metavar="ARCH",
                        help="the student's architecture (default the teacher's: ssd300 at width 0.125)")
    parser.add_argument("--width", type=float, default=None, help="the student's channel width")
    args = parser.parse_args(argv)

    def show(p: Any) -> None:
        kind = getattr(p, "kind", None)
        if kind is None:  # core.jobs.Progress of the footage, the pseudo-labels and the score
            if p.done % 100 == 0 or p.done == p.total:
                print(f"{p.stage}: {p.done}/{p.total} {p.detail}", flush=True)
        elif kind != "step":
            print(p.message, flush=True)
        elif p.iteration % 50 == 0:
            print(f"train: it {p.iteration}/{p.total_iterations} loss {p.loss:.3f} lr {p.lr:.2e} "
                  f"{p.images_per_s:.1f} img/s eta {p.eta_s / 60:.1f} min", flush=True)

    variant, cfg = student_variant(QUICK if args.quick else FULL, args.distill, args.student, args.width)
    figures = run_proof(cfg, args.out, args.teacher, on_progress=show, variant=variant)
    print(json.dumps({k: figures[k] for k in ("teacher_map_voc07", "student_map_voc07", "fraction_of_teacher",
                                               "held_out_scores", "pseudo_labels", "times")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
