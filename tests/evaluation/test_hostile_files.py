"""`ssd eval` on hostile and careless inputs (issue 10, items 5, 9, 10, 12, 13): real files, the
real command line, real subprocesses for the inputs that used to hang or eat memory."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.cli import main
from core.data.synthetic import write_dataset
from core.data.voc import load_voc
from core.inference import detections_json, detections_json_entry
from core.types import DatasetIndex, Detections

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def voc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("hostile") / "shapes", 8, seed=5, fmt="voc", size=(80, 64))


def eval_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["eval", *args, "--quiet", "--no-plots"])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def truth_as_results(voc: Path, jitter: float = 1.0) -> list[dict]:
    """Every trainval object once, slightly moved, with a random score (a COCO results list)."""
    gt = load_voc(voc, "trainval")
    rng = np.random.default_rng(1)
    out = []
    for r in gt.records:
        for box, label in zip(r.boxes, r.labels):
            x1, y1, x2, y2 = (float(v) for v in box + rng.normal(0, jitter, 4))
            out.append({"image_id": r.image_id, "category_id": int(label), "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "score": round(float(rng.uniform(0.05, 0.95)), 4)})
    return out


# ------------------------------------------------------------------ item 5: unique file names

def test_class_names_that_sanitise_alike_get_their_own_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["a/b", "a b", "A_B", "c"]
    root = tmp_path / "VOC"
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True)
    (root / "labels.txt").write_text("".join(f"{n}\n" for n in names))
    results = []
    for i in range(4):  # image i holds one object of class i, detected once
        (root / "Annotations" / f"{i}.xml").write_text(
            f"<annotation><filename>{i}.jpg</filename><size><width>50</width><height>40</height></size>"
            f"<object><name>{names[i]}</name><difficult>0</difficult><bndbox><xmin>{3 + i}</xmin><ymin>4</ymin>"
            f"<xmax>30</xmax><ymax>30</ymax></bndbox></object></annotation>")
        for k in range(i + 1):  # class i gets i + 1 detections: each file is told apart by its rows
            results.append({"image_id": str(i), "category_id": i + 1, "bbox": [2.0 + i, 3.0, 27.0, 27.0],
                            "score": 0.9 - 0.1 * k})
    (root / "ImageSets" / "Main" / "test.txt").write_text("0\n1\n2\n3\n")
    (tmp_path / "r.json").write_text(json.dumps(results))
    out = tmp_path / "out"
    assert main(["eval", "--gt", str(root), "--dets", str(tmp_path / "r.json"), "--metric", "voc12",
                 "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    files = metrics["pr_files"]
    assert files == {"a/b": "pr_a_b", "a b": "pr_a_b_2", "A_B": "pr_A_B_3", "c": "pr_c"}
    for i, name in enumerate(names):
        with (out / f"{files[name]}.csv").open() as fh:
            assert len(list(csv.DictReader(fh))) == i + 1, name
        assert cv2.imread(str(out / f"{files[name]}.png")) is not None
    assert len(list(out.glob("pr_*.csv"))) == 4 and len(list(out.glob("pr_*.png"))) == 4


# ------------------------------------------------------- item 9: COCO scores the validated GT

def coco_gt(images: int = 6) -> tuple[dict, list[dict]]:
    rng = np.random.default_rng(3)
    data = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}]}
    results = []
    for i in range(1, images + 1):
        data["images"].append({"id": i, "file_name": f"{i}.jpg", "width": 120, "height": 100})
        for _ in range(3):
            w, h = rng.uniform(15, 50, 2)
            x, y = rng.uniform(0, 120 - w), rng.uniform(0, 100 - h)
            cat = int(rng.integers(1, 3))
            data["annotations"].append({"id": len(data["annotations"]) + 1, "image_id": i, "category_id": cat,
                                        "bbox": [x, y, w, h], "area": w * h * 0.8, "iscrowd": 0})
            if rng.random() < 0.7:
                results.append({"image_id": i, "category_id": cat, "bbox": [x + 1, y, w, h - 1],
                                "score": float(rng.random())})
    return data, results


def test_coco_scores_the_ground_truth_the_reader_validated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, results = coco_gt()
    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps(data))
    dirty_data = json.loads(json.dumps(data))
    # what the reader drops, each with a warning: a NaN, a negative width, a three-number bbox
    bad = [[float("nan"), 5, 10, 10], [5, 5, -10, 10], [5, 5, 10]]
    for k, bbox in enumerate(bad):
        dirty_data["annotations"].append({"id": 100 + k, "image_id": 1 + k, "category_id": 1, "bbox": bbox,
                                          "area": 100.0, "iscrowd": 0})
    dirty = tmp_path / "dirty.json"
    dirty.write_text(json.dumps(dirty_data))  # allow_nan: Python writes NaN, as the red team did
    (tmp_path / "r.json").write_text(json.dumps(results))
    metrics = {}
    for name, gt in (("clean", clean), ("dirty", dirty)):
        rc, out, err = eval_cli(capsys, "--gt", str(gt), "--dets", str(tmp_path / "r.json"), "--metric", "coco",
                                "--out", str(tmp_path / name))
        assert rc == 0, err
        metrics[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    assert metrics["dirty"]["coco"] == metrics["clean"]["coco"]
    assert metrics["dirty"]["per_class"] == metrics["clean"]["per_class"]
    assert sum("dropped" in w for w in metrics["dirty"]["warnings"]) == 3


def test_ground_truth_without_objects_has_nothing_to_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, results = coco_gt(2)
    data["annotations"] = []
    (tmp_path / "gt.json").write_text(json.dumps(data))
    (tmp_path / "r.json").write_text(json.dumps(results))
    for metric in ("coco", "voc07"):
        rc, out, err = eval_cli(capsys, "--gt", str(tmp_path / "gt.json"), "--dets", str(tmp_path / "r.json"),
                                "--metric", metric, "--out", str(tmp_path / "o"))
        assert rc == 2 and "nothing to evaluate" in err and "gt.json" in err and "-1.0000" not in out
        assert len(err.strip().splitlines()) == 1


# ------------------------------------------------ item 10: repeats count, scores out of range warn

def test_an_image_listed_twice_keeps_every_entry_in_every_format(voc: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    gt = load_voc(voc, "trainval")
    results = truth_as_results(voc)
    first = gt.records[0]
    mine = [e for e in results if e["image_id"] == first.image_id]
    assert mine
    # ssd detect JSON: the first image listed twice with the same detections
    def entry(rows: list[dict]) -> dict:
        d = Detections(np.array([[x, y, x + w, y + h] for x, y, w, h in (e["bbox"] for e in rows)]),
                       np.array([e["score"] for e in rows]), np.array([e["category_id"] for e in rows]))
        return detections_json_entry(d, gt.class_names, str(first.file), first.width, first.height)
    by_image = [[e for e in results if e["image_id"] == r.image_id] for r in gt.records]
    entries = [entry(rows) if rows else None for rows in by_image]
    for rec, rows, e in zip(gt.records, by_image, entries):
        if e is not None:
            e["file"] = str(rec.file)
    detect = [e for e in entries if e is not None] + [entries[0]]
    (tmp_path / "detect.json").write_text(json.dumps(detections_json("w.pt", gt.class_names, detect)))
    # the same repeat as COCO results
    (tmp_path / "coco.json").write_text(json.dumps(results + mine))
    out = {}
    for name in ("detect", "coco"):
        rc, _, err = eval_cli(capsys, "--gt", str(voc), "--split", "trainval", "--dets",
                              str(tmp_path / f"{name}.json"), "--metric", "voc12", "--out", str(tmp_path / name))
        assert rc == 0, err
        out[name] = json.loads((tmp_path / name / "metrics.json").read_text())
        assert any("repeat another exactly" in w for w in out[name]["warnings"]), name
    assert any("listed more than once" in w and repr(first.image_id) in w for w in out["detect"]["warnings"])
    assert out["detect"]["per_class"] == out["coco"]["per_class"]
    assert sum(v["num_det"] for v in out["detect"]["per_class"].values()) == len(results) + len(mine)


def test_scores_outside_zero_one_are_kept_with_a_warning(voc: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    results = truth_as_results(voc)
    results[0]["score"], results[1]["score"] = 7.5, -0.25
    (tmp_path / "r.json").write_text(json.dumps(results))
    rc, _, err = eval_cli(capsys, "--gt", str(voc), "--split", "trainval", "--dets", str(tmp_path / "r.json"),
                          "--metric", "voc07", "--out", str(tmp_path / "o"))
    assert rc == 0
    assert "2 score(s) outside [0, 1] (from -0.25 to 7.5)" in err


# ----------------------------------------- items 12 and 13: one line naming the file and the field

@pytest.mark.parametrize("images, field", [
    (["000000.jpg"], r"images[0] must be an object"),
    ([{"file": "000000.jpg", "detections": [{"box": [1, 2, 3, 4], "score": "high", "label": 1}]}],
     "images[0].detections[0]: score must be a number, got 'high'"),
    ([{"file": "000000.jpg", "detections": [{"box": [1, "a", 3, 4], "score": 0.5, "label": 1}]}],
     "images[0].detections[0].box must be four numbers"),
    ([{"file": "000000.jpg", "detections": [{"box": [1, 2, 3, 4], "score": 0.5, "label": "dog"}]}],
     "images[0].detections[0].label must be a whole number, got 'dog'"),
    ([{"file": None, "detections": []}], "images[0].file must be the image's file name"),
])
def test_malformed_detect_json(voc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], images: list,
                               field: str) -> None:
    path = tmp_path / "dets.json"
    path.write_text(json.dumps({"weights": "w.pt", "class_names": ["__background__", "circle"], "images": images}))
    rc, _, err = eval_cli(capsys, "--gt", str(voc), "--dets", str(path), "--metric", "voc07", "--out", str(tmp_path / "o"))
    assert rc == 2 and f"{path}: {field}" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("entry, field", [
    ({"image_id": "000000", "category_id": 1, "bbox": [1, 2, 3, 4], "score": "high"}, "entry 0: score must be a number"),
    ({"image_id": "000000", "category_id": 1, "bbox": "a", "score": 0.5}, "entry 0: bbox must be four numbers"),
    ({"image_id": "000000", "category_id": 1, "bbox": [1, 2, None, 4], "score": 0.5}, "entry 0: bbox must be four"),
    ({"image_id": ["x"], "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}, "entry 0: image_id must be"),
])
def test_malformed_coco_results(voc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: dict,
                                field: str) -> None:
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([entry]))
    rc, _, err = eval_cli(capsys, "--gt", str(voc), "--dets", str(path), "--metric", "voc07", "--out", str(tmp_path / "o"))
    assert rc == 2 and f"{path}: {field}" in err and len(err.strip().splitlines()) == 1


def run_ssd(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=env)


def test_dets_that_would_hang_or_fill_memory_are_refused(voc: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "dets.json"
    os.mkfifo(fifo)
    cases = {str(fifo): "the detections file is a FIFO, not a regular file",
             "/dev/zero": "the detections file is a device or special file, not a regular file"}
    for dets, message in cases.items():
        res = run_ssd("eval", "--gt", str(voc), "--dets", dets, "--metric", "voc07", "--out", str(tmp_path / "o"))
        assert res.returncode == 2, res.stderr
        assert res.stderr.strip() == f"ssd eval: error: {dets}: {message}"


def test_metrics_json_is_replaced_whole_or_not_at_all(voc: Path, full_disk, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
                                                      ) -> None:
    results = truth_as_results(voc)
    dets = voc.parent / "r.json"
    dets.write_text(json.dumps(results))
    out = Path(full_disk.folder) / "eval"
    rc, _, err = eval_cli(capsys, "--gt", str(voc), "--split", "trainval", "--dets", str(dets), "--metric", "voc12",
                          "--out", str(out))
    assert rc == 0, err
    before = (out / "metrics.json").read_bytes()
    full_disk.fill()
    rc, _, err = eval_cli(capsys, "--gt", str(voc), "--split", "trainval", "--dets", str(dets), "--metric", "voc07",
                          "--out", str(out))
    assert rc == 2 and "no space left on device" in err
    assert (out / "metrics.json").read_bytes() == before  # the earlier result, whole
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_writers_create_missing_folders_and_never_write_nan(voc: Path, tmp_path: Path) -> None:
    from core.evaluation import evaluate
    from core.evaluation.io import write_evaluation

    full = load_voc(voc, "trainval")
    rec = min((r for r in full.records if len(r.labels)), key=lambda r: len(set(r.labels.tolist())))
    gt = DatasetIndex("one image", full.source, full.class_names, [rec])
    absent = [l for l in range(1, len(gt.class_names)) if l not in rec.labels]
    res = evaluate(gt, {rec.image_id: Detections(rec.boxes.astype(np.float64), np.full(len(rec.labels), 0.9),
                                                 rec.labels)})
    metrics = res.metrics_dict("voc12")
    out = tmp_path / "not" / "there" / "yet"
    paths = write_evaluation(out, metrics, res)
    assert paths[-1] == out / "metrics.json" and all(p.is_file() for p in paths)
    text = (out / "metrics.json").read_text()
    assert "NaN" not in text and json.loads(text)["per_class"][gt.class_names[absent[0]]]["ap"] is None
    with (out / f"pr_{gt.class_names[int(rec.labels[0])]}.csv").open() as fh:
        assert all(row["recall"] != "" for row in csv.DictReader(fh))
