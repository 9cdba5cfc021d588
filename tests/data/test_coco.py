"""load_coco on small COCO files written into tmp_path: label mapping, flags, every bad input."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.data.coco import load_coco


def make_coco(tmp: Path, anns: list[dict], images: list[dict] | None = None, write_images: bool = True) -> Path:
    (tmp / "images").mkdir(parents=True, exist_ok=True)
    images = images if images is not None else [
        {"id": 42, "file_name": "a.jpg", "width": 50, "height": 40},
        {"id": 7, "file_name": "b.jpg", "width": 50, "height": 40}]
    if write_images:
        for im in images:
            cv2.imwrite(str(tmp / "images" / im["file_name"]), np.zeros((im["height"], im["width"], 3), np.uint8))
    data = {"images": images, "annotations": anns,
            "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}, {"id": 3, "name": "car"}]}
    path = tmp / "annotations.json"
    path.write_text(json.dumps(data))
    return path


def test_labels_contiguous_boxes_and_crowd(tmp_path: Path) -> None:
    path = make_coco(tmp_path, [
        {"id": 1, "image_id": 42, "category_id": 18, "bbox": [1.5, 2, 10, 20], "iscrowd": 0},
        {"id": 2, "image_id": 42, "category_id": 1, "bbox": [0, 0, 50, 40], "iscrowd": 1},
    ])
    ds = load_coco(path)
    assert ds.class_names == ("__background__", "person", "car", "dog")
    assert ds.category_ids == (0, 1, 3, 18)
    assert [r.image_id for r in ds.records] == [42, 7] and ds.warnings == []
    r = ds.records[0]
    assert r.file == tmp_path / "images" / "a.jpg" and (r.width, r.height) == (50, 40)
    np.testing.assert_allclose(r.boxes, [[1.5, 2, 11.5, 22], [0, 0, 50, 40]])
    assert r.labels.tolist() == [3, 1] and r.iscrowd.tolist() == [False, True]
    assert r.difficult.tolist() == [False, False]
    assert ds.records[1].boxes.shape == (0, 4)


def test_malformed_json_names_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"images": [\n  {"id": 1,, }\n]}')
    with pytest.raises(ValueError, match=r"bad\.json: malformed JSON at line 2, column 12"):
        load_coco(path)


def test_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"images": [], "categories": []}))
    with pytest.raises(ValueError, match=r"x\.json: missing key\(s\) \['annotations'\]"):
        load_coco(path)
    path.write_text(json.dumps({"images": [{"id": 1, "width": 3}], "annotations": [], "categories": []}))
    with pytest.raises(ValueError, match=r"x\.json: images\[0\] lacks 'height'"):
        load_coco(path)


def test_bad_annotations_dropped_with_warnings(tmp_path: Path) -> None:
    path = make_coco(tmp_path, [
        {"id": 1, "image_id": 42, "category_id": 18, "bbox": [1, 2, 0, 20]},     # w = 0
        {"id": 2, "image_id": 42, "category_id": 18, "bbox": [1, 2, 5, -3]},     # h < 0
        {"id": 3, "image_id": 42, "category_id": 99, "bbox": [1, 2, 5, 5]},      # unknown category
        {"id": 4, "image_id": 999, "category_id": 18, "bbox": [1, 2, 5, 5]},     # unknown image
        {"id": 5, "image_id": 42, "category_id": 18, "bbox": [60, 2, 5, 5]},     # outside
        {"id": 6, "image_id": 42, "category_id": 18, "bbox": [45, 2, 5.4, 5]},   # 0.4 px over: silent clip
        {"id": 7, "image_id": 42, "category_id": 1, "bbox": [1, 2, 5, 5]},
    ])
    ds = load_coco(path)
    np.testing.assert_allclose(ds.records[0].boxes, [[45, 2, 50, 7], [1, 2, 6, 7]])
    assert len(ds.warnings) == 5 and all("annotations.json" in w for w in ds.warnings)
    assert sum("non-positive" in w for w in ds.warnings) == 2


def test_missing_image_file_dropped_and_all_dropped_error(tmp_path: Path) -> None:
    path = make_coco(tmp_path, [])
    (tmp_path / "images" / "b.jpg").unlink()
    ds = load_coco(path)
    assert [r.image_id for r in ds.records] == [42] and "b.jpg" in ds.warnings[0]
    assert len(load_coco(path, check_images=False)) == 2
    (tmp_path / "images" / "a.jpg").unlink()
    with pytest.raises(ValueError, match="no usable image"):
        load_coco(path)


def test_image_dir_default_is_json_folder_without_images_dir(tmp_path: Path) -> None:
    path = make_coco(tmp_path, [], write_images=False)
    (tmp_path / "images").rmdir()
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((40, 50, 3), np.uint8))
    ds = load_coco(path)
    assert [r.file for r in ds.records] == [tmp_path / "a.jpg"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        load_coco(tmp_path / "none.json")
