"""Detection files (COCO results JSON, devkit comp4 files), outputs, `ssd eval`, and bad input."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.cli import main
from core.data.synthetic import write_dataset
from core.data.voc import load_voc
from core.evaluation import evaluate
from core.evaluation.io import read_detections
from core.types import DatasetIndex, Detections
from .helpers import devkit_ap


@pytest.fixture(scope="module")
def voc_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_dataset(tmp_path_factory.mktemp("voc") / "shapes", 10, seed=3, fmt="voc", size=(96, 96))
    # make one object difficult, as real VOC test sets have them
    xml = sorted((root / "Annotations").glob("*.xml"))[0]
    xml.write_text(xml.read_text().replace("<difficult>0</difficult>", "<difficult>1</difficult>", 1))
    return root


def noisy_detections(gt: DatasetIndex, seed: int) -> dict[str, Detections]:
    """Detections near the objects (and some clutter); coordinates on a 0.25 grid so that the
    1-based text round trip of the comp4 files is exact."""
    rng = np.random.default_rng(seed)
    out = {}
    for rec in gt.records:
        boxes, labels = [], []
        for b, lab in zip(rec.boxes.astype(np.float64), rec.labels):
            for _ in range(int(rng.integers(0, 3))):
                boxes.append(b + np.round(rng.normal(0, 2, 4) * 4) / 4)
                labels.append(int(lab) if rng.random() < 0.85 else int(rng.integers(1, len(gt.class_names))))
        for _ in range(int(rng.integers(0, 3))):
            x, y = rng.integers(0, 60, 2)
            boxes.append(np.array([x, y, x + 20, y + 16], np.float64))
            labels.append(int(rng.integers(1, len(gt.class_names))))
        b = np.array(boxes, np.float64).reshape(-1, 4)
        b = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], axis=1)
        out[rec.image_id] = Detections(b, np.round(rng.random(len(b)), 3), np.array(labels, np.int64))
    return out


def write_comp4(folder: Path, gt: DatasetIndex, dets: dict[str, Detections]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for label in range(1, len(gt.class_names)):
        lines = []
        for image_id, d in dets.items():
            for box, s, lab in zip(d.boxes, d.scores, d.labels):
                if lab == label:  # the devkit's 1-based inclusive pixels
                    x1, y1, x2, y2 = (float(v) for v in box)
                    lines.append(f"{image_id} {float(s)!r} {x1 + 1!r} {y1 + 1!r} {x2!r} {y2!r}")
        (folder / f"comp4_det_val_{gt.class_names[label]}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))


def write_coco_results(path: Path, dets: dict[str, Detections]) -> None:
    rows = [{"image_id": image_id, "category_id": int(lab), "score": float(s),
             "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
            for image_id, d in dets.items() for b, s, lab in zip(d.boxes, d.scores, d.labels)]
    path.write_text(json.dumps(rows))


def test_voc_files_through_cli_match_devkit(voc_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gt = load_voc(voc_dir, split="trainval")
    assert any(r.difficult.any() for r in gt.records)
    dets = noisy_detections(gt, 0)
    write_comp4(tmp_path / "comp4", gt, dets)
    write_coco_results(tmp_path / "results.json", dets)
    expected = {use_07: {gt.class_names[l]: devkit_ap(gt, dets, l, use_07) for l in range(1, len(gt.class_names))}
                for use_07 in (True, False)}
    for dets_arg, metric in ((tmp_path / "comp4", "voc07"), (tmp_path / "results.json", "voc12")):
        out = tmp_path / f"out_{metric}"
        code = main(["eval", "--gt", str(voc_dir), "--split", "trainval", "--dets", str(dets_arg),
                     "--metric", metric, "--out", str(out)])
        assert code == 0
        printed = capsys.readouterr().out
        m = json.loads((out / "metrics.json").read_text())
        assert m["metric"] == metric
        ref = expected[metric == "voc07"]
        for name, v in m["per_class"].items():
            if ref[name] is None:
                assert v["ap"] is None
            else:
                assert v["ap"] == pytest.approx(ref[name], abs=1e-9), (metric, name)
            assert name in printed
        aps = [a for a in ref.values() if a is not None]
        assert m["mAP"] == pytest.approx(float(np.mean(aps)), abs=1e-9)
        assert "mAP" in printed
        # the raw PR points: one row per counted detection, in descending confidence
        res = evaluate(gt, dets)
        for label in range(1, len(gt.class_names)):
            name = gt.class_names[label]
            with (out / f"pr_{name}.csv").open() as fh:
                rows = list(csv.DictReader(fh))
            curve = res.pr_curve(label)
            assert len(rows) == curve.confidence.shape[0]
            if rows:
                np.testing.assert_allclose([float(r["precision"]) for r in rows], curve.precision)
                conf = [float(r["confidence"]) for r in rows]
                assert conf == sorted(conf, reverse=True)
                assert int(rows[-1]["cum_tp"]) + int(rows[-1]["cum_fp"]) == len(rows)
            if res.sweep.num_gt[label]:
                png = cv2.imread(str(out / f"pr_{name}.png"))
                assert png is not None and png.shape == (400, 480, 3)
                assert (png != 255).any(axis=2).sum() > 2000  # axes, labels and the curve are drawn


def test_coco_files_through_cli(tmp_path: Path) -> None:
    from .test_coco import pycocotools_reference, random_coco

    data, results = random_coco(7)
    gt_path = tmp_path / "instances.json"
    gt_path.write_text(json.dumps(data))
    res_path = tmp_path / "results.json"
    res_path.write_text(json.dumps(results))
    out = tmp_path / "out"
    assert main(["eval", "--gt", str(gt_path), "--dets", str(res_path), "--metric", "coco", "--out", str(out),
                 "--no-plots"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    ref_stats, ref_cat = pycocotools_reference(gt_path, results)
    assert [m["coco"][k] for k in m["coco"]] == ref_stats.tolist()
    assert m["mAP"] == ref_stats[0]
    assert m["per_class"]["person"]["ap"] == ref_cat[1]
    assert m["per_class"]["train"]["ap"] is None  # category 7 has no ground truth


# --------------------------------------------------------------------------------- bad input

def _small_gt(voc_dir: Path) -> DatasetIndex:
    return load_voc(voc_dir, split="trainval")


def test_detections_on_unknown_images_are_counted(voc_dir: Path) -> None:
    gt = _small_gt(voc_dir)
    dets = noisy_detections(gt, 1)
    plain = evaluate(gt, dets).voc(False)
    extra = dict(dets)
    extra["not_an_image"] = Detections(np.array([[1, 1, 9, 9.0]]), np.array([0.9]), np.array([1]))
    extra["other"] = Detections(np.array([[1, 1, 9, 9.0]] * 2), np.array([0.9, 0.8]), np.array([1, 2]))
    res = evaluate(gt, extra)
    assert len(res.warnings) == 1 and "3 detection(s) on 2 image id(s)" in res.warnings[0]
    assert "not_an_image" in res.warnings[0]
    np.testing.assert_array_equal(res.voc(False).ap, plain.ap)  # the rest is evaluated as before
    with pytest.raises(ValueError, match="none of the 3 detections"):
        evaluate(gt, {"not_an_image": extra["not_an_image"], "other": extra["other"]})


def test_unknown_class_names_are_counted(voc_dir: Path, tmp_path: Path) -> None:
    gt = _small_gt(voc_dir)
    # a detector with a class the dataset lacks ("zebra") and classes in a different order
    det_names = ("__background__", "zebra", "square", "circle")
    d = Detections(np.array([[0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 20, 20.0]]), np.array([0.9, 0.8, 0.7]),
                   np.array([1, 2, 3]))
    res = evaluate(gt, {gt.records[0].image_id: d}, detector_class_names=det_names)
    assert any("1 detection(s) of 1 class(es)" in w and "zebra" in w for w in res.warnings)
    assert res.sweep.num_det[gt.class_names.index("square")] == 1
    assert res.sweep.num_det[gt.class_names.index("circle")] == 1
    # a comp4 file for a class the dataset does not have
    folder = tmp_path / "comp4"
    write_comp4(folder, gt, noisy_detections(gt, 2))
    (folder / "comp4_det_val_zebra.txt").write_text(f"{gt.records[0].image_id} 0.5 1 1 10 10\n")
    _, warnings, _ = read_detections(folder, gt)
    assert any("zebra" in w and "1 file(s)" in w for w in warnings)
    # COCO results with an unknown category id
    (tmp_path / "r.json").write_text(json.dumps([
        {"image_id": gt.records[0].image_id, "category_id": 99, "bbox": [0, 0, 5, 5], "score": 0.5},
        {"image_id": gt.records[0].image_id, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.4}]))
    dets, warnings, _ = read_detections(tmp_path / "r.json", gt)
    assert len(warnings) == 1 and "1 detection(s) with category_id(s)" in warnings[0] and "99" in warnings[0]
    assert sum(len(v) for v in dets.values()) == 1


def test_nan_scores_are_errors(voc_dir: Path, tmp_path: Path) -> None:
    gt = _small_gt(voc_dir)
    image_id = gt.records[0].image_id
    d = Detections(np.array([[0, 0, 10, 10.0]]), np.array([np.nan], np.float32), np.array([1]))
    with pytest.raises(ValueError, match=f"image '{image_id}' has 1 non-finite score"):
        evaluate(gt, {image_id: d})
    (tmp_path / "r.json").write_text(f'[{{"image_id": "{image_id}", "category_id": 1, "bbox": [0, 0, 5, 5], '
                                     f'"score": NaN}}]')
    with pytest.raises(ValueError, match=r"r\.json: entry 0 has a non-finite score"):
        read_detections(tmp_path / "r.json", gt)
    folder = tmp_path / "comp4"
    folder.mkdir()
    (folder / "comp4_det_val_circle.txt").write_text(f"{image_id} 0.5 1 1 10 10\n{image_id} nan 1 1 10 10\n")
    with pytest.raises(ValueError, match=r"comp4_det_val_circle\.txt:2: non-finite"):
        read_detections(folder, gt)


def test_negative_widths_are_errors(voc_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gt = _small_gt(voc_dir)
    image_id = gt.records[0].image_id
    d = Detections(np.array([[10, 0, 5, 10.0]]), np.array([0.5]), np.array([1]))
    with pytest.raises(ValueError, match="negative width or height"):
        evaluate(gt, {image_id: d})
    (tmp_path / "r.json").write_text(json.dumps([{"image_id": image_id, "category_id": 1, "bbox": [5, 5, -2, 4],
                                                  "score": 0.5}]))
    with pytest.raises(ValueError, match=r"entry 0 has a negative width"):
        read_detections(tmp_path / "r.json", gt)
    folder = tmp_path / "comp4"
    folder.mkdir()
    (folder / "comp4_det_val_square.txt").write_text(f"{image_id} 0.5 20 1 10 10\n")
    with pytest.raises(ValueError, match=r"comp4_det_val_square\.txt:1: box has a negative width"):
        read_detections(folder, gt)
    # the CLI turns it into one line on stderr and exit code 2
    assert main(["eval", "--gt", str(voc_dir), "--split", "trainval", "--dets", str(tmp_path / "r.json"),
                 "--metric", "voc12", "--out", str(tmp_path / "o")]) == 2
    assert "negative width" in capsys.readouterr().err
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_empty_detection_files_score_nothing_and_broken_ones_are_errors(voc_dir: Path, tmp_path: Path) -> None:
    gt = _small_gt(voc_dir)
    (tmp_path / "r.json").write_text("[]")  # a model that found nothing: AP 0, with a warning (issue 19, item 14)
    dets, warnings, _ = read_detections(tmp_path / "r.json", gt)
    assert dets == {} and any("holds no detections" in w for w in warnings)
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(ValueError, match="malformed JSON"):
        read_detections(tmp_path / "empty.json", gt)
    folder = tmp_path / "comp4"
    write_comp4(folder, gt, {})
    dets, warnings, _ = read_detections(folder, gt)
    assert dets == {} and any("holds no detections" in w for w in warnings)
    (tmp_path / "nothing_here").mkdir()
    with pytest.raises(ValueError, match="no per-class detection files"):
        read_detections(tmp_path / "nothing_here", gt)


# ------------------------------------------------------------------------------ running a model

def test_eval_with_weights_runs_the_model(voc_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from core.config import ssd300
    from core.resolve import load_detector
    from core.evaluation.run import EvaluationCancelled, run_detector
    from core.model import build_model
    from core.weights import save_checkpoint

    import torch

    torch.manual_seed(0)
    # classes in another order than the dataset's, plus one the dataset lacks
    names = ("__background__", "square", "circle", "zebra")
    cfg = ssd300(num_classes=len(names), priors="voc", width=0.125)
    weights = save_checkpoint(tmp_path / "tiny.pt", build_model(cfg.model), cfg, names)
    out = tmp_path / "out"
    assert main(["eval", "--gt", str(voc_dir), "--split", "trainval", "--weights", str(weights),
                 "--metric", "voc12", "--out", str(out), "--batch-size", "4"]) == 0
    captured = capsys.readouterr()
    assert "eval [" in captured.err and "9/9" in captured.err  # the progress bar reached the end
    # which split, and how many of the dataset's images: trainval leaves the test image out
    assert captured.out.startswith("split 'trainval' of shapes: 9 of its 10 image(s); metric voc12\n")
    m = json.loads((out / "metrics.json").read_text())

    # the same model run by hand on the decoded images, counted per class name
    detector = load_detector(weights)
    gt = load_voc(voc_dir, split="trainval")
    counts = {n: 0 for n in names[1:]}
    images = [cv2.cvtColor(cv2.imread(str(rec.file)), cv2.COLOR_BGR2RGB) for rec in gt.records]
    for start in range(0, len(images), 4):  # the CLI's batches, so the arithmetic is the same
        for d in detector.detect(images[start:start + 4]):
            for lab in d.labels:
                counts[names[int(lab)]] += 1
    assert counts["square"] + counts["circle"] > 0
    assert m["per_class"]["square"]["num_det"] == counts["square"]
    assert m["per_class"]["circle"]["num_det"] == counts["circle"]
    assert all(v["num_det"] == 0 for k, v in m["per_class"].items() if k not in ("square", "circle"))
    if counts["zebra"]:
        assert any(f"{counts['zebra']} detection(s) of 1 class(es)" in w for w in m["warnings"])

    small = DatasetIndex("first five", gt.source, gt.class_names, gt.records[:5])
    seen: list[tuple[int, int]] = []
    dets = run_detector(detector, small, batch_size=2, on_progress=lambda p: seen.append((p.done, p.total)))
    assert seen == [(2, 5), (4, 5), (5, 5)] and list(dets) == [r.image_id for r in small.records]
    seen.clear()
    with pytest.raises(EvaluationCancelled, match="after 2 of 5"):
        run_detector(detector, small, batch_size=2, should_stop=lambda: len(seen) >= 1,
                     on_progress=lambda p: seen.append((p.done, p.total)))


def test_ssd_detect_json_is_read_by_file_name_and_class_name(voc_dir: Path, tmp_path: Path) -> None:
    from core.inference import detections_json, detections_json_entry

    gt = load_voc(voc_dir, split="trainval")
    dets = noisy_detections(gt, 4)
    # a detector whose classes come in reverse order: labels must be mapped by name
    names = (gt.class_names[0],) + tuple(reversed(gt.class_names[1:]))
    remap = np.array([0] + [names.index(n) for n in gt.class_names[1:]])
    entries = [detections_json_entry(Detections(d.boxes, d.scores, remap[d.labels]), names,
                                     str(next(r.file for r in gt.records if r.image_id == k)), 96, 96)
               for k, d in dets.items()]
    path = tmp_path / "detect.json"
    path.write_text(json.dumps(detections_json("tiny.pt", names, entries)))
    read, warnings, det_names = read_detections(path, gt)
    assert warnings == [] and det_names == names
    from_file = evaluate(gt, read, detector_class_names=det_names)
    direct = evaluate(gt, dets)
    np.testing.assert_allclose(from_file.voc(False).ap, direct.voc(False).ap, atol=1e-12, equal_nan=True)
    assert from_file.sweep.num_det.tolist() == direct.sweep.num_det.tolist()


def test_a_partial_detections_file_is_evaluated_with_a_warning(voc_dir: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    """A real ``ssd detect`` JSON stopped after 4 of the 10 images says ``"partial": true``; ``ssd eval``
    scores it and warns that the images it never reached count as missed."""
    from core.config import ssd300
    from core.resolve import load_detector
    from core.inference import run_inference
    from core.model import build_model
    from core.weights import save_checkpoint

    import torch

    torch.manual_seed(0)
    gt = load_voc(voc_dir, split="trainval")
    cfg = ssd300(num_classes=len(gt.class_names), priors="voc", width=0.125)
    weights = save_checkpoint(tmp_path / "tiny.pt", build_model(cfg.model), cfg, gt.class_names)
    dets = tmp_path / "partial.json"
    done: list[int] = []
    result = run_inference(load_detector(weights), voc_dir / "JPEGImages", json_path=dets,
                           on_progress=lambda p: done.append(p.done), should_stop=lambda: len(done) >= 4)
    doc = json.loads(dets.read_text())
    assert result.partial and doc["partial"] is True and doc["frames_done"] == 4 and doc["frames_total"] == 10
    assert sum(len(e["detections"]) for e in doc["images"]) > 0

    _, warnings, _ = read_detections(dets, gt)
    assert len(warnings) == 1 and "partial" in warnings[0] and "after 4 of 10 frames" in warnings[0]
    out = tmp_path / "out"
    assert main(["eval", "--gt", str(voc_dir), "--split", "trainval", "--dets", str(dets), "--metric", "voc07",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {dets}: this detections file is partial" in err and "count as missed" in err
    assert any("partial" in w for w in json.loads((out / "metrics.json").read_text())["warnings"])

    # the full run of the same model is not partial and gets no such warning
    run_inference(load_detector(weights), voc_dir / "JPEGImages", json_path=dets)
    assert json.loads(dets.read_text())["partial"] is False
    assert read_detections(dets, gt)[1] == []
