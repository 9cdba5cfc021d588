"""The Train dialog's "Unlabelled images or video + teacher model" source, driven as a person would: a real
synthetic video, the bundled demo model as the teacher, a tiny student. The labelling is the first stage of
the run, with its own bar in the Train view; Stop during it keeps the frames done and Resume continues."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from core.data.voc import load_voc
from core.engine import TrainProgress, read_metrics_csv
from core.engine.teacher_run import LABELS_DIR, STAGE_LABEL, STAGE_LABELLED, TeacherStage
from core.jobs import Progress
from ssd_gui.dialogs.train_dialog import TEACHER, TrainDialog
from ssd_gui.views.train_view import TrainView
from tests.gui.test_train_view import _set as _type  # type like a person: select all, keys

WAIT_MS = 180_000


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 frames (160x160, 10 fps) of moving shapes: a real MP4, decoded for real."""
    from core.data.synthetic_files import render_video

    return render_video(tmp_path_factory.mktemp("clip") / "street.mp4", seconds=4, fps=10, seed=11, size=(160, 160))


def _fill(qtbot, dialog: TrainDialog, clip: Path, out_dir: Path, *, every: int, distill: bool,  # type: ignore[no-untyped-def]
          batch: int, max_iterations: int | None = None) -> None:
    """The teacher source with the demo model on ``clip``, and a tiny student of the teacher's architecture."""
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(TEACHER))
    teacher = dialog.teacher_fields
    teacher.sources.add([str(clip)])  # what "Add files…" does with the files chosen
    _type(qtbot, teacher.widget("teacher"), "demo")
    _type(qtbot, teacher.widget("score_thresh"), "0.4")
    _type(qtbot, teacher.widget("every"), every)
    teacher.widget("distill").setChecked(distill)
    field = dialog.widget
    field("arch").setCurrentIndex(field("arch").findData("ssd300"))
    field("priors").setCurrentIndex(field("priors").findData("coco"))  # the demo model's default boxes
    _type(qtbot, field("width"), 0.125)
    _type(qtbot, field("epochs"), 1)
    _type(qtbot, field("batch_size"), batch)
    _type(qtbot, field("warmup_iters"), 0)
    _type(qtbot, field("checkpoint_every"), 0)
    if max_iterations is not None:
        _type(qtbot, field("max_iterations"), max_iterations)
    field("augment").setCurrentIndex(field("augment").findData("none"))
    _type(qtbot, field("out_dir"), str(out_dir))


def _start(qtbot, view: TrainView) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(view.run_started, timeout=5000):
        qtbot.mouseClick(view.dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)


def test_the_teacher_source_in_the_dialog(qtbot, tmp_path: Path, clip: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = TrainDialog(devices=["cpu"])
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.teacher_fields.isVisible() and dialog.teacher_stage() is None
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(TEACHER))
    assert dialog.teacher_fields.isVisible()
    assert not dialog.widget("data_path").isVisible() and not dialog.widget("synthetic_count").isVisible()
    assert not dialog.widget("val_split").isVisible() and dialog.widget("arch").isVisible()
    with pytest.raises(ValueError, match="Sources"):
        dialog.config()
    assert "a field above is not valid" in dialog.estimate.text() or dialog.estimate.measure() is None

    _fill(qtbot, dialog, clip, tmp_path / "run", every=3, distill=True, batch=2)
    _type(qtbot, dialog.teacher_fields.widget("classes"), "circle, star")
    stage, cfg = dialog.teacher_stage(), dialog.config()
    assert stage == TeacherStage(sources=(str(clip),), teacher="demo", score_thresh=0.4, every=3,
                                 classes=("circle", "star"), distill=True)
    assert (cfg.data_format, cfg.data_path, cfg.train_split, cfg.val_split, cfg.distill_teacher) == (
        "voc", str(tmp_path / "run" / LABELS_DIR), "train", "val", "demo")
    assert dialog.estimate.measure() is None and "labelled" in dialog.estimate.text()

    dialog.teacher_fields.widget("every").setValue(0)  # below the spec's minimum: the spin box refuses it
    assert dialog.teacher_stage().every == 1
    _type(qtbot, dialog.teacher_fields.widget("score_thresh"), "1.5")
    with pytest.raises(ValueError, match="Teacher threshold"):
        dialog.teacher_stage()
    dialog.accept()
    assert dialog.isVisible() and "Teacher threshold" in dialog.error_label.text()

    # a config and stage go into the fields and come back unchanged
    other = TrainDialog(devices=["cpu"])
    qtbot.addWidget(other)
    other.set_config(cfg, stage)
    assert other.teacher_mode and other.teacher_stage() == stage and other.config() == cfg
    assert other.widget("distill_teacher").text() == ""  # said by the check box, not repeated in the path field
    other.teacher_fields.sources.list.setCurrentRow(0)
    other.teacher_fields.sources.remove_selected()
    assert other.teacher_fields.sources.paths() == ()


