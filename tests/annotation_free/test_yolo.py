"""Issue 20, "Datasets people use": `ssd pseudo-label --format yolo` writes Ultralytics' layout from a real video
and an image folder with the demo teacher; `ssd train --format yolo` trains on it and `ssd eval --gt` reads it;
resume and the never-mix rule hold; the memory benchmark's pipeline runs end to end."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from core.cli import main
from core.data.frames import read_video_frame
from core.data.yolo import load_yolo
from core.pseudo_label import DatasetExistsError, PseudoLabelConfig, pseudo_label
from core.resolve import load_detector


@pytest.mark.slow
def test_video_and_folder_to_yolo_then_train_and_eval(demo_weights: Path, short_video: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "empty_scenes"
    folder.mkdir()
    cv2.imwrite(str(folder / "black.png"), np.zeros((60, 80, 3), np.uint8))  # nothing for the teacher to find
    out = tmp_path / "yolo"
    assert main(["pseudo-label", str(short_video), str(folder), "--teacher", str(demo_weights), "--out", str(out),
                 "--format", "yolo", "--score-thresh", "0.4", "--every", "2", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"ssd train --format yolo --data {out} --train-split train --val-split val" in printed
    data = yaml.safe_load((out / "data.yaml").read_text())
    teacher = load_detector(demo_weights)
    assert data["names"] == dict(enumerate(teacher.class_names[1:])) and data["nc"] == 8
    ids = [f"shapes_{i:06d}" for i in range(0, 12, 2)] + ["empty_scenes_black"]
    listed = (out / "train.txt").read_text().split() + (out / "val.txt").read_text().split()
    assert listed == [f"./images/{i}.jpg" for i in ids]  # the last tenth (one frame) is val

    # one frame by hand: the teacher's detections above 0.4, normalised, 0-based classes, scores beside
    det = teacher.detect([read_video_frame(short_video, 4)], score_thresh=0.4)[0]
    keep = det.scores > 0.4
    lines = [ln.split() for ln in (out / "labels" / "shapes_000004.txt").read_text().splitlines()]
    assert len(lines) == int(keep.sum()) > 0
    for (k, cx, cy, w, h), box, label in zip(lines, det.boxes[keep], det.labels[keep]):
        x1, y1, x2, y2 = np.clip(box, 0, 240)
        assert int(k) == label - 1
        np.testing.assert_allclose([float(cx), float(cy), float(w), float(h)],
                                   [(x1 + x2) / 480, (y1 + y2) / 480, (x2 - x1) / 240, (y2 - y1) / 240], atol=2e-6)
    scores = [float(s) for s in (out / "scores" / "shapes_000004.txt").read_text().split()]
    np.testing.assert_allclose(scores, det.scores[keep], atol=1e-6)
    assert (out / "labels" / "empty_scenes_black.txt").read_text() == ""  # an image without objects
    assert (out / "scores" / "empty_scenes_black.txt").read_text() == ""

    # ssd eval reads it (the teacher agrees with its own labels); ssd train trains on it with the splits chosen
    assert main(["eval", "--gt", str(out), "--split", "train", "--weights", str(demo_weights), "--metric", "voc07",
                 "--out", str(tmp_path / "eval"), "--quiet", "--no-plots", "--runtime", "torch"]) == 0
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["mAP"] > 0.9
    assert capsys.readouterr().out.startswith("split 'train' of yolo: 6 of its 7 image(s); metric voc07")
    run = tmp_path / "run"
    assert main(["train", "--format", "yolo", "--data", str(out), "--model", "ssd300", "--priors", "coco",
                 "--width", "0.05", "--batch-size", "2", "--max-iterations", "2", "--workers", "0", "--threads", "1",
                 "--warmup-iters", "0", "--out", str(run)]) == 0
    assert "training on its 'train' split, validating on 'val'" in capsys.readouterr().err
    student = load_detector(run / "model.pt")
    assert student.class_names == teacher.class_names
    assert load_yolo(out, "val").records[0].image_id == "empty_scenes_black"


def test_a_yolo_labelling_resumes_and_is_never_mixed(demo_weights: Path, short_video: Path, tmp_path: Path) -> None:
    whole = pseudo_label(PseudoLabelConfig((str(short_video),), str(demo_weights), str(tmp_path / "whole"),
                                           fmt="yolo"))
    cfg = PseudoLabelConfig((str(short_video),), str(demo_weights), str(tmp_path / "parts"), fmt="yolo", batch_size=2)
    asked: list[int] = []
    stopped = pseudo_label(cfg, should_stop=lambda: asked.append(1) or len(asked) > 5)
    assert stopped.partial and stopped.frames_total == 5
    assert len(load_yolo(tmp_path / "parts", "train").records) == 4  # a readable dataset of the frames done
    resumed = pseudo_label(cfg)
    assert resumed.frames_skipped == 5 and resumed.frames_written == 7 and whole.frames_total == 12
    for sub in ("labels", "scores"):  # the same labels (batches of 2 and of 8 differ in the last float bits)
        for f in sorted((tmp_path / "whole" / sub).iterdir()):
            ours = np.loadtxt(tmp_path / "parts" / sub / f.name, ndmin=2)
            np.testing.assert_allclose(ours, np.loadtxt(f, ndmin=2), atol=1e-5, err_msg=f.name)
    for name in ("train.txt", "val.txt", "data.yaml"):
        assert (tmp_path / "parts" / name).read_text() == (tmp_path / "whole" / name).read_text()
    with pytest.raises(DatasetExistsError, match="format='yolo'"):
        pseudo_label(PseudoLabelConfig((str(short_video),), str(demo_weights), str(tmp_path / "parts"), fmt="voc"))


@pytest.mark.slow
def test_the_memory_benchmark_pipeline(demo_weights: Path, tmp_path: Path) -> None:
    """The bench's real child process on a short video (the pipeline, not the figure)."""
    from benchmarks.bench_pseudo_label_memory import measure, write_video

    video = write_video(tmp_path / "clip.mp4", 12, distinct=3)
    result = measure(video, tmp_path / "labels", str(demo_weights), batch_size=4)
    assert result["frames"] == 12 and result["peak_rss_mib"] > 100 and result["seconds"] > 0
    assert len((tmp_path / "labels" / "train.txt").read_text().split()) == 11
