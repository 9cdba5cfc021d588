"""Readers on hostile files: every bad field is a one-line message naming the file and the field."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.data.coco import load_coco
from core.data.index import build_index
from core.data.voc import load_voc

from test_voc import make_voc  # tests/data is on sys.path (no __init__.py: rootdir-relative modules)


def coco_file(tmp: Path, images: list[dict], anns: list[dict]) -> Path:
    path = tmp / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}]}))
    return path


IMAGES = [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
          {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48}]


@pytest.mark.parametrize("value", ["inf", "nan", "-3", "12.5", "wide"])
def test_voc_size_that_is_not_a_pixel_count(tmp_path: Path, value: str) -> None:
    root = make_voc(tmp_path / "VOC2007", {"000001": [("dog", 1, 1, 10, 10, 0)]})
    xml = root / "Annotations" / "000001.xml"
    xml.write_text(xml.read_text().replace("<width>40</width>", f"<width>{value}</width>"))
    with pytest.raises(ValueError) as info:
        load_voc(root)
    msg = str(info.value)
    assert str(xml) in msg and "<size><width>" in msg and repr(value) in msg and "\n" not in msg


def test_voc_split_file_that_is_not_utf8(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "VOC2007", {"000001": []})
    split = root / "ImageSets" / "Main" / "trainval.txt"
    split.write_bytes(b"000001\n\xff\xfe00002\n")
    with pytest.raises(ValueError, match=rf"{split}: the split file is not UTF-8 text \(byte 7"):
        load_voc(root)


@pytest.mark.parametrize("value", [None, "wide", 0, 12.5, True])
def test_coco_image_size_that_is_not_a_pixel_count(tmp_path: Path, value: object) -> None:
    images = [dict(IMAGES[0], width=value), IMAGES[1]]
    path = coco_file(tmp_path, images, [{"id": 5, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5]}])
    ds = load_coco(path, check_images=False)
    assert [r.image_id for r in ds.records] == [2]
    assert ds.warnings == [f"{path}: images[0] (id 1): width must be a positive whole number of pixels, "
                           f"got {value!r}; image dropped"]
    path = coco_file(tmp_path, images[:1], [])
    with pytest.raises(ValueError, match=r"instances\.json: no usable image .*images\[0\] \(id 1\): width must be"):
        load_coco(path, check_images=False)


@pytest.mark.parametrize("bbox", [None, "a", [1, 2, 3], [1, None, 5, 5], ["a", 1, 5, 5], [1, 2, float("nan"), 5]])
def test_coco_bbox_that_is_not_four_numbers_is_dropped_by_name(tmp_path: Path, bbox: object) -> None:
    path = coco_file(tmp_path, IMAGES, [{"id": 7, "image_id": 1, "category_id": 1, "bbox": bbox},
                                        {"id": 8, "image_id": 1, "category_id": 2, "bbox": [2, 2, 9, 9]}])
    ds = load_coco(path, check_images=False)
    assert ds.records[0].labels.tolist() == [2]
    assert len(ds.warnings) == 1
    w = ds.warnings[0]
    assert w.startswith(f"{path}: annotation 7 (image 1): ") and "bbox" in w and w.endswith("; dropped")


def test_coco_repeated_image_id_is_refused(tmp_path: Path) -> None:
    images = [IMAGES[0], dict(IMAGES[1], id=1)]
    path = coco_file(tmp_path, images, [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}])
    with pytest.raises(ValueError, match=r"instances\.json: images\[0\] and images\[1\] have the same id 1"):
        load_coco(path, check_images=False)
    path = coco_file(tmp_path, [dict(IMAGES[0], id="1")], [])
    with pytest.raises(ValueError, match=r"images\[0\]\.id must be an integer, got '1'"):
        load_coco(path, check_images=False)


def test_special_files_are_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "instances.json"
    os.mkfifo(fifo)  # opening it would block until a writer comes
    with pytest.raises(ValueError, match=rf"{fifo}: the COCO annotation file is a FIFO, not a regular file"):
        build_index("coco", fifo)
    with pytest.raises(ValueError, match="/dev/zero: the COCO annotation file is a device or special file"):
        load_coco("/dev/zero")
    big = tmp_path / "big.json"
    with big.open("wb") as fh:  # sparse: no disk used
        fh.truncate((1 << 30) + 1)
    with pytest.raises(ValueError, match=r"big\.json: the COCO annotation file is 1024 MiB, more than the 1024 MiB"):
        load_coco(big)
    root = make_voc(tmp_path / "VOC2007", {"000001": []})
    xml = root / "Annotations" / "000001.xml"
    xml.unlink()
    os.mkfifo(xml)
    with pytest.raises(ValueError, match=rf"{xml}: the annotation file is a FIFO"):
        load_voc(root)
