"""build_index and the VOC split helpers on real dataset folders written by write_dataset."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.data.index import DatasetSpec, build_index, infer_kind
from core.data.synthetic import SHAPE_CLASSES, render_scene, write_dataset
from core.data.voc import default_voc_split, voc_splits


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("index")
    return {"voc_a": write_dataset(base / "a", count=4, seed=1, fmt="voc", size=(48, 40)),
            "voc_b": write_dataset(base / "b", count=3, seed=2, fmt="voc", size=(48, 40)),
            "coco": write_dataset(base / "c", count=3, seed=3, fmt="coco", size=(48, 40))}


def test_each_kind(datasets: dict[str, Path]) -> None:
    voc = build_index("voc", datasets["voc_a"], "trainval")
    assert [r.image_id for r in voc.records] == ["000000", "000001", "000003"]  # 000002 is the test image
    np.testing.assert_array_equal(voc.records[2].boxes, render_scene(1, 3, (48, 40))[1])
    coco = build_index("coco", datasets["coco"])
    assert len(coco) == 3 and coco.class_names == SHAPE_CLASSES and coco.category_ids is not None
    synth = build_index("synthetic", count=5, seed=9, size=(64, 32))
    assert len(synth) == 5 and (synth.records[0].width, synth.records[0].height) == (64, 32)
    square = build_index("synthetic", count=2, seed=9, size=40)
    assert (square.records[1].width, square.records[1].height) == (40, 40)
    np.testing.assert_array_equal(square.records[1].boxes, render_scene(9, 1, (40, 40))[1])


def test_comma_separated_voc_roots_are_joined_in_order(datasets: dict[str, Path]) -> None:
    joined = build_index("voc", f"{datasets['voc_a']},{datasets['voc_b']}", "trainval")
    assert len(joined) == 5  # each root's trainval: 3 of a's 4 images, 2 of b's 3
    assert [str(r.file.parent.parent) for r in joined.records] == [str(datasets["voc_a"])] * 3 + [str(datasets["voc_b"])] * 2
    as_list = build_index("voc", [datasets["voc_a"], datasets["voc_b"]], "trainval")
    assert [r.file for r in as_list.records] == [r.file for r in joined.records]


def test_auto_kind_and_spec(datasets: dict[str, Path]) -> None:
    assert infer_kind(datasets["voc_a"]) == "voc" and infer_kind(datasets["coco"]) == "coco"
    assert infer_kind(f"{datasets['voc_a']},{datasets['voc_b']}") == "voc"
    spec = DatasetSpec("auto", str(datasets["voc_a"]))
    assert spec.index().name.endswith(" test")  # no split named: the default one
    assert DatasetSpec("synthetic", count=3, seed=4, size=32).describe() == "synthetic seed=4 n=3 32x32"
    with pytest.raises(FileNotFoundError, match="not found"):
        infer_kind(datasets["voc_a"] / "nothing.json")
    with pytest.raises(ValueError, match="COCO annotation .json file, a YOLO data.yaml or dataset folder, or a VOC"):
        infer_kind(datasets["voc_a"] / "labels.txt")


def test_bad_arguments(datasets: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="unknown dataset kind 'kitti'"):
        build_index("kitti", datasets["voc_a"])
    with pytest.raises(ValueError, match="VOC dataset needs a path"):
        build_index("voc", None)
    with pytest.raises(ValueError, match="COCO dataset needs a path"):
        build_index("coco", "")
    with pytest.raises(ValueError, match="need a count and a seed"):
        build_index("synthetic", count=3)


def test_voc_splits_and_default(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "ds", count=3, seed=0, fmt="voc", size=(32, 32))
    main = root / "ImageSets" / "Main"
    assert voc_splits(root) == ("test", "val", "trainval", "train") and default_voc_split(root) == "test"
    (main / "test.txt").unlink()  # as a dataset without a test split
    # per-class lists as the devkit ships them are not splits
    (main / "circle_trainval.txt").write_text("000000  1\n")
    (main / "circle_val.txt").write_text("000002 -1\n")
    assert voc_splits(root) == ("val", "trainval", "train")
    assert default_voc_split(root) == "val"
    (main / "test.txt").write_text("000001\n")
    (main / "minival.txt").write_text("000001\n")
    assert voc_splits(root) == ("test", "val", "trainval", "minival", "train")
    assert default_voc_split(root) == "test"
    for name in ("test", "val", "trainval", "circle_trainval", "circle_val"):
        (main / f"{name}.txt").unlink()
    with pytest.raises(ValueError, match="none of test, val, trainval among the image sets minival, train"):
        default_voc_split(root)
    (main / "minival.txt").unlink()
    assert default_voc_split(root) == "train"  # the only one there is


def test_splits_of_several_roots_are_the_shared_ones(tmp_path: Path) -> None:
    a = write_dataset(tmp_path / "a", count=2, seed=0, fmt="voc", size=(32, 32))
    b = write_dataset(tmp_path / "b", count=2, seed=1, fmt="voc", size=(32, 32))
    (b / "ImageSets" / "Main" / "test.txt").unlink()  # only a has a test split
    assert voc_splits(f"{a},{b}") == ("val", "trainval", "train")
    assert default_voc_split([a, b]) == "val"
    with pytest.raises(ValueError, match=r"test\.txt: split file not found \(image sets there: train, trainval, val\)"):
        build_index("voc", f"{a},{b}", "test")
