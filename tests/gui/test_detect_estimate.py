"""The Detect view's running accuracy estimate, driven as a person would: off by default, switched on for the
demo model on a synthetic clip (a tiny calibration, run for real in its background job), an estimate once
enough frames were measured, started again for a new source, stopped when switched off; a model that
cannot be calibrated is a message in the panel and the view keeps working."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.detector import DEMO_WEIGHTS
from ssd_gui.views.detect_view import DetectView
from ssd_gui.widgets.live_estimate import OFF_TEXT
from tests.estimate.test_pipeline import SETS

WAIT_MS = 120_000


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from core.data.synthetic import render_video

    folder = tmp_path_factory.mktemp("live_estimate_clips")
    return (Path(render_video(folder / "a.mp4", seconds=2, fps=8, seed=5, size=(240, 240))),
            Path(render_video(folder / "b.mp4", seconds=2, fps=8, seed=6, size=(240, 240))))


def _tiny(panel, cache: Path) -> None:  # type: ignore[no-untyped-def]
    from core.evaluation.estimate import SignalSettings

    panel.options = dict(calibration_images=6, min_calibration_images=4, sets=SETS, coverage=0.8, min_frames=4,
                         cache_dir=str(cache), settings=SignalSettings(batch_size=4))
    panel.interval_s = 0.0  # every frame shown is offered (the test waits for each to be taken)


def _show_frames(qtbot, view: DetectView, n: int) -> None:  # type: ignore[no-untyped-def]
    panel = view.tiles[0].estimate
    for _ in range(n):
        with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS):
            view.step(1)
        qtbot.waitUntil(lambda: panel.mailbox is None or not panel.mailbox.pending, timeout=WAIT_MS)


def test_running_estimate_on_a_clip(qtbot, detect_view: DetectView, clips, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    view = detect_view
    panel = view.tiles[0].estimate
    assert not panel.check.isChecked() and panel.label.text() == OFF_TEXT and not panel.running
    _tiny(panel, tmp_path)
    panel.check.setChecked(True)  # no model yet: a message, no job
    assert not panel.running and "Load a model from a file first" in panel.label.text()
    panel.check.setChecked(False)
    with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS):
        view.load_model(DEMO_WEIGHTS)
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS):
        view.open_source(clips[0], play=False)
    assert panel.mailbox is None  # off: the frames shown are not handed to anything
    panel.check.setChecked(True)
    first = panel.job
    assert panel.running
    qtbot.waitUntil(lambda: panel.value is not None, timeout=WAIT_MS)  # calibrated (tiny), no frame yet
    assert panel.value.frames == 0 and panel.label.text() == "Calibrated; waiting for frames…"
    _show_frames(qtbot, view, 4)
    qtbot.waitUntil(lambda: panel.value is not None and panel.value.frames == 4, timeout=WAIT_MS)
    value = panel.value
    assert value.output is not None and 0.0 <= value.output.estimate <= 1.0
    assert panel.label.text() == value.text() and panel.label.text().startswith("estimated mAP ")
    assert value.output.request.images == str(clips[0]) and not value.output.calibration.cached

    # a new source: the old job stops, a new one starts from no frame
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS):
        view.open_source(clips[1], play=False)
    assert first.wait(30.0) and first.cancelled and panel.job is not first and panel.running
    qtbot.waitUntil(lambda: panel.value is not None, timeout=WAIT_MS)
    assert panel.value.frames == 0
    _show_frames(qtbot, view, 4)
    qtbot.waitUntil(lambda: panel.value is not None and panel.value.frames == 4, timeout=WAIT_MS)
    assert panel.value.output.request.images == str(clips[1])
    assert panel.value.output.calibration.cached  # the model's calibration, measured once

    second = panel.job
    panel.check.setChecked(False)
    assert second.wait(30.0) and second.cancelled and not panel.running and panel.label.text() == OFF_TEXT
    panel.check.setChecked(True)  # on again, then the view closes: the job is stopped and joined
    third = panel.job
    view.shutdown()
    assert third.done.is_set() and third.cancelled


def test_a_model_without_calibration_data_is_a_message(qtbot, detect_view: DetectView, detect_assets, clips,  # type: ignore[no-untyped-def]
                                                       tmp_path: Path) -> None:
    view = detect_view
    panel = view.tiles[0].estimate
    _tiny(panel, tmp_path)
    with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS):
        view.load_model(detect_assets["weights"])  # a tiny model saved without any training record
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS):
        view.open_source(clips[0], play=False)
    panel.check.setChecked(True)
    job = panel.job
    qtbot.waitUntil(lambda: not panel.running, timeout=WAIT_MS)
    assert job.wait(30.0) and not job.cancelled
    assert panel.label.text().startswith("No estimate: accuracy estimate failed: ValueError: cannot calibrate")
    assert "--calibration-data" in panel.label.text()
    # labelled images of its classes in the panel's calibration field: it starts again and calibrates on them
    from core.data.synthetic_files import write_dataset

    coco = write_dataset(tmp_path / "coco", count=24, seed=5, fmt="coco", size=(240, 240))
    panel.calib_edit.setText(str(coco))
    panel.calib_edit.editingFinished.emit()
    assert panel.running and panel.job is not job
    qtbot.waitUntil(lambda: panel.value is not None or not panel.running, timeout=WAIT_MS)
    assert panel.value is not None and panel.value.frames == 0, panel.label.text()
    assert panel.label.text() == "Calibrated; waiting for frames…"
    panel.check.setChecked(False)
    # the view keeps working
    _show_frames(qtbot, view, 1)
    assert view.state.result is not None and view.state.result.frame.index == 1
