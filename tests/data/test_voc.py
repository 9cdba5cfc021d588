"""load_voc on small VOC trees written into tmp_path: conversion, flags, every bad input."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.data.voc import VOC_CLASSES, load_voc


def _xml(filename: str, w: int, h: int, objects: list[tuple[str, int, int, int, int, int]]) -> str:
    objs = "".join(
        f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
        f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        for n, x1, y1, x2, y2, d in objects)
    return (f"<annotation><filename>{filename}</filename><size><width>{w}</width><height>{h}</height>"
            f"<depth>3</depth></size>{objs}</annotation>")


def make_voc(root: Path, items: dict[str, list[tuple[str, int, int, int, int, int]]], split: str = "trainval",
             size: tuple[int, int] = (40, 30), images: bool = True) -> Path:
    """Write a VOC20xx folder with one tiny JPEG and one XML per id."""
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    w, h = size
    for image_id, objects in items.items():
        (root / "Annotations" / f"{image_id}.xml").write_text(_xml(f"{image_id}.jpg", w, h, objects))
        if images:
            cv2.imwrite(str(root / "JPEGImages" / f"{image_id}.jpg"), np.full((h, w, 3), 128, np.uint8))
    (root / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in items))
    return root


def test_voc_classes_has_background_and_twenty() -> None:
    assert len(VOC_CLASSES) == 21 and VOC_CLASSES[0] == "__background__" and VOC_CLASSES[-1] == "tvmonitor"


def test_boxes_converted_and_difficult_kept(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "VOC2007", {"000005": [("dog", 1, 2, 10, 20, 0), ("person", 5, 5, 40, 30, 1)],
                                           "000007": []})
    ds = load_voc(root, "trainval")
    assert len(ds) == 2 and ds.class_names == VOC_CLASSES and ds.warnings == []
    r = ds.records[0]
    assert r.image_id == "000005" and (r.width, r.height) == (40, 30)
    np.testing.assert_array_equal(r.boxes, np.array([[0, 1, 10, 20], [4, 4, 40, 30]], np.float32))
    assert r.labels.tolist() == [VOC_CLASSES.index("dog"), VOC_CLASSES.index("person")]
    assert r.difficult.tolist() == [False, True] and r.iscrowd.tolist() == [False, False]
    assert r.file == root / "JPEGImages" / "000005.jpg"
    assert len(ds.records[1].boxes) == 0 and ds.records[1].boxes.shape == (0, 4)


def test_devkit_joins_several_years(tmp_path: Path) -> None:
    make_voc(tmp_path / "VOCdevkit" / "VOC2007", {"a": [("cat", 1, 1, 5, 5, 0)]})
    make_voc(tmp_path / "VOCdevkit" / "VOC2012", {"b": [("cow", 1, 1, 5, 5, 0)], "c": []})
    ds = load_voc(tmp_path / "VOCdevkit")
    assert [r.image_id for r in ds.records] == ["a", "b", "c"]
    ds2 = load_voc([tmp_path / "VOCdevkit" / "VOC2007", tmp_path / "VOCdevkit" / "VOC2012"])
    assert [r.image_id for r in ds2.records] == ["a", "b", "c"]
    assert "VOC2007" in ds.name and "VOC2012" in ds.name


def test_malformed_xml_names_file_and_line(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "VOC2007", {"000005": [("dog", 1, 2, 10, 20, 0)]})
    (root / "Annotations" / "000005.xml").write_text("<annotation>\n<size>\n<width>4</height>\n</annotation>")
    with pytest.raises(ValueError, match=r"VOC2007/Annotations/000005\.xml: not well-formed XML \(line 3"):
        load_voc(root)


def test_missing_image_drops_record_with_warning(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "VOC2007", {"a": [("dog", 1, 2, 10, 20, 0)], "b": []})
    (root / "JPEGImages" / "b.jpg").unlink()
    ds = load_voc(root)
    assert [r.image_id for r in ds.records] == ["a"]
    assert len(ds.warnings) == 1 and "b.xml" in ds.warnings[0] and "not found" in ds.warnings[0]
    # Evaluation against annotations alone keeps it.
    assert len(load_voc(root, check_images=False)) == 2


def test_bad_boxes_dropped_with_warnings(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "VOC2007", {"a": [
        ("dog", 10, 5, 10, 20, 0),      # x2 <= x1 after conversion? xmin-1=9 < 10: valid 1-px wide
        ("dog", 12, 5, 10, 20, 0),      # x2 < x1: degenerate
        ("dog", 5, 20, 10, 19, 0),      # y2 < y1
        ("dog", 50, 5, 60, 20, 0),      # entirely right of the 40-px image
        ("dog", 30, 5, 45, 20, 0),      # overshoots by 5 px: clipped
        ("cat", 1, 1, 4, 4, 0),
    ]})
    ds = load_voc(root)
    r = ds.records[0]
    np.testing.assert_array_equal(r.boxes, np.array([[9, 4, 10, 20], [29, 4, 40, 20], [0, 0, 4, 4]], np.float32))
    assert len(ds.warnings) == 4
    assert all("a.xml" in w for w in ds.warnings)
    assert sum(w.endswith("; dropped") for w in ds.warnings) == 3 and sum(w.endswith("; clipped") for w in ds.warnings) == 1


def test_unknown_class_dropped_with_warning(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "VOC2007", {"a": [("unicorn", 1, 1, 5, 5, 0), ("dog", 1, 1, 5, 5, 0)]})
    ds = load_voc(root)
    assert ds.records[0].labels.tolist() == [VOC_CLASSES.index("dog")]
    assert len(ds.warnings) == 1 and "unicorn" in ds.warnings[0] and "a.xml" in ds.warnings[0]


def test_missing_and_empty_split_file_are_errors(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "VOC2007", {"a": []})
    with pytest.raises(ValueError, match=r"ImageSets/Main/test\.txt: split file not found"):
        load_voc(root, "test")
    (root / "ImageSets" / "Main" / "trainval.txt").write_text("\n\n")
    with pytest.raises(ValueError, match=r"trainval\.txt: split file is empty"):
        load_voc(root)


def test_all_records_dropped_is_an_error(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "VOC2007", {"a": [], "b": []}, images=False)
    with pytest.raises(ValueError, match="no usable image"):
        load_voc(root)


def test_not_a_voc_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no ImageSets/Main"):
        load_voc(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        load_voc(tmp_path / "nope")


def test_labels_txt_gives_class_names(tmp_path: Path) -> None:
    root = make_voc(tmp_path / "VOC2007", {"a": [("blob", 1, 1, 5, 5, 0)]})
    (root / "labels.txt").write_text("blob\nring\n")
    ds = load_voc(root)
    assert ds.class_names == ("__background__", "blob", "ring") and ds.records[0].labels.tolist() == [1]
