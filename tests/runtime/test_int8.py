"""int8 through NNCF on a tiny model: calibration sources, progress, the record, cancel, the cache."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("nncf")

from core import load_detector  # noqa: E402
from core.jobs import Cancelled  # noqa: E402
from tests.runtime.helpers import scenes, tiny_checkpoint  # noqa: E402

SYNTHETIC_TRAINING = {"train_config": {"data_format": "synthetic", "synthetic_seed": 4, "synthetic_size": 96,
                                       "synthetic_count": 3}}


def test_int8_from_images_reports_progress_and_records_calibration(tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / "m.pt")
    calib = scenes(4, (96, 96), seed=9)
    events = []
    det = load_detector(weights, runtime="openvino", precision="int8", calibration=calib,
                        cache_dir=tmp_path / "cache", on_progress=events.append)
    assert (det.runtime, det.precision) == ("openvino", "int8")
    stages = {p.stage for p in events}
    assert {"calibration", "quantize", "compile"} <= stages
    assert [p.done for p in events if p.stage == "quantize"][-1] == 4
    record = json.loads((Path(det.runtime_info["cache_entry"]) / "record.json").read_text())
    assert record["precision"] == "int8"
    assert record["calibration"]["count"] == 4 and record["calibration"]["kind"] == "images"
    # int8 arithmetic: close to fp32, not equal; the strongest detections agree
    images = scenes(2)
    fp32 = load_detector(weights).detect(images)
    q = det.detect(images)
    for a, b in zip(q, fp32):
        assert len(a) > 0 and a.labels[0] == b.labels[0]
        assert abs(float(a.scores[0]) - float(b.scores[0])) < 0.1
    # loaded again with the same calibration: quantized once, the cache answers
    again = load_detector(weights, runtime="openvino", precision="int8", calibration=calib,
                          cache_dir=tmp_path / "cache")
    assert again.runtime_info["cache"] == "hit"
    assert again.runtime_info["calibration"]["count"] == 4


def test_int8_default_calibration_is_the_recorded_training_data(tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / "m.pt", meta=SYNTHETIC_TRAINING)
    det = load_detector(weights, runtime="openvino", precision="int8", cache_dir=tmp_path / "cache")
    c = det.runtime_info["calibration"]
    assert c["kind"] == "training data" and c["count"] == 3 and "seed=4" in c["source"]


def test_int8_falls_back_to_the_source_folder(tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / "m.pt")
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, im in enumerate(scenes(3, (96, 96))):
        cv2.imwrite(str(folder / f"f{i}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    det = load_detector(weights, runtime="openvino", precision="int8", calibration_fallback=folder,
                        cache_dir=tmp_path / "cache")
    c = det.runtime_info["calibration"]
    assert c["kind"] == "folder" and c["files"] == ["f0.png", "f1.png", "f2.png"]
    assert "source being opened" in c["why"]


def test_int8_quantization_can_be_cancelled(tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / "m.pt")
    seen = []

    def stop() -> bool:
        return len(seen) >= 2

    with pytest.raises(Cancelled):
        load_detector(weights, runtime="openvino", precision="int8", calibration=scenes(4, (96, 96)),
                      cache_dir=tmp_path / "cache", on_progress=seen.append, should_stop=stop)
    entries = [p for p in (tmp_path / "cache").iterdir() if "int8" in p.name]
    assert entries == []  # nothing half-made left in the cache


@pytest.mark.parametrize("arch", ("ssd300", "ssdlite320_mobilenet_v3_large"))
def test_int8_export_to_ir_runs_as_int8(arch: str, tmp_path: Path) -> None:
    """NNCF quantization, IR export and reload; SSDlite's ~15 s is NNCF's statistics over its ~150 layers."""
    from core.runtime.export import export_model

    weights = tiny_checkpoint(tmp_path / "m.pt", arch, meta=SYNTHETIC_TRAINING)
    xml = export_model(weights, "openvino", tmp_path / "m_int8.xml", precision="int8")
    det = load_detector(xml)
    assert (det.runtime, det.precision) == ("openvino", "int8")
    assert det.runtime_info["calibration"]["count"] == 3
    dets = det.detect(scenes(1))
    assert len(dets[0]) > 0 and np.all(np.diff(dets[0].scores) <= 0)


def test_cli_eval_int8_calibrates_on_the_ground_truth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.cli import main
    from core.data.synthetic import write_dataset

    monkeypatch.setenv("SSD_CACHE_DIR", str(tmp_path / "cache"))
    data = write_dataset(tmp_path / "voc", 4, 3, "voc", (96, 96))
    weights = tiny_checkpoint(tmp_path / "m.pt")  # records no training data
    out = tmp_path / "eval"
    assert main(["eval", "--gt", str(data), "--split", "trainval", "--weights", str(weights), "--metric", "voc07",
                 "--precision", "int8", "--out", str(out), "--no-plots", "--quiet"]) == 0
    assert json.loads((out / "metrics.json").read_text())["mAP"] is not None
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "cache").glob("*/*-int8-*/record.json")]
    assert record["precision"] == "int8"
    # the 3 images of trainval (the fourth scene is the test split)
    assert record["calibration"]["kind"] == "dataset" and record["calibration"]["count"] == 3
