"""Synthetic scenes: determinism, labels that match the pixels, writers that read back, the video."""
from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.data.coco import load_coco
from core.data.synthetic import (
    SHAPE_CLASSES, ShapeSpec, compose, parse_synthetic_path, render_scene, render_video, synthetic_index,
    synthetic_path, write_dataset,
)
from core.data.voc import load_voc

REPO = Path(__file__).resolve().parents[2]


def test_classes() -> None:
    assert SHAPE_CLASSES[0] == "__background__"
    assert {"circle", "square", "triangle", "star"} <= set(SHAPE_CLASSES) and len(SHAPE_CLASSES) >= 8


def test_same_seed_same_pixels_other_seed_other_pixels() -> None:
    a, ba, la = render_scene(3, 5, (96, 64))
    b, bb, lb = render_scene(3, 5, (96, 64))
    assert a.dtype == np.uint8 and a.shape == (64, 96, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ba, bb)
    np.testing.assert_array_equal(la, lb)
    assert not np.array_equal(a, render_scene(4, 5, (96, 64))[0])
    assert not np.array_equal(a, render_scene(3, 6, (96, 64))[0])


def test_same_pixels_in_another_process() -> None:
    code = ("import hashlib; from core.data.synthetic import render_scene; "
            "i, b, l = render_scene(7, 2, (80, 72)); "
            "print(hashlib.sha256(i.tobytes() + b.tobytes() + l.tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    i, b, lab = render_scene(7, 2, (80, 72))
    assert out.stdout.strip() == hashlib.sha256(i.tobytes() + b.tobytes() + lab.tobytes()).hexdigest()


def test_scene_statistics() -> None:
    """Over a few scenes: boxes inside the image, valid labels, small and large objects, empty scenes."""
    sides, counts = [], []
    for i in range(24):
        img, boxes, labels = render_scene(0, i, (320, 320))
        assert boxes.dtype == np.float32 and labels.dtype == np.int64 and boxes.shape == (len(labels), 4)
        assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2:] <= 320)
        assert np.all(boxes[:, 2:] - boxes[:, :2] >= 4)
        assert np.all((labels >= 1) & (labels < len(SHAPE_CLASSES)))
        sides += np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]).tolist()
        counts.append(len(labels))
    assert min(sides) < 20 and max(sides) > 120
    assert max(counts) >= 5
    # The empty-scene draw does not depend on the size: search cheaply at 32x32.
    assert any(len(render_scene(0, i, (32, 32))[2]) == 0 for i in range(120))


def _flat(w: int = 100, h: int = 80) -> np.ndarray:
    return np.full((h, w, 3), 40.0, np.float32)


