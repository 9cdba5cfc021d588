"""run_evaluation: the one function behind `ssd eval` (and the Evaluate view), on real files
and a real tiny model."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.data.index import DatasetSpec
from core.data.synthetic import write_dataset
from core.evaluation.io import pr_file_stems, write_pr_csvs
from core.evaluation.run import EvaluationCancelled, EvaluationRequest, run_evaluation
from core.jobs import Cancelled, Progress


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("run") / "shapes", 10, seed=3, fmt="voc", size=(96, 96))


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from core.config import ssd300
    from core.data.synthetic import SHAPE_CLASSES
    from core.model import build_model
    from core.weights import save_checkpoint

    torch.manual_seed(0)
    cfg = ssd300(num_classes=len(SHAPE_CLASSES), priors="voc", width=0.125)
    return save_checkpoint(tmp_path_factory.mktemp("w") / "tiny.pt", build_model(cfg.model), cfg, SHAPE_CLASSES)


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("metric", ["voc07", "coco"])
def test_cli_writes_exactly_what_run_evaluation_returns(shapes: Path, tiny_weights: Path, tmp_path: Path,
                                                        metric: str) -> None:
    out = tmp_path / "cli"
    assert main(["eval", "--gt", str(shapes), "--weights", str(tiny_weights), "--metric", metric,
                 "--out", str(out), "--quiet", "--no-plots", "--batch-size", "3", "--runtime", "torch"]) == 0
    written = json.loads((out / "metrics.json").read_text())

    request = EvaluationRequest(DatasetSpec("voc", str(shapes)), weights=str(tiny_weights), metric=metric,
                                batch_size=3)
    output = run_evaluation(request)
    assert written.pop("pr_files") == {n: pr_file_stems(output.gt.class_names)[k]
                                       for k, n in enumerate(output.gt.class_names) if k}
    assert written == json.loads(json.dumps(output.metrics))
    assert sum(v["num_det"] for v in written["per_class"].values()) > 0
    assert written["num_images"] == 1 and output.gt.name.endswith(" test")  # the default split: test

    write_pr_csvs(tmp_path / "core", output.result)
    for stem in pr_file_stems(output.gt.class_names)[1:]:
        assert read_csv_rows(out / f"{stem}.csv") == read_csv_rows(tmp_path / "core" / f"{stem}.csv")


def test_output_holds_the_threshold_curves(shapes: Path, tmp_path: Path) -> None:
    from core.evaluation import evaluate
    from core.types import Detections

    gt = DatasetSpec("voc", str(shapes), "trainval").index()
    rng = np.random.default_rng(0)
    results = []
    for r in gt.records:
        for box, label in zip(r.boxes, r.labels):
            x1, y1, x2, y2 = (float(v) for v in box + rng.normal(0, 1.5, 4))
            results.append({"image_id": r.image_id, "category_id": int(label), "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": float(rng.random())})
    dets_path = tmp_path / "results.json"
    dets_path.write_text(json.dumps(results))
    seen: list[Progress] = []
    output = run_evaluation(EvaluationRequest(DatasetSpec("voc", str(shapes), "trainval"), detections=str(dets_path),
                                              metric="voc12", with_coco=True, threshold_steps=11),
                            on_progress=seen.append)
    assert [p.stage for p in seen] == ["load", "read", "match", "coco", "sweep"]
    assert output.coco is not None and output.coco_error == ""
    np.testing.assert_array_equal(output.thresholds, np.linspace(0, 1, 11))
    by_hand = {}
    for e in results:
        x, y, w, h = e["bbox"]
        by_hand.setdefault(e["image_id"], []).append(([x, y, x + w, y + h], e["score"], e["category_id"]))
    direct = evaluate(gt, {k: Detections(np.array([b for b, _, _ in v]), np.array([s for _, s, _ in v]),
                                         np.array([c for _, _, c in v])) for k, v in by_hand.items()})
    np.testing.assert_array_equal(output.map_voc12, direct.map_by_threshold(output.thresholds))
    np.testing.assert_array_equal(output.map_voc07, direct.map_by_threshold(output.thresholds, use_07_metric=True))
    assert output.metrics["mAP"] == pytest.approx(direct.voc(False).mAP, abs=1e-12)


def test_cancel_between_batches(shapes: Path, tiny_weights: Path) -> None:
    seen: list[Progress] = []
    request = EvaluationRequest(DatasetSpec("voc", str(shapes), "trainval"), weights=str(tiny_weights), batch_size=4)
    with pytest.raises(EvaluationCancelled, match="after 4 of 9 images") as info:  # trainval: all but the test one
        run_evaluation(request, on_progress=seen.append,
                       should_stop=lambda: any(p.stage == "detect" for p in seen))
    assert isinstance(info.value, Cancelled)
    assert [(p.done, p.total) for p in seen if p.stage == "detect"] == [(4, 9)]


def test_request_is_checked_when_made(shapes: Path) -> None:
    gt = DatasetSpec("voc", str(shapes))
    with pytest.raises(ValueError, match="not both"):
        EvaluationRequest(gt, weights="a.pt", detections="b.json")
    with pytest.raises(ValueError, match="neither"):
        EvaluationRequest(gt)
    with pytest.raises(ValueError, match="metric 'map' is not one of"):
        EvaluationRequest(gt, detections="b.json", metric="map")
    with pytest.raises(ValueError, match="score threshold must be in"):
        EvaluationRequest(gt, weights="a.pt", score_thresh=1.5)
    with pytest.raises(ValueError, match="batch size"):
        EvaluationRequest(gt, weights="a.pt", batch_size=0)
