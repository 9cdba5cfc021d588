"""DetectionDataset, collate and build_loader on real files and re-rendered synthetic scenes."""
from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.config import IMAGE_MEAN_255, ssd300
from core.data.loader import Batch, DetectionDataset, build_dataset, build_loader, collate, worker_context
from core.data.synthetic import SHAPE_CLASSES, render_scene, write_dataset
from core.data.transforms import build_transforms
from core.types import DatasetIndex, ImageRecord

CFG = replace(ssd300(len(SHAPE_CLASSES)).model, image_size=64)


def _record(file: Path, **kw: object) -> ImageRecord:
    base = dict(image_id="x", file=file, width=40, height=30,
                boxes=np.array([[1, 2, 10, 20], [5, 5, 30, 25], [0, 0, 40, 30]], np.float32),
                labels=np.array([1, 2, 3], np.int64), difficult=np.array([False, True, False]),
                iscrowd=np.array([False, False, True]))
    base.update(kw)
    return ImageRecord(**base)  # type: ignore[arg-type]


def _index(records: list[ImageRecord]) -> DatasetIndex:
    return DatasetIndex(name="t", source="t", class_names=("__background__", "a", "b", "c"), records=records)


def test_file_dataset_reads_rgb_and_drops_difficult_and_crowd(tmp_path: Path) -> None:
    bgr = np.zeros((30, 40, 3), np.uint8)
    bgr[..., 2] = 200  # red in OpenCV's BGR
    cv2.imwrite(str(tmp_path / "a.png"), bgr)
    ds = DetectionDataset(_index([_record(tmp_path / "a.png")]), transform=None)
    image, boxes, labels = ds[0]
    assert image.shape == (30, 40, 3) and image[0, 0].tolist() == [200, 0, 0]
    assert labels.tolist() == [1] and boxes.tolist() == [[1, 2, 10, 20]]
    keep_all = DetectionDataset(_index([_record(tmp_path / "a.png")]), transform=None, keep_difficult=True)
    assert keep_all[0][2].tolist() == [1, 2, 3]


def test_eval_transform_output(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.full((30, 40, 3), 100, np.uint8))
    ds = DetectionDataset(_index([_record(tmp_path / "a.png")]), build_transforms(CFG, train=False))
    x, boxes, labels = ds[0]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32
    np.testing.assert_allclose(x[:, 10, 10].numpy(), 100 - np.array(IMAGE_MEAN_255, np.float32), rtol=1e-5)
    np.testing.assert_allclose(boxes, [[1 / 40, 2 / 30, 10 / 40, 20 / 30]], rtol=1e-6)


def test_missing_and_unreadable_images_raise_naming_the_file(tmp_path: Path) -> None:
    ds = DetectionDataset(_index([_record(tmp_path / "gone.jpg")]), transform=None)
    with pytest.raises(ValueError, match=r"gone\.jpg: image file not found"):
        ds[0]
    (tmp_path / "junk.jpg").write_bytes(b"this is not a jpeg")
    ds = DetectionDataset(_index([_record(tmp_path / "junk.jpg")]), transform=None)
    with pytest.raises(ValueError, match=r"junk\.jpg: could not decode image"):
        ds[0]


def test_synthetic_dataset_rerenders_the_indexed_scene() -> None:
    ds = build_dataset("synthetic", None, "train", CFG, train=False, count=4, seed=3, size=(48, 40))
    image, boxes, labels = DetectionDataset(ds.index, transform=None)[2]
    ref, ref_boxes, ref_labels = render_scene(3, 2, (48, 40))
    np.testing.assert_array_equal(image, ref)
    np.testing.assert_array_equal(boxes, ref_boxes)
    np.testing.assert_array_equal(labels, ref_labels)
    assert ds.class_names == SHAPE_CLASSES


