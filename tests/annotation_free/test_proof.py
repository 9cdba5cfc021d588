"""The short version of the annotation-free proof (python -m core.engine.annotation_free --quick).

Slow (a minute or two on two quiet cores: two short videos are labelled by the demo model, a student
trains 72 iterations on those labels alone, three models are scored on 30 held-out scenes): it is the
only test that runs the whole chain video -> pseudo-labels -> training -> scoring against true labels.
It asserts that the chain works and that the student learns something measurable from the teacher's
labels alone, not the recorded figure (README, "Learning without annotations").
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.engine.annotation_free import QUICK, run_proof


@pytest.mark.slow
def test_student_learns_from_pseudo_labels_alone(demo_weights: Path, tmp_path: Path) -> None:
    figures = run_proof(QUICK, tmp_path / "proof", teacher=demo_weights)
    assert json.loads((tmp_path / "proof" / "result.json").read_text()) == json.loads(json.dumps(figures))
    assert figures["frames_labelled"] == 80 and figures["iterations"] == 72
    # the teacher labels the frames well (against the true labels the renderer knows)
    quality = figures["pseudo_labels"]
    assert quality["frames"] == 80 and quality["precision"] > 0.8 and quality["recall"] > 0.8
    scores = figures["held_out_scores"]
    assert scores["teacher"]["map_voc07"] > 0.8
    # the student, which saw none of the true labels, finds objects far better than its starting point
    before, after = scores["student_before_training"], scores["student"]
    assert after["agnostic_ap_voc07"] > max(10 * before["agnostic_ap_voc07"], 0.005)
    assert after["map_voc07"] > before["map_voc07"]
    assert figures["fraction_of_teacher"] == pytest.approx(after["map_voc07"] / scores["teacher"]["map_voc07"])
    # nothing of the true labels was written where the student reads its data
    labels = Path(figures["config"]["student"]["data_path"])
    assert sorted(p.name for p in labels.iterdir()) == ["Annotations", "ImageSets", "JPEGImages", "labels.txt",
                                                        "pseudo_label.json"]
