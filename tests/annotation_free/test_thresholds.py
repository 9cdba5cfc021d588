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
