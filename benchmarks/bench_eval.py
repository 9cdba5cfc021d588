"""VOC evaluation speed: the vectorised matching pass vs a plain per-detection loop, and the
slider recompute time. Prints a table. Never run by the tests.

    .venv/bin/python -m benchmarks.bench_eval [--images 5000] [--classes 20] [--dets-per-image 50]

The plain loop is the widely copied py-faster-rcnn ``voc_eval`` structure (per class, per
detection, NumPy overlaps against the image's objects), following the same devkit rules
(IoU >= 0.5, MATLAB's 11 recall levels), so both must give the same numbers.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from core.evaluation import evaluate
from core.evaluation.voc import VOC07_RECALL_LEVELS
from core.types import DatasetIndex, Detections, ImageRecord


def make_case(num_images: int, num_classes: int, dets_per_image: int, seed: int = 0
              ) -> tuple[DatasetIndex, dict[str, Detections]]:
    """VOC-like data: ~2.5 objects per 500x375 image, 10% difficult; detections near objects and clutter."""
    rng = np.random.default_rng(seed)
    names = ("__background__",) + tuple(f"class{i:02d}" for i in range(1, num_classes + 1))
    records, dets = [], {}
    for i in range(num_images):
        n = int(rng.integers(1, 5))
        xy = rng.uniform(0, 380, (n, 2))
        wh = rng.uniform(20, 200, (n, 2))
        boxes = np.floor(np.concatenate([xy, np.minimum(xy + wh, [500, 375])], axis=1)).astype(np.float32)
        labels = rng.integers(1, num_classes + 1, n).astype(np.int64)
        image_id = f"{i:06d}"
        records.append(ImageRecord(image_id, Path(f"{image_id}.jpg"), 500, 375, boxes, labels,
                                   rng.random(n) < 0.1, np.zeros(n, bool)))
        near = rng.integers(0, n, dets_per_image // 2)
        b_near = boxes[near] + rng.normal(0, 8, (near.size, 4))
        l_near = np.where(rng.random(near.size) < 0.8, labels[near], rng.integers(1, num_classes + 1, near.size))
        m = dets_per_image - near.size
        cxy = rng.uniform(0, 400, (m, 2))
        b_far = np.concatenate([cxy, cxy + rng.uniform(10, 150, (m, 2))], axis=1)
        b = np.concatenate([b_near, b_far])
        b = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], axis=1)
        scores = rng.random(b.shape[0]).astype(np.float32)
        dets[image_id] = Detections(b.astype(np.float32), scores,
                                    np.concatenate([l_near, rng.integers(1, num_classes + 1, m)]).astype(np.int64))
    return DatasetIndex("bench", "<bench>", names, records), dets


def loop_voc_eval(gt: DatasetIndex, dets: dict[str, Detections], label: int, use_07: bool) -> float:
    """One class, the plain way: a Python loop over detections in score order."""
    class_recs, npos = {}, 0
    for rec in gt.records:
        keep = rec.labels == label
        bb = rec.boxes[keep].astype(np.float64)
        bb[:, :2] += 1  # devkit 1-based pixels
        diff = rec.difficult[keep]
        npos += int((~diff).sum())
        class_recs[rec.image_id] = {"bbox": bb, "difficult": diff, "det": np.zeros(len(bb), bool)}
    ids, confidence, boxes = [], [], []
    for rec in gt.records:
        d = dets[rec.image_id]
        keep = d.labels == label
        ids += [rec.image_id] * int(keep.sum())
        confidence.append(d.scores[keep].astype(np.float64))
        boxes.append(d.boxes[keep].astype(np.float64))
    confidence = np.concatenate(confidence)
    bbs = np.concatenate(boxes)
    bbs[:, :2] += 1
    order = np.argsort(-confidence, kind="stable")
    tp = np.zeros(order.size)
    fp = np.zeros(order.size)
    for d, k in enumerate(order):
        r = class_recs[ids[k]]
        bb = bbs[k]
        ovmax, jmax = -np.inf, -1
        bbgt = r["bbox"]
        if bbgt.size:
            iw = np.minimum(bbgt[:, 2], bb[2]) - np.maximum(bbgt[:, 0], bb[0]) + 1.0
            ih = np.minimum(bbgt[:, 3], bb[3]) - np.maximum(bbgt[:, 1], bb[1]) + 1.0
            ok = (iw > 0) & (ih > 0)
            if ok.any():
                inter = iw * ih
                uni = ((bb[2] - bb[0] + 1.0) * (bb[3] - bb[1] + 1.0)
                       + (bbgt[:, 2] - bbgt[:, 0] + 1.0) * (bbgt[:, 3] - bbgt[:, 1] + 1.0) - inter)
                ov = np.where(ok, inter / uni, -np.inf)
                jmax = int(np.argmax(ov))
                ovmax = ov[jmax]
        if ovmax >= 0.5:
            if not r["difficult"][jmax]:
                if not r["det"][jmax]:
                    tp[d] = 1.0
                    r["det"][jmax] = True
                else:
                    fp[d] = 1.0
        else:
            fp[d] = 1.0
    counted = (tp + fp) > 0
    ctp, cfp = np.cumsum(tp[counted]), np.cumsum(fp[counted])
    rec_, prec = ctp / npos, ctp / (ctp + cfp)
    if use_07:
        return float(sum((prec[rec_ >= t].max() if (rec_ >= t).any() else 0.0) / 11 for t in VOC07_RECALL_LEVELS))
    mrec = np.concatenate(([0.0], rec_, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--dets-per-image", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    t0 = time.perf_counter()
    gt, dets = make_case(args.images, args.classes, args.dets_per_image)
    n_det = sum(len(d) for d in dets.values())
    n_gt = sum(len(r.labels) for r in gt.records)
    print(f"data: {args.images} images, {args.classes} classes, {n_gt} objects, {n_det} detections "
          f"(built in {time.perf_counter() - t0:.1f} s)")

    t0 = time.perf_counter()
    result = evaluate(gt, dets)
    match_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    voc07 = result.voc(True)
    voc12 = result.voc(False)
    ap_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    loop07 = np.array([loop_voc_eval(gt, dets, l, True) for l in range(1, args.classes + 1)])
    loop_s = time.perf_counter() - t0
    loop12 = np.array([loop_voc_eval(gt, dets, l, False) for l in range(1, args.classes + 1)])
    diff = max(np.abs(loop07 - voc07.ap[1:]).max(), np.abs(loop12 - voc12.ap[1:]).max())

    rng = np.random.default_rng(1)
    ts = iter(rng.uniform(0, 1, 10 * args.repeats))
    slider_12 = _median_ms(lambda: result.at_threshold(next(ts), False), args.repeats * 4)
    slider_07 = _median_ms(lambda: result.at_threshold(next(ts), True), args.repeats * 4)
    curve_ms = _median_ms(lambda: result.map_by_threshold(np.linspace(0, 1, 21)), max(1, args.repeats // 2))
    strip_ms = _median_ms(lambda: result.image_breakdown(1, 0.5), args.repeats)
    pr_ms = _median_ms(lambda: [result.pr_curve(l) for l in range(1, args.classes + 1)], args.repeats)

    rows = [
        ("matching pass + sweep setup (evaluate)", f"{match_s * 1000:9.1f} ms"),
        ("VOC07 + VOC12 AP, all classes", f"{ap_s * 1000:9.1f} ms"),
        ("plain per-detection loop, VOC07 AP", f"{loop_s * 1000:9.1f} ms"),
        ("speed-up (loop / (evaluate + AP))", f"{loop_s / (match_s + ap_s):9.1f} x"),
        ("max |AP difference| vs loop (both metrics)", f"{diff:9.2e}"),
        ("mAP VOC07 / VOC12", f"{voc07.mAP:.4f} / {voc12.mAP:.4f}"),
        ("slider: at_threshold(t), VOC12 (median)", f"{slider_12:9.2f} ms"),
        ("slider: at_threshold(t), VOC07 (median)", f"{slider_07:9.2f} ms"),
        ("mAP-by-threshold curve, 21 thresholds", f"{curve_ms:9.1f} ms"),
        ("PR curves, all classes", f"{pr_ms:9.2f} ms"),
        ("image breakdown, one class at 0.5", f"{strip_ms:9.1f} ms"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  value")
    print("-" * (width + 16))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
