"""The thresholds of the annotation-free tools, pinned at the boundary: a detection scoring exactly at the
teacher's or the reference's threshold is not a label ("scoring above", as the README says), one a float32
step above it is.

The teacher here is the real demo detector on the real short video, asked at a lower threshold than the
labelling's, as a teacher with its own built-in score floor does (torchvision's zoo detectors keep every
box above their ``box_score_thresh`` whatever they are asked): the labelling's own ``> threshold`` then
decides, and the threshold is set to one of the scores the model really gives, so that a detection lies
exactly on it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.data.frames import open_frames, sample_frames
from core.data.voc import load_voc
from core.evaluation.reference import ReferenceSource, build_reference_index
from core.pseudo_label import PseudoLabelConfig, pseudo_label
from core.resolve import load_detector

#: The teacher's own score floor: it returns everything above this, whatever threshold it is asked for.
FLOOR = 0.05


class FlooredTeacher:
    """The real demo detector with a fixed score floor of its own (``FLOOR``), like a zoo detector's."""

    def __init__(self, weights: Path) -> None:
        self.detector = load_detector(weights)
        self.class_names = self.detector.class_names
        self.asked: list[float | None] = []

    def detect(self, images: list, score_thresh: float | None = None) -> list:
        self.asked.append(score_thresh)
        return self.detector.detect(images, score_thresh=FLOOR)