def test_labelling_stage_then_training_in_the_view(qtbot, tmp_path: Path, clip: Path) -> None:  # type: ignore[no-untyped-def]
    view = TrainView()
    qtbot.addWidget(view)
    view.show()
    stages: list[Progress] = []
    steps: list[TrainProgress] = []
    view.stage_shown.connect(stages.append)
    view.progress_shown.connect(steps.append)
    run = tmp_path / "run"
    qtbot.mouseClick(view.new_button, Qt.MouseButton.LeftButton)
    _fill(qtbot, view.dialog, clip, run, every=4, distill=True, batch=4)
    _start(qtbot, view)
    assert view.status.stage_bar.isVisible() and "Stage 1 of 2" in view.status.stage_label.text()
    with qtbot.waitSignal(view.run_finished, timeout=WAIT_MS) as done:
        pass
    result = done.args[0]
    assert not result.stopped and Path(result.checkpoint).is_file() and (run / "model.pt").is_file()

    # the stage's progress reached the view: every frame, then its end; the training came after
    labelled = [p for p in stages if p.stage == STAGE_LABEL and p.total == 10]
    assert [p.done for p in labelled][-10:] == list(range(1, 11))
    assert [p.stage for p in stages][-1] == STAGE_LABELLED
    assert view.status.stage_bar.value() == view.status.stage_bar.maximum() == 10
    assert "done" in view.status.stage_label.text() and "pseudo-labelling done" in view.log.toPlainText()
    assert steps and all(isinstance(p, TrainProgress) for p in steps)

    # the run folder holds the pseudo-label dataset it trained on and the checkpoint
    ds = load_voc(run / LABELS_DIR, "trainval")
    assert [r.image_id for r in ds.records] == [f"street_{i:06d}" for i in range(0, 40, 4)]
    assert sum(len(r.labels) for r in ds.records) >= 10
    assert json.loads((run / LABELS_DIR / "pseudo_label.json").read_text())["complete"]
    assert view.config.data_path == str(run / LABELS_DIR) and view.config.distill_teacher == "demo"
    rows = read_metrics_csv(result.metrics_csv)
    assert len(rows) == result.iterations == 3 and all(r["distill_loss"] is not None for r in rows)
    assert view.evaluate_button.isEnabled() and view.evaluation_dataset() == {
        "kind": "voc", "path": str(run / LABELS_DIR), "split": "val"}

    # the next dialog proposes the same source and teacher, in a new folder
    qtbot.mouseClick(view.new_button, Qt.MouseButton.LeftButton)
    again = view.dialog
    assert again.teacher_mode and again.teacher_stage() == view.state.teacher
    assert again.config().out_dir != str(run)
    again.reject()


def test_stop_while_labelling_then_resume(qtbot, tmp_path: Path, clip: Path) -> None:  # type: ignore[no-untyped-def]
    view = TrainView()
    qtbot.addWidget(view)
    view.show()
    run = tmp_path / "run"
    frames: list[Any] = []
    view.stage_shown.connect(lambda p: frames.append(p) if p.stage == STAGE_LABEL and p.done else None)
    qtbot.mouseClick(view.new_button, Qt.MouseButton.LeftButton)
    _fill(qtbot, view.dialog, clip, run, every=1, distill=False, batch=8, max_iterations=2)
    _start(qtbot, view)
    qtbot.waitUntil(lambda: bool(frames), timeout=WAIT_MS)
    with qtbot.waitSignal(view.run_finished, timeout=WAIT_MS) as stopped:
        qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
    first = stopped.args[0]
    assert first.train is None and first.labels.partial and 0 < first.labels.frames_total < 40
    assert not (run / "last.pt").exists() and view.resume_button.isEnabled()
    assert "while pseudo-labelling" in view.status.status_label.text()
    assert view.status.stage_bar.value() < view.status.stage_bar.maximum() == 40
    assert len(load_voc(run / LABELS_DIR, "trainval").records) == first.labels.frames_total

    with qtbot.waitSignal(view.run_finished, timeout=WAIT_MS) as finished:
        qtbot.mouseClick(view.resume_button, Qt.MouseButton.LeftButton)
    result = finished.args[0]
    assert not result.stopped and Path(result.checkpoint).is_file()
    assert view.state.labels.frames_skipped == first.labels.frames_total and view.state.labels.frames_total == 40
    assert len(load_voc(run / LABELS_DIR, "trainval").records) == 40
