"""Pseudo-labels cleaned by time: the demo teacher's labels of synthetic videos, frame by frame against
``--temporal``, scored against the videos' true labels.

    .venv/bin/python -m benchmarks.bench_temporal [--quick] [--out DIR]

The videos are rendered (MP4, as ``ssd synth --video`` writes them) from seeds
``TEMPORAL_VIDEO_SEED + k`` (core/engine/config.py; used by nothing else). ``ssd pseudo-label``'s engine
(:func:`core.pseudo_label.pseudo_label`) labels every ``every``-th frame twice, with the demo model at
the default threshold (0.5): once frame by frame, once with ``temporal`` (the default
:class:`core.tracking.TemporalConfig`). Each dataset is read back as VOC and matched to the true boxes
of the same frames (re-rendered from the seeds) at IoU 0.5, class by class, every label counted
whatever its score: precision = TP / labels, recall = TP / true objects, F1 their harmonic mean.
The targets are the issue's: F1 at least 3 points higher with ``--temporal``, precision not lower by
more than 1 point.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import Row, bench_main, status

SIZE, FPS = 300, 25


def render(out: Path, videos: int, seconds: float) -> list[Path]:
    """The benchmark's videos (a file already there is kept: the same seed renders the same video)."""
    from core.data.synthetic import render_video
    from core.engine.config import TEMPORAL_VIDEO_SEED

    paths = []
    for k in range(videos):
        path = out / f"temporal_{k:03d}.mp4"
        if not path.is_file():
            render_video(path, seconds, FPS, TEMPORAL_VIDEO_SEED + k, (SIZE, SIZE))
        paths.append(path)
    return paths


def truth_for(videos: list[Path], seconds: float, image_ids: set[str]) -> Any:
    """The true labels of the frames ``image_ids`` (``<video stem>_<frame:06d>``), re-rendered from the seeds."""
    from core.data.synthetic import SHAPE_CLASSES, MovingScene
    from core.engine.config import TEMPORAL_VIDEO_SEED
    from core.types import DatasetIndex, ImageRecord

    records = []
    for k, video in enumerate(videos):
        scene = MovingScene(TEMPORAL_VIDEO_SEED + k, (SIZE, SIZE), FPS)
        for i, (_, boxes, labels) in enumerate(scene.frames(max(1, int(round(seconds * FPS))))):
            image_id = f"{video.stem}_{i:06d}"
            if image_id in image_ids:
                records.append(ImageRecord(image_id, video, SIZE, SIZE, boxes, labels))
    return DatasetIndex("true labels", "temporal benchmark videos", SHAPE_CLASSES, records)


def label_quality(dataset: Path, videos: list[Path], seconds: float) -> dict[str, float]:
    """Precision, recall and F1 of a pseudo-labelled VOC dataset against the true labels (IoU 0.5)."""
    from core.data.voc import load_voc
    from core.evaluation import evaluate
    from core.types import Detections

    labelled = load_voc(dataset, "trainval")
    truth = truth_for(videos, seconds, {r.image_id for r in labelled.records})
    dets = {r.image_id: Detections(r.boxes, np.ones(len(r.labels), np.float32), r.labels) for r in labelled.records}
    stats = evaluate(truth, dets, labelled.class_names).at_threshold(0.0)
    tp, fp, n = int(stats.tp.sum()), int(stats.fp.sum()), int(stats.num_gt.sum())
    p, r = tp / max(tp + fp, 1), tp / max(n, 1)
    return {"frames": len(truth.records), "objects": n, "labels": tp + fp, "precision": p, "recall": r,
            "f1": 2 * p * r / max(p + r, 1e-12)}


def compare(out: Path, videos: int, seconds: float, every: int, teacher: Any = None) -> dict[str, dict[str, float]]:
    """Label the videos frame by frame and with ``temporal``; the quality of each, and the seconds each took."""
    from core.pseudo_label import PseudoLabelConfig, pseudo_label
    from core.resolve import load_detector
    from core.tracking import TemporalConfig

    paths = render(out / "videos", videos, seconds)
    teacher = teacher if teacher is not None else load_detector("demo", optimize=True)
    base = PseudoLabelConfig(sources=tuple(str(p) for p in paths), teacher="demo", out_dir=str(out / "per_frame"),
                             score_thresh=0.5, every=every)
    results = {}
    for name, cfg in (("per_frame", base),
                      ("temporal", replace(base, out_dir=str(out / "temporal"), temporal=TemporalConfig()))):
        t0 = time.perf_counter()
        result = pseudo_label(cfg, teacher=teacher)
        results[name] = {**label_quality(result.dataset_path, paths, seconds), "seconds": time.perf_counter() - t0}
    return results


def rows(results: dict[str, dict[str, float]], videos: int, seconds: float, every: int) -> list[Row]:
    a, b = results["per_frame"], results["temporal"]
    d_f1, d_p = 100 * (b["f1"] - a["f1"]), 100 * (b["precision"] - a["precision"])
    where = (f"{videos} videos x {seconds:g} s at {FPS} fps, {SIZE}x{SIZE}, every {every}th frame: {int(a['frames'])} "
             f"frames, {int(a['objects'])} true objects")
    return [
        Row("15. pseudo-labels: F1, --temporal vs per frame", f"{b['f1']:.4f}", f"{a['f1']:.4f}",
            f"{d_f1:+.1f} pts", ">= +3 pts", status(d_f1 >= 3.0),
            f"{where}; demo teacher at 0.5; recall {a['recall']:.4f} -> {b['recall']:.4f}; labels "
            f"{int(a['labels'])} -> {int(b['labels'])}; labelling took {a['seconds']:.0f} s -> {b['seconds']:.0f} s"),
        Row("15b. pseudo-labels: precision, --temporal vs per frame", f"{b['precision']:.4f}", f"{a['precision']:.4f}",
            f"{d_p:+.1f} pts", ">= -1 pt", status(d_p >= -1.0), "same frames and truth as 15 (IoU 0.5, per class)"),
    ]


def run(quick: bool = False, out: str | None = None) -> list[Row]:
    videos, seconds, every = (2, 4.0, 5) if quick else (4, 8.0, 5)
    if out is not None:
        return rows(compare(Path(out), videos, seconds, every), videos, seconds, every)
    with tempfile.TemporaryDirectory() as tmp:
        return rows(compare(Path(tmp), videos, seconds, every), videos, seconds, every)


def main() -> None:
    bench_main(run, __doc__.splitlines()[0],
               lambda ap: ap.add_argument("--out", default=None, help="keep the videos and datasets in this folder"))


if __name__ == "__main__":
    main()
