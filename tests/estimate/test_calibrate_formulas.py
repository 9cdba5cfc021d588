"""The calibration meta-set pinned by values computed by hand, for issue 24's mutation check
(tools/mutants.toml: core/evaluation/estimate/calibrate.py): the set list (clean first, 7 corruptions x
severities 1 to 6), min_scored's quarter between 2 and 10, the images spread evenly over a source, the
recorded data a checkpoint names (validation or training scenes, a COCO file), the image-count bounds, the
true mAP in each metric on a hand-worked case, and one meta-set: the copies' seeds and a signal kept at
exactly min_scored images."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.data.shapes import SHAPE_CLASSES
from core.engine.config import COPY_SEED_STRIDE
from core.evaluation.estimate.calibrate import (DEFAULT_IMAGES, MIN_IMAGES, build_meta_set, calibration_data,
                                                min_scored, set_list, true_map)
from core.evaluation.estimate.corruptions import CORRUPTIONS, corrupt
from core.evaluation.estimate.scoring import SignalSettings, measure_images
from core.types import Detections


def write_coco(folder: Path, images: list[np.ndarray], boxes: list[np.ndarray], labels: list[np.ndarray]) -> Path:
    """A COCO file of ``images`` (uint8 RGB, written as PNG beside it) with their boxes (x1, y1, x2, y2) and
    labels (indices into SHAPE_CLASSES); image ids 1, 2, ..."""
    (folder / "images").mkdir(parents=True)
    entries, anns = [], []
    for i, (im, b, lab) in enumerate(zip(images, boxes, labels), start=1):
        cv2.imwrite(str(folder / "images" / f"{i}.png"), im[:, :, ::-1])
        entries.append({"id": i, "file_name": f"{i}.png", "width": im.shape[1], "height": im.shape[0]})
        for (x1, y1, x2, y2), c in zip(np.asarray(b, float).tolist(), np.asarray(lab).tolist()):
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c), "iscrowd": 0,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
    cats = [{"id": k, "name": n} for k, n in enumerate(SHAPE_CLASSES) if k > 0]
    path = folder / "ann.json"
    path.write_text(json.dumps({"images": entries, "annotations": anns, "categories": cats}))
    return path


def plain_coco(folder: Path, n: int, objects: bool = True) -> Path:
    """``n`` grey 32 x 32 images, each with one object of class 1 (or none)."""
    box = np.array([[4.0, 4.0, 20.0, 20.0]]) if objects else np.zeros((0, 4))
    return write_coco(folder, [np.full((32, 32, 3), 128, np.uint8)] * n, [box] * n, [np.ones(len(box), int)] * n)


def test_the_set_list_is_clean_then_every_corruption_at_severities_1_to_6() -> None:
    sets = set_list()
    assert len(sets) == 1 + 7 * 6 and sets[0] == ("clean", 0)
    assert sets[1:] == [(c, s) for c in CORRUPTIONS for s in (1, 2, 3, 4, 5, 6)]
    assert set_list(("blur",), (2,)) == [("clean", 0), ("blur", 2)]


@pytest.mark.parametrize("images, need", [(0, 2), (4, 2), (8, 2), (11, 2), (12, 3), (39, 9), (40, 10), (44, 10),
                                          (100, 10)])
def test_min_scored_is_a_quarter_between_2_and_10(images: int, need: int) -> None:
    assert min_scored(images) == need


def test_images_are_spread_evenly_over_the_source(tmp_path: Path) -> None:
    """Ten images, four wanted: linspace(0, 9, 4) = 0, 3, 6, 9 -> ids 1, 4, 7, 10; ten wanted: all."""
    path = plain_coco(tmp_path, 10)
    data = calibration_data({}, "m.pt", path=path, count=4, min_images=4)
    assert [r.image_id for r in data.gt.records] == [1, 4, 7, 10]
    assert data.description.startswith("4 images: the calibration data")
    assert [r.image_id for r in calibration_data({}, "m.pt", path=path, count=10, min_images=10).gt.records] == \
        list(range(1, 11))


def test_the_image_count_bounds(tmp_path: Path) -> None:
    path = plain_coco(tmp_path / "a", 10)
    # exactly min_images images are enough; count 1 is allowed, 0 is not
    assert len(calibration_data({}, "m.pt", path=path, count=10, min_images=10).gt.records) == 10
    assert len(calibration_data({}, "m.pt", path=path, count=1, min_images=1).gt.records) == 1
    with pytest.raises(ValueError, match="calibration image count must be >= 1, got 0"):
        calibration_data({}, "m.pt", path=path, count=0, min_images=1)
    with pytest.raises(ValueError, match=r"holds 10 labelled image\(s\): too few to calibrate an estimate \(at least 11 are "
                                         r"needed; 100 are used"):
        calibration_data({}, "m.pt", path=path, count=10, min_images=11)
    empty = plain_coco(tmp_path / "b", 4, objects=False)
    with pytest.raises(ValueError, match="has no object in its 4 images"):
        calibration_data({}, "m.pt", path=empty, count=4, min_images=1)


def test_the_defaults_are_100_images_and_at_least_20(tmp_path: Path) -> None:
    """120 images: the default count takes 100 (linspace(0, 119, 100), rounded: the first and the last);
    19 images are refused by default."""
    assert (DEFAULT_IMAGES, MIN_IMAGES) == (100, 20)
    data = calibration_data({}, "m.pt", path=plain_coco(tmp_path / "a", 120))
    ids = [r.image_id for r in data.gt.records]
    assert len(ids) == 100 and ids[0] == 1 and ids[-1] == 120
    assert ids == sorted({int(round(v)) + 1 for v in np.linspace(0, 119, 100)})
    with pytest.raises(ValueError, match=r"holds 19 labelled image\(s\): too few to calibrate an estimate \(at least 20"):
        calibration_data({}, "m.pt", path=plain_coco(tmp_path / "b", 19))


def test_the_recorded_data_of_a_checkpoint(tmp_path: Path) -> None:
    val = {"train_config": {"data_format": "synthetic", "val_split": "val", "val_count": 500, "val_seed": 9,
                            "synthetic_count": 800, "synthetic_seed": 3, "synthetic_size": 64}}
    data = calibration_data(val, "m.pt", count=5, min_images=5)
    assert data.description == "5 images: 5 of its validation scenes (synthetic, seed 9)"
    assert data.key["spec"]["seed"] == "9" and data.key["spec"]["count"] == "5" and len(data.gt.records) == 5
    train = {"train_config": {**val["train_config"], "val_split": None}}
    assert calibration_data(train, "m.pt", count=5, min_images=5).description == \
        "5 images: 5 of its training scenes (seed 3)"
    coco = plain_coco(tmp_path, 6)
    recorded = {"train_config": {"data_format": "coco", "data_path": str(coco)}}
    assert calibration_data(recorded, "m.pt", count=6, min_images=6).description == \
        f"6 images: its COCO data '{coco}'"
    with pytest.raises(ValueError, match="its checkpoint records data of an unknown kind \\('yolo'\\)"):
        calibration_data({"train_config": {"data_format": "yolo", "data_path": str(tmp_path)}}, "m.pt")


def test_true_map_in_each_metric_by_hand(tmp_path: Path) -> None:
    """One image, two objects of class 1 at (0, 0, 100, 100) and (200, 0, 300, 100). Detections: the first
    object at 0.9, a false positive far away at 0.8, the second object at 0.7: precision 1, 1/2, 2/3 at
    recall 1/2, 1/2, 1. VOC07 (11 points): 6 levels at precision 1 and 5 at 2/3: (6 + 10/3) / 11 = 28/33.
    VOC2010+: 1/2 x 1 + 1/2 x 2/3 = 5/6. COCO AP@[.5:.95] on one object found at IoU 0.62: see below."""
    obj = np.array([[0, 0, 100, 100], [200, 0, 300, 100]], np.float64)
    path = write_coco(tmp_path, [np.full((120, 320, 3), 128, np.uint8)], [obj], [np.array([1, 1])])
    gt = calibration_data({}, "m.pt", path=path, count=1, min_images=1).gt
    dets = Detections(np.array([[0, 0, 100, 100], [0, 110, 20, 119], [200, 0, 300, 100]], np.float32),
                      np.array([0.9, 0.8, 0.7], np.float32), np.array([1, 1, 1], np.int64))
    names = gt.class_names
    assert true_map(gt, [dets], names, "voc07") == pytest.approx(28 / 33, abs=1e-6)
    assert true_map(gt, [dets], names, "voc12") == pytest.approx(5 / 6, abs=1e-6)
    # COCO: one object, found once at IoU 0.62 (its box 62 of 100 rows high): a match at the thresholds
    # 0.50, 0.55, 0.60 (precision 1 at every recall), none at the seven others: AP = 3/10 (AP50 would be 1)
    one = write_coco(tmp_path / "one", [np.full((120, 320, 3), 128, np.uint8)], [obj[:1]], [np.array([1])])
    gt1 = calibration_data({}, "m.pt", path=one, count=1, min_images=1).gt
    cut = Detections(np.array([[0, 0, 100, 62]], np.float32), np.array([0.9], np.float32), np.array([1], np.int64))
    assert true_map(gt1, [cut], names, "coco") == pytest.approx(0.3, abs=1e-6)
    assert true_map(gt1, [cut], names, "voc07") == pytest.approx(1.0, abs=1e-6)


@pytest.fixture(scope="module")
def demo():  # type: ignore[no-untyped-def]
    from core import load_detector

    return load_detector("demo")


def test_a_meta_set_by_hand(demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Two scenes and two blank images (n = 4, so a signal needs 2 scored images): on the clean copy the
    agreements stand on exactly the 2 scenes and are kept, at the values measure_images gives; the noise
    copy's image i is corrupt(image i, "noise", 3, seed * 1_000_003 + i) with seed 1; each true mAP is the
    evaluation's. With one scene and three blanks the agreements stand on 1 image and are None."""
    from core.data.scenes import render_scene

    scenes = [render_scene(11, i, (300, 300)) for i in range(2)]
    blank = np.full((300, 300, 3), 127, np.uint8)
    images = [s[0] for s in scenes] + [blank, blank]
    path = write_coco(tmp_path / "a", images, [s[1] for s in scenes] + [np.zeros((0, 4))] * 2,
                      [s[2] for s in scenes] + [np.zeros(0, int)] * 2)
    data = calibration_data({}, "m.pt", path=path, count=4, min_images=4)
    settings = SignalSettings(batch_size=4)
    steps: list = []
    sets = build_meta_set(demo, data, settings, sets=[("clean", 0), ("noise", 3)], seed=1, on_progress=steps.append)
    assert [s.name for s in sets] == ["clean", "noise-3"] and [s.images for s in sets] == [4, 4]
    # progress counts the images of all sets: 4 of 8 after the clean set, 8 of 8 after the noise set
    assert [(p.done, p.total, p.detail) for p in steps if p.done in (4, 8)] == [
        (4, 8, "calibration set 1/2: clean"), (8, 8, "calibration set 2/2: noise 3/6")]

    clean = measure_images(demo, images, settings, total=4)
    assert clean.signals["flip"].scored == 2 and clean.signals["scale"].scored == 2  # exactly min_scored(4)
    assert sets[0].signals == {k: (a.value if a.scored >= 2 else None) for k, a in clean.signals.items()}
    assert sets[0].signals["flip"] is not None
    assert sets[0].true_map == pytest.approx(true_map(data.gt, clean.detections, demo.class_names, "voc07"))

    noisy_images = [corrupt(im, "noise", 3, COPY_SEED_STRIDE + i) for i, im in enumerate(images)]
    noisy = measure_images(demo, noisy_images, settings, total=4)
    assert sets[1].signals == {k: (a.value if a.scored >= 2 else None) for k, a in noisy.signals.items()}
    assert sets[1].true_map == pytest.approx(true_map(data.gt, noisy.detections, demo.class_names, "voc07"))

    one = write_coco(tmp_path / "b", images[:1] + [blank] * 3, [scenes[0][1]] + [np.zeros((0, 4))] * 3,
                     [scenes[0][2]] + [np.zeros(0, int)] * 3)
    alone = build_meta_set(demo, calibration_data({}, "m.pt", path=one, count=4, min_images=4), settings,
                           sets=[("clean", 0)])
    assert alone[0].signals["flip"] is None and alone[0].signals["scale"] is None
