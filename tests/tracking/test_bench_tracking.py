"""The tracking benchmark's arithmetic (benchmarks/bench_tracking.py): its totals over videos are motrics' own
figures for one video, and the ceiling's noisy truth is what its docstring says."""
from __future__ import annotations

import numpy as np
import pytest

motrics = pytest.importorskip("motrics")

from benchmarks.bench_tracking import DROP, noisy_truth, scenes, track_metrics  # noqa: E402


def test_totals_of_one_video_are_motrics_figures() -> None:
    videos = scenes(1, 30)
    dets = [noisy_truth(videos[0], 5)]
    got = track_metrics(videos, dets)
    from core.tracking import ByteTracker

    tracker = ByteTracker()
    gt_ids, gt_boxes, pr_ids, pr_boxes = [], [], [], []
    for f, ((_, boxes, _, ids), d) in enumerate(zip(videos[0], dets[0])):
        out = tracker.update(d, f).ids
        gt_ids.append(ids.tolist())
        gt_boxes.append(boxes.astype(float))
        pr_ids.append(out[out >= 0].tolist())
        pr_boxes.append(d.boxes[out >= 0].astype(float))
    r = motrics.evaluate(motrics.Frames(gt_ids, gt_boxes), motrics.Frames(pr_ids, pr_boxes))
    assert got["mota"] == pytest.approx(r.clear.mota, abs=1e-12)
    assert got["idf1"] == pytest.approx(r.identity.idf1, abs=1e-12)
    assert got["hota"] == pytest.approx(r.hota.hota, abs=1e-12)
    assert got["gt"] == sum(len(i) for i in gt_ids) and 0.5 < got["mota"] < 1.0


def test_noisy_truth_drops_a_tenth_and_moves_boxes_by_a_few_percent() -> None:
    video = scenes(1, 40)[0]
    dets = noisy_truth(video, 3)
    n_true = sum(len(b) for _, b, _, _ in video)
    n_kept = sum(len(d) for d in dets)
    assert abs(1 - n_kept / n_true - DROP) < 0.05
    assert all(np.all(d.scores == np.float32(0.9)) for d in dets)
