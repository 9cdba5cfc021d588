"""The command line and the GUI run the same core functions: ``ssd eval`` and the Evaluate view both call
``core.evaluation.run.run_evaluation`` and get the same figures from the same files; ``ssd detect`` and the
Detect view's export both call ``core.inference.run_inference`` and write the same detections."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.data.synthetic import write_dataset
from ssd_gui.views.evaluate_view import EvaluateView

WAIT_MS = 60_000


@pytest.fixture(scope="module")
def coco_with_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A synthetic COCO dataset on disk and detections for it: the objects of even images found (with a
    score falling along the dataset), one false positive per image."""
    from core.evaluation.io import load_ground_truth

    folder = tmp_path_factory.mktemp("same_core")
    ann = Path(write_dataset(folder / "coco", count=8, seed=5, fmt="coco", size=(160, 128)))
    entries = []
    for i, rec in enumerate(load_ground_truth(ann).records):
        for k, ((x1, y1, x2, y2), lab) in enumerate(zip(rec.boxes.tolist(), rec.labels.tolist())):
            if i % 2 == 0 or k == 0:
                entries.append({"image_id": rec.image_id, "category_id": lab, "bbox": [x1, y1, x2 - x1, y2 - y1],
                                "score": round(0.95 - 0.05 * i - 0.01 * k, 3)})
        entries.append({"image_id": rec.image_id, "category_id": int(rec.labels[0]) if len(rec.labels) else 1,
                        "bbox": [1, 1, 6, 6],
                        "score": 0.4})
    dets = folder / "results.json"
    dets.write_text(json.dumps(entries))
    return ann, dets


def test_ssd_eval_and_the_evaluate_view_call_run_evaluation_and_agree(qtbot, monkeypatch, tmp_path,  # type: ignore[no-untyped-def]
                                                                     coco_with_results) -> None:
    import core.evaluation.run as run_module
    from core.cli import main as ssd

    ann, dets = coco_with_results
    calls: list[tuple[str, object]] = []
    real = run_module.run_evaluation

    def spy(request, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((request.source, request.ground_truth))
        return real(request, **kwargs)  # the real work still runs

    monkeypatch.setattr(run_module, "run_evaluation", spy)
    assert ssd(["eval", "--gt", str(ann), "--dets", str(dets), "--metric", "voc07", "--out", str(tmp_path / "cli"),
                "--no-plots", "--quiet"]) == 0
    cli = json.loads((tmp_path / "cli" / "metrics.json").read_text())

    view = EvaluateView()
    qtbot.addWidget(view)
    view.set_detections(dets)
    view.set_dataset("coco", ann)
    with qtbot.waitSignal(view.evaluation_finished, timeout=WAIT_MS) as blocker:
        assert view.start()
    out = blocker.args[0]
    assert [source for source, _ in calls] == [str(dets), str(dets)]  # once from the CLI, once from the view
    assert out.metrics["mAP"] == pytest.approx(cli["mAP"]) and 0.2 < cli["mAP"] < 1.0
    assert out.metrics["per_class"] == cli["per_class"]
    assert out.result.voc(True).mAP == pytest.approx(cli["mAP"])


def test_ssd_detect_and_the_export_call_run_inference_and_write_the_same_detections(qtbot, monkeypatch, tmp_path,  # type: ignore[no-untyped-def]
                                                                                   detect_assets) -> None:
    import core.inference as inference
    from core.cli import main as ssd
    from ssd_gui.views.detect_view import DetectView

    calls: list[object] = []
    real = inference.run_inference

    def spy(detector, source, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((str(getattr(source, "path", source)), kwargs.get("score_thresh"), kwargs.get("labels")))
        return real(detector, source, **kwargs)

    monkeypatch.setattr(inference, "run_inference", spy)
    video, weights = detect_assets["video"], detect_assets["weights"]
    cli_json = tmp_path / "cli.json"
    assert ssd(["detect", str(video), "--weights", str(weights), "--out", str(cli_json), "--score-thresh", "0.6",
                "--classes", "circle,triangle"]) == 0

    view = DetectView()
    qtbot.addWidget(view)
    try:
        with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS):
            view.load_model(weights)
        with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS):
            view.open_source(video, play=False)
        view.set_min_score(0.6)
        view.class_filter.set_checked("square", False)
        with qtbot.waitSignal(view.export_finished, timeout=WAIT_MS):
            assert view.export(None, tmp_path / "gui.json")
    finally:
        view.shutdown()
    assert [c[0] for c in calls] == [str(video), str(video)]
    cli, gui = (json.loads(p.read_text()) for p in (cli_json, tmp_path / "gui.json"))
    for key in ("class_names", "score_thresh", "class_filter", "frames_done", "partial"):
        assert cli[key] == gui[key], key
    assert cli["class_filter"] == [1, 3] and cli["frames_done"] == len(cli["images"]) == 20
    assert [e["frame"] for e in cli["images"]] == [e["frame"] for e in gui["images"]]
    for a, b in zip(cli["images"], gui["images"]):
        assert [d["label"] for d in a["detections"]] == [d["label"] for d in b["detections"]]
        np.testing.assert_allclose([d["score"] for d in a["detections"]], [d["score"] for d in b["detections"]],
                                   atol=1e-4)
        np.testing.assert_allclose(np.reshape([d["box"] for d in a["detections"]], (-1, 4)),
                                   np.reshape([d["box"] for d in b["detections"]], (-1, 4)), atol=1e-2)
    assert sum(len(e["detections"]) for e in gui["images"]) > 0
