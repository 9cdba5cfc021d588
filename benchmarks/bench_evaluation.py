"""Target 5: VOC mAP over 5000 images x 20 classes, core.evaluation vs a plain devkit loop, and the
time of the COCO metrics (computed by pycocotools itself, so it is its own reference).

    .venv/bin/python -m benchmarks.bench_evaluation [--quick]

The data, the loop implementation and the detailed evaluation table are benchmarks/bench_eval.py's
(the evaluation engineer's script); this wrapper turns them into rows of the summary table.
"""
from __future__ import annotations

import time

import numpy as np

from benchmarks._common import Row, bench_main, fmt_s, status
from benchmarks.bench_eval import loop_voc_eval, make_case
from core.evaluation import evaluate


def run(quick: bool = False) -> list[Row]:
    n_images = 1000 if quick else 5000
    n_classes = 20
    gt, dets = make_case(n_images, n_classes, 50)
    t0 = time.perf_counter()
    result = evaluate(gt, dets)
    voc07 = result.voc(True)
    voc12 = result.voc(False)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop07 = np.array([loop_voc_eval(gt, dets, c, True) for c in range(1, n_classes + 1)])
    loop12 = np.array([loop_voc_eval(gt, dets, c, False) for c in range(1, n_classes + 1)])
    t_loop = time.perf_counter() - t0
    diff = max(np.abs(loop07 - voc07.ap[1:]).max(), np.abs(loop12 - voc12.ap[1:]).max())
    speedup = t_loop / t_ours
    rows = [Row(f"5. VOC07+VOC12 mAP, {n_images} images x {n_classes} classes", fmt_s(t_ours), fmt_s(t_loop),
                f"{speedup:.0f}x faster", ">= 20x", status(speedup >= 20, diff <= 1e-9),
                f"plain per-detection devkit loop (bench_eval.loop_voc_eval); max |AP diff| {diff:.1e}; "
                f"mAP VOC07 {voc07.mAP:.4f}, VOC12 {voc12.mAP:.4f}; one run each")]

    from core.evaluation.coco import coco_metrics

    n_coco = 200 if quick else 1000
    sub = type(gt)(gt.name, gt.source, gt.class_names, gt.records[:n_coco])
    t0 = time.perf_counter()
    coco = coco_metrics(sub, [dets[r.image_id] for r in sub.records])
    t_coco = time.perf_counter() - t0
    rows.append(Row(f"5b. COCO metrics, {n_coco} images", fmt_s(t_coco), "pycocotools", "1x (same code)",
                    "pycocotools", "info",
                    f"computed by pycocotools COCOeval itself, so its numbers are pycocotools' by construction; "
                    f"AP@[.5:.95] {coco.stats[0]:.4f}, AP50 {coco.stats[1]:.4f}"))
    return rows


def main() -> None:
    bench_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
