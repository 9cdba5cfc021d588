"""The tracker on synthetic videos whose renderer knows each object's identity: MOTA, IDF1 and HOTA.

    .venv/bin/python -m benchmarks.bench_tracking [--quick]

Videos: :class:`core.data.synthetic.MovingScene` from seeds ``TRACKING_VIDEO_SEED + k`` (core/engine/config.py;
used by nothing else), 300x300 at 25 frames/s, nine shapes at a time drifting, bouncing, spinning, pulsing,
occluding each other, some leaving and replaced by newcomers with new ids; the renderer's boxes and ids are
the ground truth (an object counts while at least half of it shows). The frames go to the detector as
rendered (no video codec in between).

Two inputs to :class:`core.tracking.ByteTracker` (its defaults: ByteTrack's MOT17 settings):

* **demo model**: ``load_detector("demo")``'s detections (scores >= 0.1; the tracker's high threshold 0.5);
* **ceiling**: the true boxes with noise, each coordinate moved by a normal of 5 % of the box's size, one
  box in ten dropped, every score 0.9: what the tracker makes of nearly perfect detections.

The tracker's output is every detection with a confirmed track id (ByteTrack's output); the metrics are
computed by motrics (CLEAR MOTA, identity IDF1 and HOTA, IoU 0.5 for the first two, HOTA averaged over
its IoU thresholds 0.05-0.95), a metric library that matches TrackEval's numbers, class-agnostic as in
MOTChallenge.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks._common import Row, bench_main

SIZE, FPS = 300, 25
#: Noise of the ceiling's boxes (fraction of the box size, standard deviation) and the share of boxes dropped.
NOISE, DROP = 0.05, 0.1


def scenes(videos: int, frames: int) -> list[list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]:
    """Per video, per frame: (image, true boxes float32 [N, 4], labels int64 [N], object ids int64 [N])."""
    from core.data.synthetic import MovingScene
    from core.engine.config import TRACKING_VIDEO_SEED

    return [[(im, b, lab, ids.copy()) for im, b, lab, ids in
             MovingScene(TRACKING_VIDEO_SEED + k, (SIZE, SIZE), FPS).frames_with_ids(frames)] for k in range(videos)]


def noisy_truth(video: list, seed: int) -> list[Any]:
    """The ceiling's detections of one video (module docstring)."""
    from core.types import Detections

    rng = np.random.default_rng(seed)
    out = []
    for _, boxes, labels, _ in video:
        wh = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
        noisy = boxes + rng.normal(0.0, NOISE, boxes.shape) * wh
        keep = rng.random(len(boxes)) >= DROP
        out.append(Detections(noisy[keep].astype(np.float32), np.full(int(keep.sum()), 0.9, np.float32), labels[keep]))
    return out


def detect(video: list, detector: Any, batch: int = 8) -> list[Any]:
    images = [f[0] for f in video]
    return [d for i in range(0, len(images), batch) for d in detector.detect(images[i:i + batch], score_thresh=0.1)]


def track_metrics(videos: list, detections: list[list[Any]]) -> dict[str, float]:
    """MOTA, IDF1 and HOTA of the tracker on ``detections`` (per video, per frame), over all videos (the
    CLEAR and identity counts summed, HOTA averaged over the videos weighted by their true boxes)."""
    import motrics

    from core.tracking import ByteTracker

    tp = fp = fn = idsw = idtp = idfp = idfn = n_gt = 0
    hota = 0.0
    for video, dets in zip(videos, detections):
        tracker = ByteTracker()
        gt_ids, gt_boxes, pr_ids, pr_boxes = [], [], [], []
        for f, ((_, boxes, _, ids), d) in enumerate(zip(video, dets)):
            out = tracker.update(d, f).ids
            gt_ids.append(ids.tolist())
            gt_boxes.append(boxes.astype(np.float64))
            pr_ids.append(out[out >= 0].tolist())
            pr_boxes.append(d.boxes[out >= 0].astype(np.float64))
        r = motrics.evaluate(motrics.Frames(gt_ids, gt_boxes), motrics.Frames(pr_ids, pr_boxes))
        n = sum(len(i) for i in gt_ids)
        c = r.clear
        tp, fp, fn, idsw = tp + c.num_matches, fp + c.num_false_positives, fn + c.num_misses, idsw + c.num_switches
        idtp, idfp, idfn = idtp + r.identity.idtp, idfp + r.identity.idfp, idfn + r.identity.idfn
        hota += r.hota.hota * n
        n_gt += n
    return {"mota": 1.0 - (fn + fp + idsw) / max(n_gt, 1), "idf1": 2 * idtp / max(2 * idtp + idfp + idfn, 1),
            "hota": hota / max(n_gt, 1), "idsw": idsw, "fp": fp, "fn": fn, "gt": n_gt}


def run(quick: bool = False) -> list[Row]:
    from core.resolve import load_detector

    n_videos, frames = (2, 100) if quick else (4, 200)
    videos = scenes(n_videos, frames)
    detector = load_detector("demo", optimize=True)
    demo = track_metrics(videos, [detect(v, detector) for v in videos])
    ceiling = track_metrics(videos, [noisy_truth(v, 1000 + k) for k, v in enumerate(videos)])
    where = (f"{n_videos} videos x {frames} frames ({frames / FPS:g} s at {FPS} fps), {SIZE}x{SIZE}, "
             f"{demo['gt']} true boxes")
    rows = []
    for key, name in (("mota", "MOTA"), ("idf1", "IDF1"), ("hota", "HOTA")):
        rows.append(Row(f"14{'' if key == 'mota' else ('b' if key == 'idf1' else 'c')}. tracking {name}, demo model "
                        f"(ceiling: noisy truth)", f"{demo[key]:.3f}", f"{ceiling[key]:.3f}", "-", "(info)", "info",
                        "" if key != "mota" else
                        f"{where}; demo model: {demo['fp']} FP, {demo['fn']} FN, {demo['idsw']} id switches; ceiling "
                        f"(true boxes, {NOISE:.0%} noise, {DROP:.0%} dropped): {ceiling['fp']} FP, {ceiling['fn']} FN, "
                        f"{ceiling['idsw']} id switches; motrics {_version()}"))
    return rows


def _version() -> str:
    import motrics

    return str(motrics.__version__)


def main() -> None:
    bench_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
