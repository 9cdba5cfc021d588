"""COCO metrics: every number must be pycocotools' own, for file and in-memory ground truth."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from core.data.coco import load_coco
from core.evaluation import evaluate
from core.types import DatasetIndex, Detections, ImageRecord

CATEGORIES = [{"id": 3, "name": "car"}, {"id": 1, "name": "person"}, {"id": 18, "name": "dog"},
              {"id": 7, "name": "train"}]  # "train" (7) never appears in the ground truth


def random_coco(seed: int) -> tuple[dict, list[dict]]:
    """Ground truth (crowd boxes, empty images, a class without objects) and results in COCO format."""
    rng = np.random.default_rng(seed)
    images, anns, results = [], [], []
    gt_cats = [3, 1, 18]
    for i in range(18):
        image_id = 100 + 3 * i
        w, h = int(rng.integers(200, 640)), int(rng.integers(200, 480))
        images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": w, "height": h})
        n = 0 if i % 5 == 0 else int(rng.integers(1, 7))  # every fifth image is empty
        for _ in range(n):
            bw, bh = float(rng.uniform(4, w / 2)), float(rng.uniform(4, h / 2))
            x, y = float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh))
            crowd = int(rng.random() < 0.15)
            cat = int(rng.choice(gt_cats))
            # the area is a segmentation area in real files, not w*h: pycocotools must see this one
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cat, "bbox": [x, y, bw, bh],
                         "area": bw * bh * float(rng.uniform(0.5, 0.9)), "iscrowd": crowd})
            for _ in range(int(rng.integers(0, 3))):  # 0..2 detections near each object
                j = rng.normal(0, 0.1, 4) * [bw, bh, bw, bh]
                results.append({"image_id": image_id, "category_id": cat if rng.random() < 0.85 else 7,
                                "bbox": [x + j[0], y + j[1], max(1.0, bw + j[2]), max(1.0, bh + j[3])],
                                "score": float(rng.random())})
        for _ in range(int(rng.integers(0, 3))):  # clutter
            bw, bh = float(rng.uniform(4, 80)), float(rng.uniform(4, 80))
            results.append({"image_id": image_id, "category_id": int(rng.choice([1, 3, 7, 18])),
                            "bbox": [float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh)), bw, bh],
                            "score": float(rng.random())})
    return {"images": images, "annotations": anns, "categories": CATEGORIES}, results


def pycocotools_reference(gt_json: Path, results: list[dict]) -> tuple[np.ndarray, dict[int, float]]:
    """stats and per-category AP (area all, 100 dets) straight from pycocotools."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_json))
        coco_dt = coco_gt.loadRes([dict(r) for r in results])
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    per_cat = {}
    for k, cat in enumerate(ev.params.catIds):
        p = ev.eval["precision"][:, :, k, 0, -1]
        per_cat[cat] = float(np.mean(p[p > -1])) if (p > -1).any() else float("nan")
    return np.asarray(ev.stats), per_cat


