"""``ssd pseudo-label --temporal`` on a short clip with the demo teacher: the written labels are the refinement
of the teacher's detections on every frame (checked against refine_all run here on the same decoded frames),
every N-th frame is written, filled boxes are marked, the settings are part of the resume identity, and a
folder of images is labelled frame by frame with a warning."""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from core.data.synthetic import MovingScene, render_video
from core.io.video import open_source
from core.pseudo_label import DatasetExistsError, PseudoLabelConfig, pseudo_label
from core.tracking import TemporalConfig, refine_all

EVERY = 4


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return render_video(tmp_path_factory.mktemp("temporal") / "clip.mp4", 1.2, 25, 700_999, (300, 300))


@pytest.fixture(scope="module")
def teacher():  # type: ignore[no-untyped-def]
    from core.resolve import load_detector

    return load_detector("demo")


def _objects(xml: Path) -> list[tuple[str, tuple[int, ...], float, bool]]:
    out = []
    for o in ET.parse(xml).getroot().findall("object"):
        b = o.find("bndbox")
        box = tuple(int(b.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
        out.append((o.find("name").text, box, float(o.find("score").text), o.find("interpolated") is not None))
    return sorted(out)


@pytest.mark.slow
def test_temporal_labels_are_the_refined_teacher_detections(tmp_path, clip, teacher) -> None:  # type: ignore[no-untyped-def]
    cfg = PseudoLabelConfig(sources=(str(clip),), teacher="demo", out_dir=str(tmp_path / "labels"), every=EVERY,
                            temporal=TemporalConfig(max_gap=3, min_track=3, smooth=3), batch_size=5)
    result = pseudo_label(cfg, teacher=teacher)
    frames = [f.image for f in open_source(str(clip))]
    assert result.frames_written == len(range(0, len(frames), EVERY)) == 8 and not result.partial

    # the same refinement, run here on the teacher's detections of every frame
    dets = [d for i in range(0, len(frames), 5) for d in teacher.detect(frames[i:i + 5], score_thresh=0.1)]
    expected = {r.index: r for r in refine_all(list(enumerate(dets)), cfg.temporal)}
    names = teacher.class_names
    for index in range(0, len(frames), EVERY):
        r = expected[index]
        boxes = np.rint(np.clip(r.detections.boxes.astype(np.float64), 0, 300)).astype(int)  # VOC: clipped integers
        want = sorted((names[int(k)], (b[0] + 1, b[1] + 1, b[2], b[3]), round(float(s), 6), bool(f))
                      for b, s, k, f in zip(boxes, r.detections.scores, r.detections.labels, r.interpolated)
                      if b[2] > b[0] and b[3] > b[1])
        got = _objects(tmp_path / "labels" / "Annotations" / f"clip_{index:06d}.xml")
        assert [(n, b, f) for n, b, _, f in got] == [(n, b, f) for n, b, _, f in want], index
        assert [s for *_, s, _ in got] == pytest.approx([s for *_, s, _ in want], abs=2e-6)
    record = json.loads((tmp_path / "labels" / "pseudo_label.json").read_text())
    assert record["settings"]["temporal"] == {"low_thresh": 0.1, "max_gap": 3, "min_track": 3, "smooth": 3,
                                              "one_class_iou": cfg.temporal.one_class_iou}
    assert record["complete"] is True

    # the same command again resumes (nothing to do, the teacher never runs); other settings are refused
    again = pseudo_label(cfg, teacher=None)
    assert again.frames_written == 0 and again.frames_skipped == 8
    for other in (PseudoLabelConfig(**{**cfg.__dict__, "temporal": TemporalConfig(max_gap=4)}),
                  PseudoLabelConfig(**{**cfg.__dict__, "temporal": None})):
        with pytest.raises(DatasetExistsError, match="temporal"):
            pseudo_label(other, teacher=teacher)


def test_a_folder_of_images_is_labelled_frame_by_frame_with_a_warning(tmp_path, teacher) -> None:  # type: ignore[no-untyped-def]
    import cv2

    folder = tmp_path / "images"
    folder.mkdir()
    for k, (im, _, _) in enumerate(MovingScene(700_998, (300, 300), 25).frames(2)):
        cv2.imwrite(str(folder / f"img_{k}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    cfg = PseudoLabelConfig(sources=(str(folder),), teacher="demo", out_dir=str(tmp_path / "labels"),
                            temporal=TemporalConfig())
    result = pseudo_label(cfg, teacher=teacher)
    assert result.frames_written == 2
    assert any("not a video" in w and "frame by frame" in w for w in result.warnings)


@pytest.mark.slow
def test_cli_temporal_options(tmp_path, clip) -> None:  # type: ignore[no-untyped-def]
    def ssd(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "core.cli", "pseudo-label", str(clip), "--teacher", "demo",
                               "--quiet", "--runtime", "torch", *args], capture_output=True, text=True, timeout=600)

    bad = ssd("--out", str(tmp_path / "a"), "--max-gap", "3")
    assert bad.returncode != 0 and "--max-gap: only with --temporal" in bad.stderr
    bad = ssd("--out", str(tmp_path / "b"), "--temporal", "--smooth", "2")
    assert bad.returncode != 0 and "--smooth" in bad.stderr and "odd" in bad.stderr
    ok = ssd("--out", str(tmp_path / "c"), "--temporal", "--every", "10", "--max-frames", "2", "--min-track", "2")
    assert ok.returncode == 0, ok.stderr
    record = json.loads((tmp_path / "c" / "pseudo_label.json").read_text())
    assert record["settings"]["temporal"]["min_track"] == 2 and record["frames"] == 2
    assert sorted(p.name for p in (tmp_path / "c" / "Annotations").iterdir()) == ["clip_000000.xml", "clip_000010.xml"]
    assert np.isfinite([o[2] for o in _objects(tmp_path / "c" / "Annotations" / "clip_000010.xml")]).all()


def test_train_dialog_and_ssd_train_option_reach_the_labelling(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The Train dialog's "Refine the labels in time" (TEACHER_FIELDS, also ``ssd train --temporal``) gives the
    stage's labelling the default refinement at the stage's threshold; off, none."""
    from core.engine.teacher_run import TeacherStage, teacher_field

    assert teacher_field("temporal").flag == "--temporal" and teacher_field("temporal").kind == "bool"
    on = TeacherStage(sources=("clip.mp4",), score_thresh=0.6, temporal=True)
    cfg = on.labelling(tmp_path)
    assert cfg.temporal == TemporalConfig(score_thresh=0.6)
    assert TeacherStage.from_dict(on.to_dict()) == on
    assert TeacherStage(sources=("clip.mp4",)).labelling(tmp_path).temporal is None
    assert TeacherStage.from_dict({"sources": ["clip.mp4"]}).temporal is False  # settings saved before it existed