def test_box_is_tight_around_the_painted_pixels() -> None:
    spec = ShapeSpec(label=SHAPE_CLASSES.index("square"), cx=50, cy=40, radius=20 * math.sqrt(2), angle=0.0,
                     color=(250, 30, 30))
    img, boxes, labels = compose(_flat(), [spec])
    assert labels.tolist() == [spec.label]
    red = (img[..., 0] > 145)  # more than half-covered pixels
    ys, xs = np.nonzero(red)
    np.testing.assert_array_equal(boxes[0], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    np.testing.assert_allclose(boxes[0], [30, 20, 70, 60], atol=1)


def test_occlusion_drops_mostly_hidden_and_shrinks_partly_hidden() -> None:
    sq = SHAPE_CLASSES.index("square")
    under = ShapeSpec(label=sq, cx=50, cy=40, radius=10 * math.sqrt(2), angle=0.0, color=(250, 30, 30))
    # Under spans x 40..60; a 60-px square whose left edge is at x=46 hides 70% of it: unlabelled.
    cover = ShapeSpec(label=sq, cx=76, cy=40, radius=30 * math.sqrt(2), angle=0.0, color=(30, 30, 250))
    _, boxes, labels = compose(_flat(), [under, cover])
    assert labels.tolist() == [sq] and boxes[0, 0] == pytest.approx(46, abs=1)
    # 30% hidden from the right: kept, box ends where the cover starts.
    cover2 = ShapeSpec(label=sq, cx=54 + 30, cy=40, radius=30 * math.sqrt(2), angle=0.0, color=(30, 30, 250))
    _, boxes, labels = compose(_flat(), [under, cover2])
    assert labels.tolist() == [sq, sq]
    np.testing.assert_allclose(boxes[0], [40, 30, 54, 50], atol=1)


def test_shape_cut_by_border_is_labelled_by_its_visible_part() -> None:
    spec = ShapeSpec(label=SHAPE_CLASSES.index("circle"), cx=5, cy=40, radius=15, angle=0.0, color=(250, 250, 30))
    _, boxes, labels = compose(_flat(), [spec])
    assert len(labels) == 1
    np.testing.assert_allclose(boxes[0], [0, 25, 20, 55], atol=1)
    far = ShapeSpec(**{**spec.__dict__, "cx": -8.0})  # under 40% inside the image
    assert len(compose(_flat(), [far])[2]) == 0


def test_synthetic_index_matches_render_scene() -> None:
    ds = synthetic_index(5, seed=2, size=(64, 48))
    assert len(ds) == 5 and ds.class_names == SHAPE_CLASSES
    for r in ds.records:
        assert parse_synthetic_path(r.file) == (2, r.image_id) and (r.width, r.height) == (64, 48)
        _, boxes, labels = render_scene(2, r.image_id, (64, 48))
        np.testing.assert_array_equal(r.boxes, boxes)
        np.testing.assert_array_equal(r.labels, labels)
    assert parse_synthetic_path(synthetic_path(12, 34)) == (12, 34)
    assert parse_synthetic_path("/data/VOC2007/JPEGImages/000005.jpg") is None


@pytest.mark.parametrize("fmt", ["voc", "coco"])
def test_writer_round_trip(tmp_path: Path, fmt: str) -> None:
    out = write_dataset(tmp_path / "ds", count=6, seed=4, fmt=fmt, size=(72, 56))
    ds = load_voc(out, "trainval") if fmt == "voc" else load_coco(out)
    if fmt == "voc":  # trainval and test share no image, and together they are the whole set
        ds.records += load_voc(out, "test").records
        ds.records.sort(key=lambda r: r.image_id)
    assert ds.class_names == SHAPE_CLASSES and ds.warnings == [] and len(ds) == 6
    for i, r in enumerate(ds.records):
        image, boxes, labels = render_scene(4, i, (72, 56))
        np.testing.assert_array_equal(r.boxes, boxes)
        np.testing.assert_array_equal(r.labels, labels)
        on_disk = cv2.cvtColor(cv2.imread(str(r.file)), cv2.COLOR_BGR2RGB)
        assert on_disk.shape == image.shape
        # JPEG (quality 95) smooths the sensor noise away, nothing more: a channel swap or
        # another scene would differ by tens of levels.
        assert np.abs(on_disk.astype(int) - image).mean() < 10
    if fmt == "voc":  # a tenth each (at least one image) for val and test, in that order from the end
        splits = {s: [r.image_id for r in load_voc(out, s).records] for s in ("train", "val", "trainval", "test")}
        assert splits == {"train": ["000000", "000001", "000002", "000003"], "val": ["000005"],
                          "trainval": ["000000", "000001", "000002", "000003", "000005"], "test": ["000004"]}


def test_video_renders_and_decodes(tmp_path: Path) -> None:
    path = render_video(tmp_path / "clip.mp4", seconds=1.0, fps=10, seed=1, size=(96, 64))
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 10 and frames[0].shape == (64, 96, 3)
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1  # shapes move
    assert frames[0].std() > 5  # not a blank frame


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="count"):
        synthetic_index(0, 1)
    with pytest.raises(ValueError, match="'yolo'"):
        write_dataset("/nonexistent", 1, 0, fmt="yolo")
    with pytest.raises(ValueError, match="at least 16x16"):
        render_scene(0, 0, (8, 8))


def test_voc_splits_of_tiny_sets_keep_test_out_of_train() -> None:
    from core.data.synthetic_files import voc_splits_of

    ids = [f"{i:06d}" for i in range(3)]
    assert voc_splits_of(ids[:1]) == {"trainval": ids[:1], "train": ids[:1], "val": ids[:1], "test": ids[:1]}
    # two scenes: no room for three sets, so test is val and train never holds it
    assert voc_splits_of(ids[:2]) == {"trainval": ids[:2], "train": ids[:1], "val": ids[1:2], "test": ids[1:2]}
    assert voc_splits_of(ids) == {"trainval": [ids[0], ids[2]], "train": ids[:1], "val": ids[2:], "test": ids[1:2]}
    many = voc_splits_of([str(i) for i in range(25)])  # a tenth each, rounded down: 2
    assert (len(many["train"]), many["test"], many["val"]) == (21, ["21", "22"], ["23", "24"])
