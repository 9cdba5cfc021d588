"""The Evaluate view's "no labels: estimate accuracy": the demo model on a short synthetic video.

The view runs ``ssd eval --estimate``'s core function; the spy shrinks its calibration to a few scenes per
shift (as the pipeline tests do) and runs it for real. The panel shows the estimate, its interval and the
calibration scatter with this footage marked.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from core.evaluation.estimate import SignalSettings
from core.evaluation.estimate import run as estimate_run
from ssd_gui.views.evaluate_view import EvaluateView

WAIT_MS = 300_000
SETS = (("clean", 0), ("blur", 2), ("blur", 5), ("noise", 2), ("noise", 5), ("occlusion", 3), ("occlusion", 6))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.data.synthetic import render_video

    return Path(render_video(tmp_path_factory.mktemp("est_clip") / "shapes.mp4", seconds=2, fps=6, seed=5,
                             size=(240, 240)))


def test_estimate_accuracy_without_labels(qtbot, clip: Path, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    view = EvaluateView()
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    calls: list[object] = []
    real = estimate_run.run_estimate

    def spy(request, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(request)
        small = replace(request, calibration_images=6, min_calibration_images=4, sets=SETS, coverage=0.8,
                        min_frames=4, cache_dir=str(tmp_path), settings=SignalSettings(batch_size=6))
        return real(small, **kwargs)

    monkeypatch.setattr(estimate_run, "run_estimate", spy)
    inputs = view.inputs
    inputs.dataset_combo.setCurrentIndex(inputs.dataset_combo.findData("estimate"))
    assert view.pages.currentWidget() is view.estimate_panel
    assert inputs.calib_edit.isVisible() and inputs.every_spin.isVisible() and not inputs.ref_edit.isVisible()
    assert "an estimate with an interval, not a measurement" in inputs.reference_note.text()
    # no model yet: a message, nothing runs
    assert not view.start() and "choose a model file" in view.banner.text()
    qtbot.mouseClick(inputs.demo_button, Qt.MouseButton.LeftButton)
    assert not view.start() and "choose the video, image folder or image" in view.banner.text()
    qtbot.keyClicks(inputs.dataset_edit, str(clip))
    inputs.dataset_edit.editingFinished.emit()
    inputs.every_spin.setValue(2)
    with qtbot.waitSignal(view.estimate_finished, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(inputs.evaluate_button, Qt.MouseButton.LeftButton)
    out = blocker.args[0]
    assert calls[0].images == str(clip) and calls[0].every == 2 and calls[0].calibration_data is None
    assert out.frames == 6

    panel = view.estimate_panel
    assert f"{out.estimate:.3f}" in panel.headline.text() and f"[{out.interval[0]:.3f}, {out.interval[1]:.3f}]" \
        in panel.headline.text()
    assert "not a measurement" in panel.details.text() and "RMS" in panel.details.text()
    # one point per calibration set the fit used, grouped by kind of shift; the footage at its signal (a linear
    # fit on one signal) or its fitted value (several, or the logistic link) and its estimate
    fit = out.calibration.fit
    assert sum(len(item.getData()[0]) for item in panel.points_items) == len(SETS) - len(fit.skipped)
    assert [item.name() for item in panel.points_items] == ["clean", "blur", "noise", "occlusion"]
    x, y = panel.footage_item.getData()
    values = {k: a.value for k, a in out.signals.items()}
    expected_x = values[fit.features[0]] if len(fit.features) == 1 and fit.link == "identity" else fit.predict(values)
    assert x[0] == pytest.approx(expected_x) and y[0] == out.estimate
    # back to a dataset: the evaluation's results return; another model clears the estimate
    inputs.dataset_combo.setCurrentIndex(inputs.dataset_combo.findData("synthetic"))
    assert view.pages.currentWidget() is view.results
    view.set_model(tmp_path / "other.pt")
    assert view.state.estimate is None and panel.footage_item is None
    view.shutdown()
