"""pseudo_label_then_train: the demo model labels a real (short, synthetic) video inside the run folder, a tiny
student trains on those labels; stopping in either stage leaves a run that the next start continues."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.data.voc import load_voc
from core.engine import TrainConfig, read_metrics_csv
from core.engine.events import EventKind
from core.engine.rundir import RunExistsError
from core.engine.teacher_run import (LABELS_DIR, STAGE_LABEL, STAGE_LABELLED, TeacherStage, parse_classes,
                                     pseudo_label_then_train, teacher_train_config)
from core.jobs import Progress

# The demo model's architecture (so that distillation applies), as small and short as a run gets.
STUDENT = dict(arch="ssd300", priors="coco", width=0.125, epochs=2, batch_size=4, warmup_iters=0, augment="none",
               checkpoint_every=0, num_workers=0, optimizer="adam", lr=1e-3, val_every_epochs=0)


def _stages(events: list[Any]) -> list[str]:
    return [e.stage if isinstance(e, Progress) else "train" for e in events]


def test_labels_then_trains_and_each_stop_resumes(demo_weights: Path, short_video: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    stage = TeacherStage(sources=(str(short_video),), teacher=str(demo_weights), score_thresh=0.4, every=2,
                         distill=True)
    cfg = TrainConfig(out_dir=str(run), **STUDENT)

    # stopped at the fourth frame of the labelling: no training yet, the three frames done are kept
    events: list[Any] = []
    polls = iter(range(100))
    first = pseudo_label_then_train(cfg, stage, on_progress=events.append, should_stop=lambda: next(polls) >= 3)
    assert first.train is None and first.stopped and first.labels.partial
    assert set(_stages(events)) == {STAGE_LABEL} and not (run / "last.pt").exists()
    assert len(load_voc(run / LABELS_DIR, "trainval").records) == first.labels.frames_total == 3

    # started again: the frames done are skipped, the rest labelled, then the student trains with distillation
    events.clear()
    stop_at = 2  # stop the training after its second step
    steps = lambda: sum(1 for e in events if getattr(e, "kind", None) == EventKind.STEP)  # noqa: E731
    second = pseudo_label_then_train(cfg, stage, on_progress=events.append, should_stop=lambda: steps() >= stop_at)
    assert second.labels.frames_skipped == 3 and second.labels.frames_total == 6
    kinds = _stages(events)
    assert kinds.index(STAGE_LABELLED) < kinds.index("train") and kinds.count(STAGE_LABELLED) == 1
    assert second.train is not None and second.train.stopped and (run / "last.pt").is_file()
    ds = load_voc(run / LABELS_DIR, "train")
    assert len(ds.records) == 5 and sum(len(r.labels) for r in ds.records) > 5
    trained = [e for e in events if getattr(e, "kind", None) == EventKind.STEP]
    assert all(e.loss > 0 for e in trained)

    # refused without resume: the folder holds a run now
    with pytest.raises(RunExistsError):
        pseudo_label_then_train(cfg, stage)

    # resumed from last.pt: the complete labelling is not run again; the training ends with the weights
    events.clear()
    third = pseudo_label_then_train(replace_resume(cfg, run), stage, on_progress=events.append)
    assert STAGE_LABEL not in _stages(events) and _stages(events)[0] == STAGE_LABELLED
    assert third.train is not None and not third.stopped and (run / "model.pt").is_file()
    assert third.train.iterations == 4  # 5 training frames, batch 4, two epochs
    from core.weights import load_weights

    saved = load_weights(run / "model.pt")
    assert tuple(saved.class_names) == tuple(ds.class_names)
    rows = read_metrics_csv(run / "metrics.csv")  # distilling from the teacher: its term is logged at every step
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4] and all(r["distill_loss"] is not None for r in rows)


def replace_resume(cfg: TrainConfig, run: Path) -> TrainConfig:
    from dataclasses import replace

    return replace(cfg, resume=str(run / "last.pt"))


def test_the_training_config_points_at_the_dataset_in_the_run_folder(tmp_path: Path) -> None:
    stage = TeacherStage(sources=("a.mp4",), teacher="t.pt", distill=True)
    cfg = teacher_train_config(TrainConfig(out_dir=str(tmp_path / "r")), stage)
    assert (cfg.data_format, cfg.data_path, cfg.train_split, cfg.val_split, cfg.distill_teacher) == (
        "voc", str(tmp_path / "r" / LABELS_DIR), "train", "val", "t.pt")
    assert teacher_train_config(cfg, stage) == cfg
    assert TeacherStage.from_dict(stage.to_dict()) == stage
    assert parse_classes(" circle, star,,circle ") == ("circle", "star") and parse_classes("  ") is None
    with pytest.raises(ValueError, match="every"):
        TeacherStage(sources=("a.mp4",), every=0)
    with pytest.raises(ValueError, match="at least one"):
        TeacherStage(sources=())


def test_ssd_train_unlabelled_labels_then_trains(short_video: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    from core.cli import main

    run = tmp_path / "run"
    student = ["--model", "ssd300", "--priors", "coco", "--width", "0.125", "--epochs", "1", "--batch-size", "2",
               "--warmup-iters", "0", "--augment", "none", "--checkpoint-every", "0", "--workers", "0"]
    assert main(["train", "--unlabelled", str(short_video), "--teacher", "demo", "--teacher-thresh", "0.4",
                 "--every", "3", "--distill-from-teacher", *student, "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert "pseudo-labels: 4 frame(s)" in err and "finished after 2 iterations" in err
    assert [r.image_id for r in load_voc(run / LABELS_DIR, "trainval").records] == [
        f"shapes_{i:06d}" for i in range(0, 12, 3)]
    assert (run / "model.pt").is_file()
    assert all(r["distill_loss"] is not None for r in read_metrics_csv(run / "metrics.csv"))

    # the teacher's options without footage are an error naming them
    assert main(["train", "--every", "2", "--teacher", "demo", *student, "--out", str(tmp_path / "other")]) == 2
    assert "--teacher, --every: only with --unlabelled" in capsys.readouterr().err