def test_collate_pads_with_zeros() -> None:
    x = torch.zeros(3, 8, 8)
    batch = collate([(x, np.array([[0.1, 0.1, 0.5, 0.5]], np.float32), np.array([2])),
                     (x, np.zeros((0, 4), np.float32), np.zeros(0, np.int64)),
                     (x, np.array([[0, 0, 1, 1], [0.2, 0.2, 0.3, 0.4], [0, 0, 0.5, 0.5]], np.float32),
                      np.array([1, 3, 4]))])
    assert isinstance(batch, Batch) and len(batch) == 3
    assert batch.images.shape == (3, 3, 8, 8) and batch.boxes.shape == (3, 3, 4) and batch.labels.shape == (3, 3)
    assert batch.labels.tolist() == [[2, 0, 0], [0, 0, 0], [1, 3, 4]]
    assert batch.boxes[0, 1:].abs().sum() == 0 and batch.boxes[1].abs().sum() == 0
    torch.testing.assert_close(batch.boxes[2, 1], torch.tensor([0.2, 0.2, 0.3, 0.4]))
    empty = collate([(x, np.zeros((0, 4), np.float32), np.zeros(0, np.int64))])
    assert empty.boxes.shape == (1, 1, 4) and empty.labels.tolist() == [[0]]


def test_loader_with_two_workers_is_reproducible() -> None:
    ds = build_dataset("synthetic", None, "train", CFG, train=True, count=8, seed=1, size=(64, 64))
    firsts = []
    for _ in range(2):
        loader = build_loader(ds, batch_size=4, shuffle=True, num_workers=2, seed=5)
        batches = list(loader)
        assert len(batches) == 2
        for b in batches:
            assert b.images.shape == (4, 3, 64, 64) and b.images.dtype == torch.float32
            assert b.boxes.shape[:2] == b.labels.shape and b.boxes.shape[1] >= 1
            real = b.labels > 0
            w = b.boxes[..., 2] - b.boxes[..., 0]
            h = b.boxes[..., 3] - b.boxes[..., 1]
            assert bool((w[real] > 0).all() and (h[real] > 0).all())
            assert bool(((b.boxes >= 0) & (b.boxes <= 1)).all())
        firsts.append(batches[0])
    torch.testing.assert_close(firsts[0].images, firsts[1].images)
    torch.testing.assert_close(firsts[0].boxes, firsts[1].boxes)


def test_build_dataset_from_voc_and_coco_files(tmp_path: Path) -> None:
    voc = write_dataset(tmp_path / "voc", count=3, seed=2, fmt="voc", size=(48, 48))
    coco = write_dataset(tmp_path / "coco", count=3, seed=2, fmt="coco", size=(48, 48))
    for kind, path, n in (("voc", voc, 2), ("coco", coco, 3)):  # VOC's trainval leaves the test image out
        ds = build_dataset(kind, path, "trainval", CFG, train=False)
        assert len(ds) == n and ds.class_names == SHAPE_CLASSES
        batch = next(iter(build_loader(ds, batch_size=3, shuffle=False, num_workers=0)))
        assert batch.images.shape == (n, 3, 64, 64)
        _, ref_boxes, ref_labels = render_scene(2, 0, (48, 48))
        n = len(ref_labels)
        assert batch.labels[0, :n].tolist() == ref_labels.tolist()
        torch.testing.assert_close(batch.boxes[0, :n], torch.from_numpy(ref_boxes / 48))


def test_build_dataset_bad_kind() -> None:
    with pytest.raises(ValueError, match="'kitti'"):
        build_dataset("kitti", None, "train", CFG, train=False)
    with pytest.raises(ValueError, match="VOC dataset needs a path"):
        build_dataset("voc", None, "train", CFG, train=False)


def test_loader_started_from_a_thread_uses_a_forkserver_and_gives_the_same_batches() -> None:
    # The GUI trains in a QThread next to Qt's and TensorBoard's threads: a forked worker could inherit a
    # held lock and hang (a Train view run did, on its first batch). From a thread, workers come from a
    # forkserver and must still deliver exactly the in-process batches.
    ds = build_dataset("synthetic", None, "train", CFG, train=False, count=6, seed=2, size=(48, 40))
    expected = list(build_loader(ds, batch_size=3, shuffle=False, num_workers=0))
    out: dict[str, object] = {}

    def load() -> None:
        loader = build_loader(ds, batch_size=3, shuffle=False, num_workers=1)
        out["method"] = loader.multiprocessing_context.get_start_method()
        out["batches"] = list(loader)

    worker = threading.Thread(target=load)
    worker.start()
    worker.join(timeout=240)
    assert not worker.is_alive(), "the loader started from a thread hung"
    assert out["method"] == "forkserver"
    assert worker_context(0) is None
    got = out["batches"]
    assert len(got) == len(expected) == 2
    for a, b in zip(got, expected):
        torch.testing.assert_close(a.images, b.images)
        torch.testing.assert_close(a.boxes, b.boxes)
        assert a.labels.tolist() == b.labels.tolist()
