"""The YOLO (Ultralytics) reader on datasets written by hand the way Ultralytics documents them: folder and
list splits, names as a list or a mapping, normalised boxes turned into pixels (pinned by hand), EXIF
rotation, and every bad line named."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from core.data.index import DatasetSpec, build_index, describe_ground_truth, infer_kind
from core.data.loader import read_image_rgb
from core.data.yolo import label_path, load_yolo, yolo_lines, yolo_splits


def _image(path: Path, w: int, h: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 90, np.uint8))
    return path


def _labels(image: Path, text: str) -> None:
    lab = label_path(image)
    lab.parent.mkdir(parents=True, exist_ok=True)
    lab.write_text(text)


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    """Ultralytics' folder layout: images/{train,val}, labels/{train,val}, names as a list."""
    root = tmp_path / "ds"
    a = _image(root / "images" / "train" / "a.jpg", 64, 48)
    _labels(a, "0 0.5 0.5 0.25 0.5\n1 0.25 0.25 0.5 0.5\n")
    b = _image(root / "images" / "train" / "b.png", 100, 50)
    _labels(b, "1 0.1 0.2 0.2 0.4\n\n"  # a blank line is fine
               "2 0.5 0.5 0.1 0.1\n"  # class 2: there are two
               "0 0.5 0.5\n"  # three values
               "0 nan 0.5 0.1 0.1\n"
               "1 1.5 0.5 0.2 0.2\n"  # beyond the right border
               "0 0.5 0.5 0.1 0.1 0.3\n")
    _image(root / "images" / "val" / "c.jpg", 32, 32)  # no label file: an image without objects
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [cat, dog]\n")
    return root


def test_folder_splits_and_boxes_by_hand(folders: Path) -> None:
    train = load_yolo(folders, "train")
    assert train.class_names == ("__background__", "cat", "dog") and train.name == "ds train"
    a, b = train.records
    assert (a.image_id, a.width, a.height) == ("a", 64, 48)
    # cat: centre (32, 24), size 16 x 24; dog: centre (16, 12), size 32 x 24
    np.testing.assert_allclose(a.boxes, [[24, 12, 40, 36], [0, 0, 32, 24]])
    assert a.labels.tolist() == [1, 2]
    # b: the dog at centre (10, 10), size 20 x 20; every other line is dropped, each named by file and line
    np.testing.assert_allclose(b.boxes, [[0, 0, 20, 20]])
    assert b.labels.tolist() == [2]
    lab = label_path(b.file)
    shown = "\n".join(train.warnings)
    for line, why in ((3, "class 2 is not one of 0..1"), (4, "3 values, expected 5"), (5, "not finite"),
                      (6, "lies outside"), (7, "6 values, expected 5")):
        assert f"{lab}:{line}: " in shown and why in shown, (line, shown)
    assert len(train.warnings) == 5
    val = load_yolo(folders)  # no split named: val (no test)
    assert [r.image_id for r in val.records] == ["c"] and len(val.records[0].labels) == 0
    assert infer_kind(folders) == "yolo" and infer_kind(folders / "data.yaml") == "yolo"
    spec = DatasetSpec("auto", str(folders))
    assert describe_ground_truth(spec, spec.index()) == (
        "split 'val' of ds (the default: test, else val, else train): 1 of its 3 image(s)")
    assert len(build_index("yolo", folders / "data.yaml", "train")) == 2


def test_list_splits_names_mapping_and_root_path(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for name in ("x", "y"):
        _labels(_image(root / "images" / f"{name}.jpg", 40, 20), "0 0.5 0.5 0.5 0.5\n")
    (root / "lists").mkdir()
    (root / "lists" / "train.txt").write_text("./../images/x.jpg\n")  # "./": relative to the list's folder
    (root / "test.txt").write_text("images/y.jpg\n")  # otherwise relative to the root
    yaml = tmp_path / "elsewhere" / "my.yaml"
    yaml.parent.mkdir()
    yaml.write_text("path: ../data\ntrain: lists/train.txt\ntest: test.txt\nminival: test.txt\nflip_idx: [0]\n"
                    "names:\n  0: person\n")
    assert yolo_splits(yaml) == ("test", "train", "minival")  # a pose dataset's flip_idx is no split
    assert [r.image_id for r in load_yolo(yaml, "train").records] == ["x"]
    test = load_yolo(yaml)  # test comes first
    assert [r.image_id for r in test.records] == ["y"] and test.class_names == ("__background__", "person")
    np.testing.assert_allclose(test.records[0].boxes, [[10, 5, 30, 15]])


def test_exif_rotation_gives_the_size_the_loader_decodes(tmp_path: Path) -> None:
    root = tmp_path / "rot"
    path = root / "images" / "r.jpg"
    path.parent.mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 60 x 30, displayed rotated by 90 degrees: 30 x 60
    Image.fromarray(np.full((30, 60, 3), 200, np.uint8)).save(path, exif=exif)
    _labels(path, "0 0.5 0.5 0.5 0.5\n")
    (root / "data.yaml").write_text("train: images\nnames: [thing]\n")
    [rec] = load_yolo(root, "train").records
    assert (rec.width, rec.height) == (30, 60)
    assert read_image_rgb(rec).shape[:2] == (rec.height, rec.width)
    np.testing.assert_allclose(rec.boxes, [[7.5, 15, 22.5, 45]])


def test_bad_data_files_are_named(tmp_path: Path, folders: Path) -> None:
    with pytest.raises(ValueError, match="no data.yaml"):
        load_yolo(tmp_path)
    bad = tmp_path / "bad.yaml"
    for text, why in (("- a\n- b\n", "expected a mapping"), ("train: images\n", "no 'names'"),
                      ("names: {0: a, 2: b}\ntrain: x\n", "must map 0..1"), ("names: [a\n", "malformed YAML"),
                      ("names: [a]\ntrain: nowhere\n", "neither a folder of images nor a .txt list")):
        bad.write_text(text)
        with pytest.raises(ValueError, match=why) as info:
            load_yolo(bad, "train")
        assert str(bad) in str(info.value)
    with pytest.raises(ValueError, match="no split 'test'"):
        load_yolo(folders, "test")
    (folders / "images" / "val" / "c.jpg").unlink()
    with pytest.raises(ValueError, match="lists no image"):
        load_yolo(folders, "val")


def test_written_lines_read_back_to_the_same_boxes(tmp_path: Path) -> None:
    root = tmp_path / "w"
    img = _image(root / "images" / "f.jpg", 300, 200)
    boxes = np.array([[10.25, 20.5, 110.75, 180.0], [0.0, 0.0, 300.0, 200.0]])
    lines = yolo_lines(boxes, np.array([2, 1]), 300, 200)
    assert lines.splitlines()[0] == "1 0.201667 0.501250 0.335000 0.797500"  # (10.25+110.75)/2/300, ...
    _labels(img, lines)
    (root / "data.yaml").write_text("train: images\nnames: [a, b]\n")
    [rec] = load_yolo(root, "train").records
    np.testing.assert_allclose(rec.boxes, boxes, atol=1e-3)  # six decimals of 300 px: within 3e-4 px
    assert rec.labels.tolist() == [2, 1]
