"""Soft-NMS against hard NMS on the demo model: VOC mAP on its held-out scenes (issue 11).

    .venv/bin/python -m benchmarks.softnms_map [--count 500] [--threads N]

The demo model (resources/demo_model.pt) on ``count`` synthetic 300x300 scenes of ``TEST_SEED`` (the
scenes its recorded held-out mAP comes from, used by nothing else), through ``Detector.detect`` with
``nms="hard"``, ``"soft-linear"`` (N_t = the model's NMS threshold, 0.45) and ``"soft-gaussian"``
(sigma 0.5), the model's score threshold (0.01) and 200 detections per image. The hard-NMS row is the
demo model's recorded figure.
"""
from __future__ import annotations

import argparse
import time

from core.config import NMS_METHODS
from core.engine.config import TEST_SEED
from core.engine.demo import TEST_COUNT


def measure(count: int = TEST_COUNT) -> list[dict]:
    """One dict per NMS method: VOC07 and VOC2010+ mAP, detections per image, seconds for detection."""
    from core.data.synthetic import synthetic_index
    from core.detector import DEMO_WEIGHTS
    from core.resolve import load_detector
    from core.evaluation.evaluate import evaluate
    from core.evaluation.run import run_detector

    det = load_detector(DEMO_WEIGHTS)
    gt = synthetic_index(count, TEST_SEED, (300, 300))
    rows = []
    for nms in NMS_METHODS:
        t0 = time.perf_counter()
        dets = run_detector(det, gt, batch_size=8, nms=nms)
        seconds = time.perf_counter() - t0
        result = evaluate(gt, dets, detector_class_names=det.class_names, source=f"demo model, {nms}")
        rows.append({"nms": nms, "voc07": result.voc(use_07_metric=True).mAP, "voc12": result.voc(False).mAP,
                     "dets_per_image": sum(len(d) for d in dets.values()) / count, "detect_s": seconds})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=TEST_COUNT, help=f"held-out scenes (default {TEST_COUNT})")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print("| NMS | VOC07 mAP@0.5 | VOC2010+ mAP@0.5 | detections / image | detection time |")
    print("|---|---|---|---|---|")
    for r in measure(args.count):
        print(f"| {r['nms']} | {r['voc07']:.4f} | {r['voc12']:.4f} | {r['dets_per_image']:.1f} | "
              f"{r['detect_s']:.1f} s |")
    print(f"\n{args.count} held-out scenes of seed {TEST_SEED}, demo model, score threshold 0.01")


if __name__ == "__main__":
    main()
