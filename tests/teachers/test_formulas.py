"""The teachers' thresholds and bounds at exactly their values, worked out by hand: what a teacher may return
(scores 0 and 1, boxes reaching exactly the allowed margin), an ontology's thresholds, the tiles' merge IoU and
their starts, the detector API's thresholds (the run's and a class's own, "above": a score equal to one is
dropped), a plug-in's timeout and a zoo model's input size."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from core.teachers.adapter import TeacherDetector
from core.teachers.ontology import parse_ontology
from core.teachers.plugin import timeout_s
from core.teachers.protocol import TeacherOutputError, check_detections
from core.teachers.spec import parse_teacher_spec
from core.teachers.tiling import Tiling, merge_views, tile_windows
from core.teachers.zoo import parse_zoo_argument
from core.types import Detections

# ------------------------------------------------------------------------------------- a teacher's output


def test_an_empty_answer_in_any_form_is_no_detection() -> None:
    for empty in (([], [], []), (np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))):
        assert len(check_detections("t", 0, *empty, 2, (100, 50))) == 0


def test_scores_0_and_1_are_scores_and_the_first_bad_one_is_named() -> None:
    d = check_detections("t", 0, [[0, 0, 1, 1]] * 2, [0.0, 1.0], [0, 1], 2, (10, 10))
    assert d.scores.tolist() == [1.0, 0.0]
    for scores, bad in (([0.0, 1.0, 1.5], "1.5"), ([1.0, 0.0, -0.5], "-0.5")):
        with pytest.raises(TeacherOutputError, match=f"got {bad}$"):
            check_detections("t", 0, [[0, 0, 1, 1]] * 3, scores, [0, 0, 0], 2, (10, 10))


def test_whole_float_labels_are_labels_and_the_first_bad_one_is_named() -> None:
    d = check_detections("t", 0, [[0, 0, 1, 1]] * 2, [0.5, 0.25], np.array([1.0, 0.0]), 2, (10, 10))
    assert d.labels.tolist() == [1, 0] and d.labels.dtype == np.int64
    with pytest.raises(TeacherOutputError, match="label 5 is out of range"):
        check_detections("t", 0, [[0, 0, 1, 1]] * 3, [0.5] * 3, [0, 1, 5], 2, (10, 10))


def test_boxes_without_width_or_height_and_at_the_margin_are_accepted() -> None:
    """A 100 x 50 image: boxes may reach from (-100, -50) to (200, 100), one image size past each edge."""
    d = check_detections("t", 0, [[5, 5, 5, 9], [5, 5, 9, 5], [-100, -50, 200, 100]], [0.5, 0.4, 0.3], [0, 0, 0],
                         2, (100, 50))
    assert len(d) == 3
    for box in ([-100.5, 0, 10, 10], [0, -50.5, 10, 10], [0, 0, 200.5, 10], [0, 0, 10, 100.5]):
        with pytest.raises(TeacherOutputError, match="far outside the 100x50 image"):
            check_detections("t", 0, [box], [0.5], [0], 2, (100, 50))


# ------------------------------------------------------------------------------------------------- ontology


def test_an_ontology_threshold_may_be_0_but_not_1() -> None:
    assert parse_ontology("car>0;van").thresholds == (0.0, None)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\), got 1"):
        parse_ontology("car>1")


# --------------------------------------------------------------------------------------------------- tiling


def test_views_merge_above_iou_0_5_and_only_within_a_class() -> None:
    """Boxes 100 x 10 moved by 30 px overlap by IoU 70 / 130 = 0.54 > 0.5: one object, the better box stays.
    The same overlap between two classes is two objects."""
    whole = Detections(np.array([[0, 0, 100, 10]], np.float32), np.array([0.8], np.float32), np.array([0]))
    tile = Detections(np.array([[10, 0, 110, 10]], np.float32), np.array([0.9], np.float32), np.array([0]))
    out = merge_views([whole, tile], [(0, 0), (20, 0)])
    assert out.boxes.tolist() == [[30, 0, 130, 10]] and out.scores.tolist() == pytest.approx([0.9])
    other = Detections(tile.boxes, tile.scores, np.array([1]))
    out = merge_views([whole, other], [(0, 0), (20, 0)])
    assert out.labels.tolist() == [1, 0] and len(out) == 2


def test_tile_starts_are_rounded_and_settings_at_their_bounds() -> None:
    # 4 columns over 100 px, overlap 0.15: tile ceil(100 / 3.55) = 29 px, stride 29 * 0.85 = 24.65:
    # starts 0, round(24.65) = 25, round(49.3) = 49, and the last at 100 - 29 = 71
    assert [x for x, _, _, _ in tile_windows(100, 20, Tiling(1, 4, 0.15))] == [0, 25, 49, 71]
    assert len(tile_windows(320, 320, Tiling(16, 16, 0.9))) == 256


# --------------------------------------------------------------------------------------- the detector API


class _Fixed:
    """A teacher that answers every image with the same five boxes: two of "cat", three of "dog"."""

    class_names = ("cat", "dog")
    description = "fixed"

    def __init__(self, default: float | None = None, class_thresholds: Any = None) -> None:
        if default is not None:
            self.default_threshold = default
        self.class_thresholds = class_thresholds

    def detect(self, images: list) -> list[Detections]:
        boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10], [60, 0, 70, 10], [80, 0, 90, 10]],
                         np.float32)
        return [Detections(boxes, np.array([0.75, 0.625, 0.5, 0.375, 0.25], np.float32), np.array([0, 1, 0, 1, 1]))
                for _ in images]

    def fingerprint(self) -> dict:
        return {"kind": "fixed"}


def test_the_detector_api_thresholds_above_the_run_and_the_class() -> None:
    image = [np.zeros((20, 100, 3), np.uint8)]
    det = TeacherDetector(_Fixed(default=0.5), "fixed", "fixed")
    assert det.class_names == ("__background__", "cat", "dog") and det.score_thresh == 0.5
    [d] = det.detect(image)  # the teacher's default 0.5: the cat at exactly 0.5 is not above it
    assert d.labels.tolist() == [1, 2] and d.scores.tolist() == [0.75, 0.625]
    assert TeacherDetector(_Fixed(), "fixed", "fixed").score_thresh == 0.01
    # "dog>0.25" in an ontology: dogs above 0.25 whatever the run's threshold, cats above the run's 0.625
    own = TeacherDetector(_Fixed(class_thresholds=(None, 0.25)), "fixed", "fixed")
    [d] = own.detect(image, score_thresh=0.625)
    assert d.labels.tolist() == [1, 2, 2] and d.scores.tolist() == [0.75, 0.625, 0.375]
    assert det.detect([]) == []


def test_the_detector_api_settings() -> None:
    det = TeacherDetector(_Fixed(default=0.5), "py:fixed.py:build", "plugin")
    for value in (0.0, 1.0, 0.3):
        det.set_postprocess(score_thresh=value)
        assert det.score_thresh == value
    det.set_postprocess(nms="hard")
    for change in ({"score_thresh": 1.5}, {"nms": "soft-linear"}, {"iou": 0.3}):
        with pytest.raises(ValueError, match="applies to SSD models only"):
            det.set_postprocess(**change)
    assert det.runtime_text == "fixed (its own process)"
    assert TeacherDetector(_Fixed(), "x", "owlv2", "cpu").runtime_text == "fixed (PyTorch, cpu)"

    class _Short(_Fixed):
        def detect(self, images: list) -> list[Detections]:
            return super().detect(images)[:1]

    with pytest.raises(ValueError, match="must return one result per image: 2 image"):
        TeacherDetector(_Short(), "x", "fixed").detect([np.zeros((20, 100, 3), np.uint8)] * 2)


# ------------------------------------------------------------------------------- plug-in and zoo settings


def test_plugin_timeout_must_be_above_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSD_PLUGIN_TIMEOUT", "0.5")
    assert timeout_s() == 0.5
    monkeypatch.setenv("SSD_PLUGIN_TIMEOUT", "0")
    with pytest.raises(ValueError, match="must be > 0 seconds, got '0'"):
        timeout_s()


def test_zoo_input_size_from_32_to_4096() -> None:
    name = "fasterrcnn_mobilenet_v3_large_320_fpn"
    for size in (32, 4096):
        assert parse_zoo_argument(parse_teacher_spec(f"torchvision:{name}:{size}")) == (name, None, size)
    for size in (31, 4097):
        with pytest.raises(ValueError, match=f"must be 32..4096 pixels, got {size}"):
            parse_zoo_argument(parse_teacher_spec(f"torchvision:{name}:{size}"))