def to_detections(ds: DatasetIndex, results: list[dict]) -> dict:
    cat_to_label = {c: l for l, c in enumerate(ds.category_ids)}
    by_image: dict = {}
    for r in results:
        x, y, w, h = r["bbox"]
        by_image.setdefault(r["image_id"], []).append(([x, y, x + w, y + h], r["score"], cat_to_label[r["category_id"]]))
    return {k: Detections(np.array([e[0] for e in v], np.float64), np.array([e[1] for e in v], np.float64),
                          np.array([e[2] for e in v], np.int64)) for k, v in by_image.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coco_from_json_equals_pycocotools(tmp_path: Path, seed: int) -> None:
    data, results = random_coco(seed)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    ds = load_coco(path, check_images=False)
    assert any(len(r.labels) == 0 for r in ds.records) and any(r.iscrowd.any() for r in ds.records)

    res = evaluate(ds, to_detections(ds, results))
    cm = res.coco()
    ref_stats, ref_cat = pycocotools_reference(path, results)
    np.testing.assert_array_equal(cm.stats, ref_stats)
    for label in range(1, len(ds.class_names)):
        ref = ref_cat[ds.category_ids[label]]
        if np.isnan(ref):
            assert np.isnan(cm.ap[label]), ds.class_names[label]
        else:
            assert cm.ap[label] == ref, ds.class_names[label]
    assert np.isnan(cm.ap[ds.class_names.index("train")])  # no ground truth: no AP
    js = res.metrics_dict("coco", cm)
    assert js["mAP"] == ref_stats[0] and js["coco"]["AP50"] == ref_stats[1] and js["coco"]["ARl"] == ref_stats[11]
    assert js["per_class"]["train"]["ap"] is None and len(js["coco"]) == 12


def test_coco_in_memory_ground_truth_equals_pycocotools(tmp_path: Path) -> None:
    """A dataset with no JSON behind it: our in-memory COCO object must give pycocotools' numbers."""
    rng = np.random.default_rng(5)
    names = ("__background__", "a", "b", "c")
    records, images, anns = [], [], []
    for i in range(12):
        n = int(rng.integers(0, 5))
        xy = rng.uniform(0, 150, (n, 2))
        wh = rng.uniform(5, 90, (n, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
        labels = rng.integers(1, 3, n).astype(np.int64)  # class "c" has no objects
        crowd = rng.random(n) < 0.2
        records.append(ImageRecord(f"img{i}", Path(f"img{i}.png"), 256, 256, boxes, labels, np.zeros(n, bool), crowd))
        images.append({"id": i + 1, "width": 256, "height": 256, "file_name": f"img{i}.png"})
        for b, lab, c in zip(boxes.astype(np.float64), labels, crowd):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(lab),
                         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "area": (b[2] - b[0]) * (b[3] - b[1]),
                         "iscrowd": int(c)})
    ds = DatasetIndex("mem", "<memory>", names, records)
    dets, results = {}, []
    for i, rec in enumerate(records):
        k = int(rng.integers(0, 6))
        xy = rng.uniform(0, 150, (k, 2))
        wh = rng.uniform(5, 90, (k, 2))
        b = np.concatenate([xy, xy + wh], axis=1)
        if len(rec.boxes):  # a few good hits
            b = np.concatenate([b, rec.boxes.astype(np.float64) + rng.normal(0, 2, rec.boxes.shape)])
        s = rng.random(len(b))
        lab = rng.integers(1, 4, len(b)).astype(np.int64)
        dets[rec.image_id] = Detections(b, s, lab)
        for bb, ss, ll in zip(b, s, lab):
            results.append({"image_id": i + 1, "category_id": int(ll),
                            "bbox": [bb[0], bb[1], bb[2] - bb[0], bb[3] - bb[1]], "score": float(ss)})
    path = tmp_path / "written_by_test.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": l, "name": names[l]} for l in (1, 2, 3)]}))
    cm = evaluate(ds, dets).coco()
    ref_stats, ref_cat = pycocotools_reference(path, results)
    np.testing.assert_allclose(cm.stats, ref_stats, rtol=0, atol=1e-12)
    for label in (1, 2):
        assert cm.ap[label] == pytest.approx(ref_cat[label], abs=1e-12)
    assert np.isnan(cm.ap[3])


def test_coco_without_any_detection(tmp_path: Path) -> None:
    data, _ = random_coco(3)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    ds = load_coco(path, check_images=False)
    cm = evaluate(ds, {}).coco()
    assert cm.stats[0] == 0.0 and cm.stats[8] == 0.0  # nothing found: AP and AR100 are zero
    has_gt = [l for l in range(1, len(ds.class_names)) if ds.class_names[l] != "train"]
    assert all(cm.ap[l] == 0.0 for l in has_gt)


def test_coco_subset_of_the_json_images(tmp_path: Path) -> None:
    """A reader that dropped images (e.g. missing files): pycocotools evaluates the remaining ones only."""
    data, results = random_coco(4)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    full = load_coco(path, check_images=False)
    kept = [r for r in full.records if r.image_id % 2 == 0]
    ds = DatasetIndex(full.name, full.source, full.class_names, kept, category_ids=full.category_ids)
    kept_ids = {r.image_id for r in kept}
    sub_results = [r for r in results if r["image_id"] in kept_ids]
    cm = evaluate(ds, to_detections(ds, sub_results)).coco()
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(path))
        ev = COCOeval(coco_gt, coco_gt.loadRes([dict(r) for r in sub_results]), "bbox")
        ev.params.imgIds = sorted(kept_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    np.testing.assert_array_equal(cm.stats, ev.stats)
    all_images = evaluate(full, to_detections(full, sub_results)).coco()
    assert all_images.stats[8] < cm.stats[8]  # with every image, the dropped ones' objects are misses
