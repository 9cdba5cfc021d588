"""Evaluating without annotations in the Evaluate view, and comparing two evaluations.

The bundled demo model is the reference: its detections above 0.5 on the frames of a short synthetic
video are the ground truth (``ssd eval --reference``'s core function). The demo model evaluated against
itself agrees fully; kept as "A", it is compared with itself under soft-NMS ("B") on the very same
frames (the reference is not run again), with both PR curves of a class overlaid.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from core.detector import DEMO_WEIGHTS
from core.evaluation import run as evaluation_run
from core.evaluation.compare import compare_evaluations
from core.evaluation.reference import FixedGroundTruth, ReferenceSource
from ssd_gui.views.evaluate_view import COLUMN, EvaluateView

WAIT_MS = 120_000


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 frames (240x240, 6 fps) of moving shapes."""
    from core.data.synthetic import render_video

    return Path(render_video(tmp_path_factory.mktemp("ref_clip") / "shapes.mp4", seconds=2, fps=6, seed=5,
                             size=(240, 240)))


def _evaluate(qtbot, view: EvaluateView):  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(view.evaluation_finished, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(view.inputs.evaluate_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def test_reference_model_as_ground_truth_then_compare_with_soft_nms(qtbot, clip: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    view = EvaluateView()
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    calls: list[object] = []
    real = evaluation_run.run_evaluation

    def spy(request, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(request)  # the very function ssd eval calls, run for real
        return real(request, **kwargs)

    monkeypatch.setattr(evaluation_run, "run_evaluation", spy)
    inputs = view.inputs
    qtbot.mouseClick(inputs.demo_button, Qt.MouseButton.LeftButton)
    inputs.dataset_combo.setCurrentIndex(inputs.dataset_combo.findData("reference"))
    assert inputs.ref_edit.isVisible() and inputs.reference_note.isVisible() and not inputs.count_spin.isVisible()
    assert "not accuracy" in inputs.reference_note.text()
    qtbot.keyClicks(inputs.ref_edit, str(DEMO_WEIGHTS))
    qtbot.keyClicks(inputs.dataset_edit, str(clip))
    inputs.dataset_edit.editingFinished.emit()
    inputs.ref_thresh_spin.setValue(0.5)
    # against itself on the reference's own runtime (PyTorch fp32), so that agreement is exact
    inputs.runtime_combo.setCurrentIndex(inputs.runtime_combo.findData("torch:fp32"))
    out = _evaluate(qtbot, view)

    truth = calls[0].ground_truth
    assert isinstance(truth, ReferenceSource) and truth == ReferenceSource(str(DEMO_WEIGHTS), str(clip), 0.5)
    assert len(out.gt.records) == 12
    # a model against itself: AP 1 for every class the reference detects above its threshold, in the table
    with_objects = [k for k in range(1, len(out.result.class_names)) if out.result.sweep.num_gt[k]]
    assert len(with_objects) >= 2
    for key in ("ap07", "ap12"):
        for label in with_objects:
            assert view.table.rows[label][COLUMN[key]].text() == "1.000", (key, label)
    # the view says plainly what the figures are
    assert "Agreement with a model, not accuracy" in view.summary_label.text()

    # keep it as A; B: the same model under soft-NMS, on the same frames without running the reference again
    qtbot.mouseClick(view.compare_panel.keep_button, Qt.MouseButton.LeftButton)
    assert view.state.kept is out
    inputs.nms_combo.setCurrentIndex(inputs.nms_combo.findData("soft-gaussian"))
    out_b = _evaluate(qtbot, view)
    assert calls[1].nms == "soft-gaussian" and isinstance(calls[1].ground_truth, FixedGroundTruth)
    assert out_b.gt is out.gt or out_b.gt.records == out.gt.records
    assert "Agreement with a model" in view.summary_label.text()  # still said with the reused reference

    # per-class AP side by side with the difference, as core compares them
    expected = compare_evaluations(out, out_b, view.state.metric)
    rows = {r[0]: r for r in view.compare_panel.rows()}
    assert len(rows) == len(expected.rows()) > 0
    for r in expected.rows():
        shown = rows[r["class"]]
        assert shown[2] == f"{r['ap_a']:.3f}" and shown[3] == f"{r['ap_b']:.3f}" and shown[4] == f"{r['diff']:+.3f}"
    assert "soft-gaussian NMS" in view.compare_panel.caption.text()
    # soft-NMS decays overlapping scores rather than removing boxes: B keeps more detections
    assert out_b.result.sweep.num_det.sum() > out.result.sweep.num_det.sum()

    # the PR plot overlays both curves of the selected class, A dashed
    label = view.selected_labels()[0]
    lines = view.pr_plot.lines_for(label)
    assert len(lines) == 2
    assert [ln.opts["pen"].style() for ln in lines] == [Qt.PenStyle.DashLine, Qt.PenStyle.SolidLine]
    a_curve, b_curve = expected.pr_curves(label)
    np.testing.assert_allclose(lines[0].getData()[1][1:], a_curve.precision)
    np.testing.assert_allclose(lines[1].getData()[1][1:], b_curve.precision)

    # forgetting A: one curve per class again
    qtbot.mouseClick(view.compare_panel.clear_button, Qt.MouseButton.LeftButton)
    assert len(view.pr_plot.lines_for(label)) == 1 and view.compare_panel.rows() == []
    view.shutdown()


def test_the_runtime_precision_and_nms_boxes_make_the_request(qtbot) -> None:  # type: ignore[no-untyped-def]
    """What the boxes say is what run_evaluation gets (the model itself runs in the test above)."""
    from core.runtime import runtime_choices

    view = EvaluateView()
    qtbot.addWidget(view)
    inputs = view.inputs
    # the default is the Detect view's and `ssd eval --runtime auto`'s (issue 19, item 19): OpenVINO fp32
    from core.runtime import openvino_available
    from ssd_gui.state.detect import runtime_options

    first = runtime_options([view.state.inputs.device])[0]
    assert inputs.runtime_combo.currentData() == f"{first.runtime}:{first.precision}"
    assert (first.runtime, first.precision) == (("openvino" if openvino_available() else "torch"), "fp32")
    view.set_model(DEMO_WEIGHTS)
    offered = [str(inputs.runtime_combo.itemData(i)) for i in range(inputs.runtime_combo.count())]
    assert offered == [f"{r}:{p}" for r, p in runtime_choices(view.state.inputs.device)]
    for i, key in enumerate(offered):
        inputs.runtime_combo.setCurrentIndex(i)
        request = view.state.inputs.request()
        assert f"{request.runtime}:{request.precision}" == key
    for method in ("hard", "soft-linear", "soft-gaussian", ""):
        inputs.nms_combo.setCurrentIndex(inputs.nms_combo.findData(method))
        assert view.state.inputs.request().nms == (method or None)
    view.set_detections(DEMO_WEIGHTS)  # a detections file: no model options
    assert not inputs.nms_combo.isEnabled() and not inputs.runtime_combo.isEnabled()
    view.shutdown()
