"""ssd pseudo-label: a teacher labels a real (short, synthetic) video; the dataset is read by ssd train and
ssd eval, resumes where it stopped, and never overwrites or mixes with another dataset."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.cli import main
from core.data.coco import load_coco
from core.data.voc import load_voc
from core.resolve import load_detector
from core.jobs import Progress
from core.pseudo_label import DatasetExistsError, PseudoLabelConfig, class_plan, pseudo_label


class CountingTeacher:
    """The real demo detector, counting the frames it is asked to label (and, optionally, interrupted
    like Ctrl-C after some batches)."""

    def __init__(self, weights: Path, interrupt_after: int | None = None) -> None:
        self.detector = load_detector(weights)
        self.class_names = self.detector.class_names
        self.frames = 0
        self.calls = 0
        self.interrupt_after = interrupt_after

    def detect(self, images: list, score_thresh: float | None = None) -> list:
        if self.interrupt_after is not None and self.calls >= self.interrupt_after:
            raise KeyboardInterrupt
        self.calls += 1
        self.frames += len(images)
        return self.detector.detect(images, score_thresh=score_thresh)


def test_video_to_a_voc_dataset_that_train_and_eval_read(demo_weights: Path, short_video: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "labels"
    assert main(["pseudo-label", str(short_video), "--teacher", str(demo_weights), "--out", str(out),
                 "--score-thresh", "0.4", "--every", "2", "--quiet"]) == 0
    assert "labelled 6 frame(s)" in capsys.readouterr().out
    ds = load_voc(out, "trainval")
    assert [r.image_id for r in ds.records] == [f"shapes_{i:06d}" for i in range(0, 12, 2)]
    assert not ds.warnings and sum(len(r.labels) for r in ds.records) > 6
    assert ds.class_names == load_detector(demo_weights).class_names
    xml = ET.parse(out / "Annotations" / "shapes_000004.xml").getroot()
    scores = [float(o.findtext("score")) for o in xml.iter("object")]
    assert scores and min(scores) > 0.4 and "demo_model.pt" in xml.findtext("source/database")
    record = json.loads((out / "pseudo_label.json").read_text())
    assert record["teacher"] == str(demo_weights) and record["score_thresh"] == 0.4 and record["complete"]
    assert record["frames"] == 6 and record["settings"]["every"] == 2

    # ssd eval reads it: the teacher scores high on its own labels (integer pixels and JPEG aside)
    assert main(["eval", "--gt", str(out), "--split", "trainval", "--weights", str(demo_weights), "--metric", "voc07",
                 "--out", str(tmp_path / "eval"), "--quiet", "--no-plots"]) == 0
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["mAP"] > 0.9
    # ssd train reads it (two iterations of a tiny student, validated on the "val" split)
    run = tmp_path / "run"
    assert main(["train", "--format", "voc", "--data", str(out), "--val-split", "val", "--model", "ssd300",
                 "--width", "0.05", "--batch-size", "2", "--max-iterations", "2", "--workers", "0", "--threads", "1",
                 "--warmup-iters", "0", "--out", str(run)]) == 0
    assert (run / "model.pt").is_file()
    assert load_detector(run / "model.pt").class_names == ds.class_names


def test_coco_with_a_class_subset_renamed(demo_weights: Path, short_video: Path, tmp_path: Path) -> None:
    teacher = load_detector(demo_weights)
    seen: list[Progress] = []
    cfg = PseudoLabelConfig(sources=(str(short_video),), teacher=str(demo_weights), out_dir=str(tmp_path / "coco"),
                            score_thresh=0.3, every=3, fmt="coco", classes=("circle", "ellipse", "square"),
                            rename=(("circle", "round"), ("ellipse", "round")))
    result = pseudo_label(cfg, on_progress=seen.append, teacher=teacher)
    assert result.class_names == ("__background__", "round", "square") and not result.partial
    ds = load_coco(result.dataset_path)
    assert ds.class_names == result.class_names and len(ds.records) == 4 and not ds.warnings
    data = json.loads(result.dataset_path.read_text())
    assert all(a["score"] > 0.3 for a in data["annotations"]) and data["annotations"]
    assert data["info"]["pseudo_label"]["teacher"] == str(demo_weights)
    # the kept labels are exactly the teacher's detections of those classes, renamed
    frame3 = [r for r in ds.records if r.image_id == 2][0]  # COCO ids 1..N: the second kept frame (frame 3)
    from core.data.frames import read_video_frame

    det = teacher.detect([read_video_frame(short_video, 3)], score_thresh=0.3)[0]
    wanted = {1: 1, 7: 1, 2: 2}  # circle, ellipse -> round; square -> square
    keep = np.isin(det.labels, list(wanted))
    assert sorted(frame3.labels.tolist()) == sorted(wanted[int(k)] for k in det.labels[keep])
    assert [p.done for p in seen if p.done] == [1, 2, 3, 4] and seen[-1].total == 4
    with pytest.raises(ValueError, match="no class 'dog'"):
        class_plan(teacher.class_names, ("dog",), ())


def test_stopped_and_interrupted_runs_resume_without_labelling_twice(demo_weights: Path, short_video: Path,
                                                                     tmp_path: Path) -> None:
    whole = pseudo_label(PseudoLabelConfig((str(short_video),), str(demo_weights), str(tmp_path / "whole")),
                         teacher=CountingTeacher(demo_weights))
    cfg = PseudoLabelConfig((str(short_video),), str(demo_weights), str(tmp_path / "parts"), batch_size=2)
    asked = []
    stopped = pseudo_label(cfg, should_stop=lambda: asked.append(1) or len(asked) > 5,
                           teacher=CountingTeacher(demo_weights))
    assert stopped.partial and stopped.frames_written == 5 and stopped.frames_total == 5
    assert len(load_voc(tmp_path / "parts", "trainval").records) == 5  # a readable dataset of the frames done
    assert not json.loads((tmp_path / "parts" / "pseudo_label.json").read_text())["complete"]

    interrupted = CountingTeacher(demo_weights, interrupt_after=2)
    with pytest.raises(KeyboardInterrupt):
        pseudo_label(cfg, teacher=interrupted)
    assert interrupted.frames == 4 and len(load_voc(tmp_path / "parts", "trainval").records) == 9

    last = CountingTeacher(demo_weights)
    resumed = pseudo_label(cfg, teacher=last)
    assert last.frames == 3 and resumed.frames_skipped == 9 and resumed.frames_written == 3
    assert resumed.frames_total == 12 and not resumed.partial
    for xml in sorted((tmp_path / "whole" / "Annotations").glob("*.xml")):
        assert (tmp_path / "parts" / "Annotations" / xml.name).read_text() == xml.read_text()
    for split in ("trainval", "train", "val"):
        main_dir = Path("ImageSets") / "Main" / f"{split}.txt"
        assert (tmp_path / "parts" / main_dir).read_text() == (tmp_path / "whole" / main_dir).read_text()
    assert whole.frames_total == 12


def test_refuses_to_mix_or_overwrite_and_names_bad_inputs(demo_weights: Path, short_video: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    other = tmp_path / "other"
    (other / "Annotations").mkdir(parents=True)
    (other / "notes.txt").write_text("mine")
    with pytest.raises(DatasetExistsError, match="never mixed"):
        pseudo_label(PseudoLabelConfig((str(short_video),), str(demo_weights), str(other)))
    assert sorted(p.name for p in other.iterdir()) == ["Annotations", "notes.txt"]

    done = tmp_path / "done"
    pseudo_label(PseudoLabelConfig((str(short_video),), str(demo_weights), str(done), max_frames=2))
    before = sorted(p.name for p in (done / "Annotations").iterdir())
    with pytest.raises(DatasetExistsError, match="score_thresh=0.5"):
        pseudo_label(PseudoLabelConfig((str(short_video),), str(demo_weights), str(done), score_thresh=0.3,
                                       max_frames=2))
    assert sorted(p.name for p in (done / "Annotations").iterdir()) == before

    def fails(args: list[str]) -> str:
        assert main(["pseudo-label"] + args + ["--teacher", str(demo_weights), "--quiet"]) == 2
        return capsys.readouterr().err

    assert "missing.mp4" in fails([str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "a")])
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    assert "broken.mp4" in fails([str(broken), "--out", str(tmp_path / "b")])
    assert "camera" in fails(["camera:0", "--out", str(tmp_path / "c")])
    assert "no class 'dog'" in fails([str(short_video), "--out", str(tmp_path / "d"), "--classes", "dog"])
    assert "OLD=NEW" in fails([str(short_video), "--out", str(tmp_path / "e"), "--rename", "circle"])
    copy = tmp_path / "copy" / short_video.name
    copy.parent.mkdir()
    copy.write_bytes(short_video.read_bytes())
    assert "same footage" in fails([str(short_video), str(copy), "--out", str(tmp_path / "f")])  # a copy is no news
    assert not any((tmp_path / n).exists() and any((tmp_path / n).iterdir()) for n in "abcdef")


def test_only_an_int8_teachers_calibration_is_part_of_the_settings(tmp_path: Path) -> None:
    """The calibration images change an int8 teacher's outputs and nothing else's: they are in the resume
    identity for int8 only ("default" without a folder, the folder's absolute path with one)."""
    base = dict(sources=("clip.mp4",), teacher="t.pt", out_dir=str(tmp_path / "out"))
    assert PseudoLabelConfig(**base, calibration=str(tmp_path)).settings("ab")["calibration"] is None
    int8 = dict(base, runtime="openvino", precision="int8")
    assert PseudoLabelConfig(**int8).settings("ab")["calibration"] == "default"
    assert PseudoLabelConfig(**int8, calibration=str(tmp_path)).settings("ab")["calibration"] == str(tmp_path.resolve())


def test_a_folder_with_some_unreadable_images_is_labelled_one_with_none_is_an_error(demo_weights: Path,
                                                                                   tmp_path: Path) -> None:
    import cv2

    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(ValueError, match=f"nothing could be read from {folder}: .*a.jpg"):
        pseudo_label(PseudoLabelConfig((str(folder),), str(demo_weights), str(tmp_path / "none")))
    cv2.imwrite(str(folder / "b.png"), np.full((64, 80, 3), 127, np.uint8))
    result = pseudo_label(PseudoLabelConfig((str(folder),), str(demo_weights), str(tmp_path / "one")))
    assert result.frames_written == 1 and any("a.jpg" in w for w in result.warnings)


#: A plug-in teacher (a user's Python file, run with the opt-in): one box per colour, around the pixels whose
#: red (class "red") or blue (class "blue") channel is bright and the other two dark.
COLOUR_TEACHER = '''import numpy as np

class Colours:
    class_names = ["red", "blue"]
    description = "bright red and blue patches"

    def detect(self, images):
        out = []
        for img in images:
            boxes, labels = [], []
            for label, channel in ((0, 0), (1, 2)):
                others = [c for c in range(3) if c != channel]
                ys, xs = np.nonzero((img[..., channel] > 160) & (img[..., others].max(axis=-1) < 90))
                if len(xs):
                    boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                    labels.append(label)
            out.append((np.array(boxes, np.float32).reshape(-1, 4), np.full(len(labels), 0.9, np.float32),
                        np.array(labels, np.int64)))
        return out

def build():
    return Colours()
'''


def test_boxes_filled_into_a_gap_are_marked_interpolated_beside_detected_ones(tmp_path: Path) -> None:
    """Five frames of a still red square and a blue one that moves 2 px a frame and is missing from frame 2:
    frame 2's labels are the red square (detected, unmarked) and the blue one filled in halfway between
    frames 1 and 3 (x1 from 18 to 22: 20), marked interpolated; no other box is marked."""
    from core.io.video_writer import VideoWriter
    from core.tracking import TemporalConfig

    plugin = tmp_path / "colours.py"
    plugin.write_text(COLOUR_TEACHER)
    video = tmp_path / "two.mp4"
    with VideoWriter(video, fps=5, size=(96, 64)) as writer:
        for f in range(5):
            frame = np.zeros((64, 96, 3), np.uint8)
            frame[8:24, 64:80] = (255, 0, 0)  # red, still (RGB)
            if f != 2:
                frame[32:48, 16 + 2 * f:32 + 2 * f] = (0, 0, 255)  # blue, moving right
            writer.write(frame)
    cfg = PseudoLabelConfig((str(video),), f"py:{plugin}:build", str(tmp_path / "out"), trust_code=True,
                            temporal=TemporalConfig(max_gap=2, min_track=2, smooth=1))
    assert pseudo_label(cfg).frames_written == 5
    for f in range(5):
        objects = ET.parse(tmp_path / "out" / "Annotations" / f"two_{f:06d}.xml").getroot().findall("object")
        marked = {o.find("name").text: o.find("interpolated") is not None for o in objects}
        assert marked == {"red": False, "blue": f == 2}, f
        blue = next(o.find("bndbox") for o in objects if o.find("name").text == "blue")
        assert int(blue.find("xmin").text) - 1 == pytest.approx(16 + 2 * f, abs=1), f  # VOC is 1-based
