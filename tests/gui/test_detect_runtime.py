"""The Detect view's runtime and NMS choices, driven as a person would: the runtime box and the Model >
Runtime menu, the int8 progress dialog and its Cancel button, the NMS box; the choices kept between
sessions. Real widgets, the tiny real model of tests/gui/assets.py, real decoded video, real OpenVINO."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from core import load_detector
from core.data.synthetic import render_video
from core.detector import available_devices
from core.runtime import choose_runtime, openvino_available, runtime_choices, runtime_label
from ssd_gui.main_window import MainWindow
from ssd_gui.state.detect import RUN_SCORE_THRESH, DetectionResult, RuntimeChoice
from ssd_gui.views.detect_view import DetectView

WAIT_MS = 30_000
needs_openvino = pytest.mark.skipif(not openvino_available(), reason="OpenVINO is not installed")


def _load_and_open(qtbot, view: DetectView, weights: Path, source: Path) -> DetectionResult:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS):
        view.load_model(weights)
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS) as blocker:
        view.open_source(source, play=False)
    return blocker.args[0]


def _menu_action(view: DetectView, label: str):  # type: ignore[no-untyped-def]
    return next(a for a in view.models.runtime_menu.actions() if a.text() == label)


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert len(a) == len(b) > 0
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.boxes, b.boxes, rtol=0, atol=1e-3)
    np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-5)


def test_the_runtime_list_is_cores_and_the_default_is_the_clis_auto(qtbot, detect_view, detect_assets) -> None:  # type: ignore[no-untyped-def]
    combo = detect_view.models.runtime.combo
    offered = [combo.itemData(i) for i in range(combo.count())]
    assert [(c.device, c.runtime, c.precision) for c in offered] == [
        (d, r, p) for d in available_devices() for r, p in runtime_choices(d)]
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert [a.text() for a in detect_view.models.runtime_menu.actions()] == labels
    if openvino_available():
        assert labels[:3] == ["OpenVINO fp32", "OpenVINO int8", "PyTorch fp32 (exact)"]
    if torch.cuda.is_available():
        assert {"CUDA fp32", "CUDA fp16", "CUDA bf16"} <= set(labels)
    auto, _ = choose_runtime("auto", "cpu", "fp32")
    assert detect_view.state.runtime_choice == RuntimeChoice("cpu", auto, "fp32") and combo.currentIndex() == 0

    _load_and_open(qtbot, detect_view, detect_assets["weights"], detect_assets["video"])
    det = detect_view.detector
    assert (det.runtime, det.precision) == (auto, "fp32")
    assert detect_view.models.model_label.text() == f"tiny.pt: 3 classes, {runtime_label(det)}"
    assert detect_view.stats.runtime_label.text() == runtime_label(det)


def test_choosing_pytorch_reloads_the_model_and_the_paused_frame_gets_its_boxes(qtbot, detect_view, detect_assets) -> None:  # type: ignore[no-untyped-def]
    first = _load_and_open(qtbot, detect_view, detect_assets["weights"], detect_assets["video"])
    before = detect_view.detector
    with qtbot.waitSignal(detect_view.model_changed, timeout=WAIT_MS) as changed, \
            qtbot.waitSignal(detect_view.result_shown, timeout=WAIT_MS) as shown:
        _menu_action(detect_view, "PyTorch fp32 (exact)").trigger()
    det = changed.args[0]
    assert det is not before and detect_view.detector is det and (det.runtime, det.precision) == ("torch", "fp32")
    assert detect_view.models.runtime.combo.currentText() == "PyTorch fp32 (exact)"
    assert _menu_action(detect_view, "PyTorch fp32 (exact)").isChecked()
    assert runtime_label(det) in detect_view.models.model_label.text()
    assert "PyTorch fp32" in detect_view.stats.runtime_label.text()
    again = shown.args[0]
    assert again.frame.index == first.frame.index
    reference = load_detector(detect_assets["weights"], runtime="torch", optimize=True)
    _same(again.detections, reference.detect([again.frame.image], score_thresh=RUN_SCORE_THRESH)[0])


@needs_openvino
@pytest.mark.slow  # quantizes twice (cancelled, then whole): ~10 s on an idle 2-core CPU
def test_int8_shows_its_progress_can_be_cancelled_and_then_runs(qtbot, detect_view, detect_assets, tmp_path,  # type: ignore[no-untyped-def]
                                                                 monkeypatch) -> None:
    """The tiny model records no training data, so int8 calibrates on the frames of the open video."""
    monkeypatch.setenv("SSD_CACHE_DIR", str(tmp_path / "cache"))  # nothing quantized yet: no cache hit
    video = render_video(tmp_path / "calib.mp4", seconds=3, fps=10, seed=5, size=(160, 120))
    _load_and_open(qtbot, detect_view, detect_assets["weights"], video)
    fp32 = detect_view.detector
    combo = detect_view.models.runtime.combo
    assert combo.currentText() == "OpenVINO fp32"
    combo.setFocus()
    with qtbot.waitSignal(detect_view.model_failed, timeout=WAIT_MS) as failed:
        qtbot.keyClick(combo, Qt.Key.Key_Down)  # the next entry: OpenVINO int8
        dialog = detect_view.models.progress_dialog
        assert dialog is not None and dialog.isVisible()
        qtbot.waitUntil(lambda: " of " in dialog.labelText(), timeout=WAIT_MS)
        cancel = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Cancel")
        qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    assert "cancelled" in failed.args[0] and detect_view.models.progress_dialog is None
    assert detect_view.detector is fp32 and "Still using tiny.pt" in detect_view.banner.text()
    # the box shows again what runs
    assert detect_view.state.runtime_choice.precision == "fp32" and combo.currentText() == "OpenVINO fp32"

    with qtbot.waitSignal(detect_view.model_changed, timeout=60_000) as changed, \
            qtbot.waitSignal(detect_view.result_shown, timeout=60_000) as shown:
        qtbot.keyClick(combo, Qt.Key.Key_Down)
    det = changed.args[0]
    assert (det.runtime, det.precision) == ("openvino", "int8") and combo.currentText() == "OpenVINO int8"
    calibration = det.runtime_info["calibration"]
    assert calibration["source"] == str(video) and calibration["count"] == 30
    assert "OpenVINO int8 (CPU)" in detect_view.models.model_label.text()
    assert len(shown.args[0].detections) > 0


@needs_openvino
def test_the_int8_progress_dialog_stays_up_in_one_place_through_every_phase(qtbot, detect_view, detect_assets,  # type: ignore[no-untyped-def]
                                                                          tmp_path, monkeypatch) -> None:
    """Issue 19, item 19: calibration, quantization and compilation in one dialog that neither hides between
    phases nor moves, with texts that say what their numbers count."""
    from PySide6.QtCore import QEvent, QObject

    monkeypatch.setenv("SSD_CACHE_DIR", str(tmp_path / "cache"))
    video = render_video(tmp_path / "calib.mp4", seconds=1, fps=10, seed=5, size=(160, 120))
    _load_and_open(qtbot, detect_view, detect_assets["weights"], video)

    class Watch(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.events: list[str] = []

        def eventFilter(self, obj, event) -> bool:  # type: ignore[no-untyped-def] # noqa: N802 - Qt's name
            if event.type() in (QEvent.Type.Hide, QEvent.Type.Move, QEvent.Type.Resize):
                self.events.append(event.type().name)
            return False

    watch, texts = Watch(), []
    with qtbot.waitSignal(detect_view.model_changed, timeout=60_000) as changed:
        _menu_action(detect_view, "OpenVINO int8").trigger()
        dialog = detect_view.models.progress_dialog
        assert dialog is not None and dialog.isVisible()
        dialog.installEventFilter(watch)
        where = dialog.pos()
        qtbot.waitUntil(lambda: texts.append(dialog.labelText()) or detect_view.models.progress_dialog is not dialog
                        or "Compiling" in dialog.labelText(), timeout=60_000)
        assert dialog.isVisible() and dialog.pos() == where
        assert watch.events == [], watch.events  # through calibration and quantization: never hidden, moved, resized
    assert changed.args[0].precision == "int8"
    read = [t for t in texts if "calibration" in t]
    assert read and all(re.fullmatch(r"Reading calibration images… \d+ of \d+ images read", t) for t in read), read
    assert all(not re.search(r"\(\d+\)", t) for t in texts), texts  # no unexplained "(25)"


def test_nms_choice_applies_to_the_running_model_without_reloading(qtbot, detect_view, detect_assets) -> None:  # type: ignore[no-untyped-def]
    hard = _load_and_open(qtbot, detect_view, detect_assets["weights"], detect_assets["video"])
    det = detect_view.detector
    loads: list[str] = []
    detect_view.state.events.loading.connect(loads.append)
    combo = detect_view.nms.combo
    assert combo.currentData() == "hard" and detect_view.stats.nms_label.text() == combo.currentText()
    combo.setFocus()
    shown = []
    for _ in range(2):  # down to soft-NMS, linear, then to soft-NMS, Gaussian: each detects the frame again
        with qtbot.waitSignal(detect_view.result_shown, timeout=WAIT_MS) as blocker:
            qtbot.keyClick(combo, Qt.Key.Key_Down)
        shown.append(blocker.args[0])
    linear, soft = shown
    assert loads == [] and detect_view.detector is det and det.config.postprocess.nms == "soft-gaussian"
    assert combo.currentText() == "soft-NMS, Gaussian" == detect_view.stats.nms_label.text()
    assert soft.frame.index == linear.frame.index == hard.frame.index
    reference = load_detector(detect_assets["weights"], runtime=det.runtime, optimize=True)
    for result, method in ((soft, "soft-gaussian"), (linear, "soft-linear"), (hard, "hard")):
        _same(result.detections, reference.detect([result.frame.image], score_thresh=RUN_SCORE_THRESH, nms=method)[0])
    # overlapping boxes are decayed, not removed: other boxes and scores than hard NMS's
    assert not np.array_equal(soft.detections.scores, hard.detections.scores)

    # a model loaded later runs with the NMS chosen here
    with qtbot.waitSignal(detect_view.model_changed, timeout=WAIT_MS) as changed:
        detect_view.load_model(detect_assets["weights"])
    assert changed.args[0].config.postprocess.nms == "soft-gaussian"


def test_runtime_and_nms_choices_are_kept_between_sessions(qtbot, detect_assets) -> None:  # type: ignore[no-untyped-def]
    win = MainWindow(start_demo=False)
    qtbot.addWidget(win)
    view = win.detect_view
    model_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Model")
    assert view.models.runtime_menu in [a.menu() for a in model_menu.actions()]
    _menu_action(view, "PyTorch fp32 (exact)").trigger()
    view.nms.combo.setFocus()
    qtbot.keyClick(view.nms.combo, Qt.Key.Key_Down)  # soft-NMS, linear
    assert view.state.nms == "soft-linear"
    win.close()

    again = MainWindow(start_demo=False)
    qtbot.addWidget(again)
    s = again.detect_view.state
    assert (s.runtime_choice, s.nms) == (RuntimeChoice("cpu", "torch", "fp32"), "soft-linear")
    assert again.detect_view.models.runtime.combo.currentText() == "PyTorch fp32 (exact)"
    assert again.detect_view.nms.combo.currentText() == "soft-NMS, linear"
    again.close()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_choices_run_the_model_on_the_gpu(qtbot, detect_view, detect_assets) -> None:  # type: ignore[no-untyped-def]
    _load_and_open(qtbot, detect_view, detect_assets["weights"], detect_assets["video"])
    for precision in ("fp32", "fp16", "bf16"):
        with qtbot.waitSignal(detect_view.model_changed, timeout=WAIT_MS) as changed, \
                qtbot.waitSignal(detect_view.result_shown, timeout=WAIT_MS) as shown:
            _menu_action(detect_view, f"CUDA {precision}").trigger()
        det = changed.args[0]
        assert det.device.type == "cuda" and det.precision == precision
        assert len(shown.args[0].detections) > 0