@pytest.fixture(scope="module")
def video_scores(demo_weights: Path, short_video: Path) -> tuple[FlooredTeacher, list[np.ndarray], float]:
    """The teacher, each frame's float32 scores above the floor, and a threshold equal to one of them."""
    teacher = FlooredTeacher(demo_weights)
    with open_frames(str(short_video)) as src:
        frames = [f.image for f in sample_frames(src, str(short_video))]
    per_frame = [d.scores for d in teacher.detector.detect(frames, score_thresh=FLOOR)]
    scores = np.sort(np.concatenate(per_frame))
    assert scores.size >= 10 and np.unique(scores).size == scores.size  # distinct: "at" is one detection
    # a score in the middle, exactly representable as the float64 threshold the configs hold
    at = float(scores[scores.size // 2])
    assert 0.0 < at < 1.0 and np.float32(at) == scores[scores.size // 2]
    return teacher, per_frame, at


def test_a_teacher_score_exactly_at_the_threshold_is_not_a_label(video_scores, short_video: Path,  # type: ignore[no-untyped-def]
                                                                  demo_weights: Path, tmp_path: Path) -> None:
    teacher, per_frame, at = video_scores
    above = sum(int((s > np.float32(at)).sum()) for s in per_frame)
    cfg = PseudoLabelConfig(sources=(str(short_video),), teacher=str(demo_weights), out_dir=str(tmp_path / "at"),
                            score_thresh=at)
    result = pseudo_label(cfg, teacher=teacher)
    assert teacher.asked and all(a == at for a in teacher.asked)  # the labelling asked for its threshold
    ds = load_voc(result.dataset_path, "trainval")
    written = sum(len(r.labels) for r in ds.records)
    # every teacher detection strictly above the threshold is a label (none is under a pixel here), and
    # the one exactly at it is not: '>=' would give above + 1
    assert result.objects == written == above
    assert above + 1 == sum(int((s >= np.float32(at)).sum()) for s in per_frame)

    # one float32 step lower, the detection that was exactly at the threshold is above it: one label more
    lower = float(np.nextafter(np.float32(at), np.float32(0)))
    cfg2 = PseudoLabelConfig(sources=(str(short_video),), teacher=str(demo_weights), out_dir=str(tmp_path / "below"),
                             score_thresh=lower)
    assert pseudo_label(cfg2, teacher=teacher).objects == above + 1


def test_a_reference_score_exactly_at_the_threshold_is_not_ground_truth(video_scores,  # type: ignore[no-untyped-def]
                                                                        short_video: Path,
                                                                        demo_weights: Path) -> None:
    teacher, per_frame, at = video_scores
    index = build_reference_index(ReferenceSource(str(demo_weights), str(short_video), threshold=at),
                                  detector=teacher)
    assert [len(r.labels) for r in index.records] == [int((s > np.float32(at)).sum()) for s in per_frame]
    lower = float(np.nextafter(np.float32(at), np.float32(0)))
    index2 = build_reference_index(ReferenceSource(str(demo_weights), str(short_video), threshold=lower),
                                   detector=teacher)
    assert sum(len(r.labels) for r in index2.records) == sum(len(r.labels) for r in index.records) + 1


class RecordingTeacher:
    """The real demo detector, recording the batch sizes it is asked for and how many frames the dataset's
    index file on disk lists at each call (what a run killed at that moment would leave)."""

    def __init__(self, weights: Path, out: Path | None = None) -> None:
        self.detector = load_detector(weights)
        self.class_names = self.detector.class_names
        self.out = out
        self.batches: list[int] = []
        self.listed: list[int] = []

    def detect(self, images: list, score_thresh: float | None = None) -> list:
        self.batches.append(len(images))
        if self.out is not None:
            index = self.out / "ImageSets" / "Main" / "trainval.txt"
            self.listed.append(len(index.read_text().split()) if index.is_file() else 0)
        return self.detector.detect(images, score_thresh=score_thresh)


def test_batches_and_saves_of_the_labelling(demo_weights: Path, short_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels"
    teacher = RecordingTeacher(demo_weights, out)
    cfg = PseudoLabelConfig((str(short_video),), str(demo_weights), str(out), batch_size=5, save_every=2)
    assert pseudo_label(cfg, teacher=teacher).frames_written == 12
    assert teacher.batches == [5, 5, 2]
    # the index is rewritten every 2 frames: before the second batch 4 frames are listed (after frames
    # 2 and 4, not 5), before the third 10
    assert teacher.listed == [0, 4, 10]
    one = RecordingTeacher(demo_weights, tmp_path / "one")
    pseudo_label(PseudoLabelConfig((str(short_video),), str(demo_weights), str(tmp_path / "one"), batch_size=1,
                                   save_every=3, max_frames=7), teacher=one)
    assert one.batches == [1] * 7 and one.listed == [0, 0, 0, 3, 3, 3, 6]


def test_reference_batches(demo_weights: Path, short_video: Path) -> None:
    teacher = RecordingTeacher(demo_weights)
    build_reference_index(ReferenceSource(str(demo_weights), str(short_video), batch_size=5), detector=teacher)
    assert teacher.batches == [5, 5, 2]


def test_the_bounds_of_the_settings() -> None:
    src, teacher, out = ("clip.mp4",), "t.pt", "out"
    # thresholds in [0, 1): 0 is allowed, 1 is not
    assert PseudoLabelConfig(src, teacher, out, score_thresh=0.0).score_thresh == 0.0
    assert ReferenceSource("t.pt", "clip.mp4", threshold=0.0).threshold == 0.0
    with pytest.raises(ValueError, match=r"score threshold must be in \[0, 1\), got 1.0"):
        PseudoLabelConfig(src, teacher, out, score_thresh=1.0)
    with pytest.raises(ValueError, match=r"reference threshold must be in \[0, 1\), got 1.0"):
        ReferenceSource("t.pt", "clip.mp4", threshold=1.0)
    # counts are >= 1: 1 is allowed, 0 is not
    ones = dict(every=1, batch_size=1, save_every=1, max_frames=1)
    PseudoLabelConfig(src, teacher, out, **ones)
    ReferenceSource("t.pt", "clip.mp4", every=1, max_frames=1, batch_size=1)
    for name in ones:
        with pytest.raises(ValueError, match=r"must be >= 1.*, got 0"):
            PseudoLabelConfig(src, teacher, out, **dict(ones, **{name: 0}))
    for name in ("every", "max_frames", "batch_size"):
        with pytest.raises(ValueError, match=r"must be >= 1.*, got 0"):
            ReferenceSource("t.pt", "clip.mp4", **{name: 0})


class OddTeacher(FlooredTeacher):
    """The real demo detector's detections, with the first box of each frame made of zero width, the second
    of zero height, and the third given a label past the teacher's class list (a teacher plug-in with a
    bug): none of the three can become a label."""

    def detect(self, images: list, score_thresh: float | None = None) -> list:
        from core.types import Detections

        out = []
        for det in self.detector.detect(images, score_thresh=score_thresh):
            boxes, labels = det.boxes.copy(), det.labels.copy()
            if len(labels) >= 3:
                boxes[0, 2] = boxes[0, 0]
                boxes[1, 3] = boxes[1, 1]
                labels[2] = len(self.class_names)
            out.append(Detections(boxes, det.scores, labels))
        return out


def test_boxes_under_a_pixel_and_unknown_labels_are_not_labels(demo_weights: Path, short_video: Path,
                                                               tmp_path: Path) -> None:
    real = FlooredTeacher(demo_weights).detector.detect
    with open_frames(str(short_video)) as src:
        frames = [f.image for f in sample_frames(src, str(short_video))]
    per_frame = [len(d.labels) for d in real(frames, score_thresh=0.3)]
    hit = sum(n >= 3 for n in per_frame)
    assert hit >= 2  # frames where the odd teacher spoils three boxes
    result = pseudo_label(PseudoLabelConfig((str(short_video),), str(demo_weights), str(tmp_path / "odd"),
                                            score_thresh=0.3), teacher=OddTeacher(demo_weights))
    assert result.objects == sum(per_frame) - 3 * hit
    # the two thin boxes are counted as dropped; the unknown label is left out like a class not kept
    assert f"{2 * hit} teacher box(es) under one pixel" in " ".join(result.warnings)


def test_a_folder_of_four_other_files_is_named_in_full(demo_weights: Path, short_video: Path, tmp_path: Path) -> None:
    from core.pseudo_label import DatasetExistsError

    for n, tail in ((4, "a.txt, b.txt, c.txt, d.txt)"), (5, "a.txt, b.txt, c.txt, d.txt, ...)")):
        out = tmp_path / f"other{n}"
        out.mkdir()
        for name in "abcde"[:n]:
            (out / f"{name}.txt").write_text("mine")
        with pytest.raises(DatasetExistsError) as info:
            pseudo_label(PseudoLabelConfig((str(short_video),), str(demo_weights), str(out)))
        assert f"({n} entries: {tail}" in str(info.value)
