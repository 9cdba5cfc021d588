"""Models the Detect view opens: exported networks (ONNX, OpenVINO IR, TorchScript) through the real file
dialog and by drag and drop, bad model files that leave the running model in place, and an SSDlite320
model on the demo video. Real widgets, real models made here, real files, real decoding."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QFileSystemModel, QLineEdit

from core import load_detector
from core.config import preset
from core.detector import DEMO_VIDEO, Detector
from core.model import build_model
from core.io.video import open_source
from core.weights import save_checkpoint
from ssd_gui.main_window import MainWindow
from ssd_gui.state.detect import RUN_SCORE_THRESH, DetectionResult
from ssd_gui.views.detect_view import DetectView
from tests.gui.assets import CLASS_NAMES, TrustAnswer, drop_files

pytest.importorskip("openvino")
pytest.importorskip("onnx")

WAIT_MS = 30_000


@pytest.fixture(scope="module")
def exported(detect_assets, tmp_path_factory) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    from core.runtime.export import export_model

    d = tmp_path_factory.mktemp("exported")
    w = detect_assets["weights"]
    return {"onnx": export_model(w, "onnx", d / "tiny.onnx"), "xml": export_model(w, "openvino", d / "tiny.xml"),
            "torchscript": export_model(w, "torchscript", d / "tiny.torchscript")}


def _open_paused(qtbot, view: DetectView, source: Path) -> DetectionResult:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS) as blocker:
        view.open_source(source, play=False)
    return blocker.args[0]


def _same_as_core(result: DetectionResult, path: Path, runtime: str) -> None:
    """The view's detections of ``result.frame`` are what core's own loader of ``path`` gives on ``runtime``."""
    trust = path.suffix == ".torchscript"  # the test made this file: it runs only our own traced network
    ref = load_detector(path, runtime=runtime, trust_code=trust).detect([result.frame.image],
                                                                       score_thresh=RUN_SCORE_THRESH)[0]
    got = result.detections
    assert len(got) == len(ref) > 0 and result.class_names == CLASS_NAMES
    np.testing.assert_array_equal(got.labels, ref.labels)
    np.testing.assert_allclose(got.boxes, ref.boxes, rtol=0, atol=1e-3)
    np.testing.assert_allclose(got.scores, ref.scores, rtol=0, atol=1e-5)


class _DialogAnswer:
    """Answers the open-file dialog the view shows: goes to the folder of ``path``, waits until the dialog
    lists it, notes which files it offers (enabled under the first filter), then types ``path`` into its
    file name box and accepts."""

    def __init__(self, path: Path) -> None:
        self.path, self.filters, self.offered, self.tries = path, [], set(), 0

    def __call__(self) -> None:
        dialog = next((w for w in QApplication.topLevelWidgets() if isinstance(w, QFileDialog) and w.isVisible()), None)
        self.tries += 1
        if dialog is not None and self.tries == 1:
            dialog.setDirectory(str(self.path.parent))  # as a person goes to the folder
        model = dialog.findChild(QFileSystemModel) if dialog is not None else None
        root = model.index(str(self.path.parent)) if model is not None else None
        if root is None or model.rowCount(root) == 0:
            if self.tries < 200:
                QTimer.singleShot(50, self)
            elif dialog is not None:
                dialog.reject()
            return
        self.filters = dialog.nameFilters()
        for row in range(model.rowCount(root)):
            index = model.index(row, 0, root)
            if model.flags(index) & Qt.ItemFlag.ItemIsEnabled:
                self.offered.add(model.fileName(index))
        dialog.findChild(QLineEdit, "fileNameEdit").setText(str(self.path))
        dialog.accept()


def test_the_open_dialog_offers_exported_networks_and_they_load(qtbot, detect_view, detect_assets, exported) -> None:  # type: ignore[no-untyped-def]
    folder = exported["onnx"].parent
    (folder / "notes.txt").write_text("not a model\n")
    _open_paused(qtbot, detect_view, detect_assets["video"])
    for kind, fmt in (("onnx", "onnx"), ("xml", "openvino"), ("torchscript", "torchscript")):
        answer = _DialogAnswer(exported[kind])
        QTimer.singleShot(0, answer)
        trust = TrustAnswer(open_it=True)
        if kind == "torchscript":  # it runs code: the app asks first, and the person says yes
            QTimer.singleShot(0, trust)
        with qtbot.waitSignal(detect_view.model_changed, timeout=WAIT_MS) as changed, \
                qtbot.waitSignal(detect_view.result_shown, timeout=WAIT_MS) as shown:
            detect_view.models.open_weights_action.trigger()
        assert ("runs the TorchScript code inside it" in trust.text) == (kind == "torchscript")
        assert {"tiny.onnx", "tiny.xml", "tiny.torchscript"} <= answer.offered and "notes.txt" not in answer.offered
        assert "*.onnx" in answer.filters[0] and "*.xml" in answer.filters[0]
        det = changed.args[0]
        assert det.weights_format == fmt and Path(det.weights_path) == exported[kind]
        assert detect_view.models.model_label.text().startswith(f"{exported[kind].name}: 3 classes")
        _same_as_core(shown.args[0], exported[kind], det.runtime)


def test_exported_networks_dropped_on_the_window_load_in_detect(qtbot, detect_assets, exported) -> None:  # type: ignore[no-untyped-def]
    win = MainWindow(start_demo=False)
    qtbot.addWidget(win)
    win.show()
    view = win.detect_view
    try:
        win.tabs.setCurrentWidget(win.evaluate_view)
        with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS) as changed, \
                qtbot.waitSignal(view.source_opened, timeout=WAIT_MS):
            assert drop_files(win, [detect_assets["video"], exported["onnx"]])
        assert changed.args[0].weights_format == "onnx" and win.tabs.currentWidget() is view
        view.pause()  # the dropped video plays; paused, a new model detects the frame shown, and nothing else comes
        qtbot.waitUntil(lambda: not view.playing and view.pipeline.detection.is_idle(), timeout=WAIT_MS)
        qtbot.wait(200)  # results already queued for the GUI thread arrive now
        for kind in ("xml", "torchscript"):
            if kind == "torchscript":
                QTimer.singleShot(0, TrustAnswer(open_it=True))
            with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS) as changed, \
                    qtbot.waitSignal(view.result_shown, timeout=WAIT_MS) as shown:
                assert drop_files(win, [exported[kind]])
            assert Path(changed.args[0].weights_path) == exported[kind]
            _same_as_core(shown.args[0], exported[kind], changed.args[0].runtime)
    finally:
        win.close()


def _bad_models(folder: Path, weights: Path, exported: dict[str, Path]) -> list[Path]:
    """A truncated .onnx, an .xml whose .bin is missing, an ONNX of another network, a checkpoint holding NaN."""
    cut = folder / "cut.onnx"
    cut.write_bytes(exported["onnx"].read_bytes()[: exported["onnx"].stat().st_size // 2])
    lonely = folder / "lonely.xml"
    shutil.copy(exported["xml"], lonely)
    other = folder / "classifier.onnx"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
        torch.onnx.export(net, (torch.zeros(1, 3, 32, 32),), str(other), opset_version=17, dynamo=False)
    lw = torch.load(weights, weights_only=True)
    key = next(k for k, v in lw["model"].items() if v.is_floating_point())
    lw["model"][key][0] = float("nan")
    nan = folder / "nan.pt"
    torch.save(lw, nan)
    return [cut, lonely, other, nan]


def test_a_bad_model_file_is_named_and_the_previous_model_keeps_running(qtbot, detect_view, detect_assets, exported,  # type: ignore[no-untyped-def]
                                                                         tmp_path) -> None:
    with qtbot.waitSignal(detect_view.model_changed, timeout=WAIT_MS):
        detect_view.load_model(detect_assets["weights"])
    first = _open_paused(qtbot, detect_view, detect_assets["video"])
    good, choice = detect_view.detector, detect_view.state.runtime_choice
    assert len(first.detections) > 0
    for bad in _bad_models(tmp_path, detect_assets["weights"], exported):
        with qtbot.waitSignal(detect_view.model_failed, timeout=WAIT_MS) as failed:
            detect_view.load_model(bad)
        assert str(bad) in failed.args[0], failed.args[0]
        assert bad.name in detect_view.banner.text() and "Still using tiny.pt" in detect_view.banner.text()
        assert detect_view.detector is good and detect_view.state.detector is good
        assert detect_view.state.runtime_choice == choice
        assert detect_view.models.model_label.text().startswith("tiny.pt: 3 classes")
        target = detect_view.state.position + 1
        with qtbot.waitSignal(detect_view.result_shown, timeout=WAIT_MS,
                              check_params_cb=lambda r, t=target: r.frame.index == t) as stepped:
            detect_view.step()
        assert len(stepped.args[0].detections) > 0 and stepped.args[0].class_names == CLASS_NAMES


def tiny_ssdlite(path: Path, frames: list[np.ndarray]) -> Path:
    """SSDlite320-MobileNetV3 at width 0.125 with random weights whose scores are spread and distinct.

    Freshly initialised, its activations vanish layer after layer (every score ~1/C, ties everywhere), so
    the BatchNorm statistics are measured on ``frames`` first; then the classifiers' last convolutions are
    scaled by 3 and the background logit raised by 2, so a few tens of boxes per frame score above 0.4.
    """
    torch.manual_seed(0)
    cfg = preset("ssdlite320_mobilenet_v3_large", num_classes=len(CLASS_NAMES), width=0.125)
    model = build_model(cfg.model)
    x = Detector(model, cfg, CLASS_NAMES).preprocess(frames)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # a plain average over these frames
    model.train()
    with torch.no_grad():
        model(x)
        for bn in norms:
            bn.momentum = 0.03
        counts = cfg.model.priors.boxes_per_location
        for block, n in zip(model.head.classification_head.module_list, counts):
            last = [c for c in block.modules() if isinstance(c, torch.nn.Conv2d)][-1]
            last.weight.mul_(3.0)
            last.bias.view(n, len(CLASS_NAMES))[:, 0] += 2.0
    return save_checkpoint(path, model.eval(), cfg, CLASS_NAMES)


def test_the_demo_video_plays_with_an_ssdlite_model_and_shows_its_detections(qtbot, detect_view, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with open_source(DEMO_VIDEO) as src:
        frames = [f.image for f, _ in zip(src, range(40))][::10]
    weights = tiny_ssdlite(tmp_path / "ssdlite_tiny.pt", frames)
    with qtbot.waitSignal(detect_view.model_changed, timeout=WAIT_MS) as changed:
        detect_view.load_model(weights)
    det = changed.args[0]
    assert det.config.model.arch == "ssdlite320_mobilenet_v3_large" and det.config.model.priors.num_priors == 3234
    detect_view.set_min_score(0.4)
    results: list[DetectionResult] = []
    detect_view.result_shown.connect(results.append)
    detect_view.open_source(DEMO_VIDEO, play=True)
    qtbot.waitUntil(lambda: len({r.frame.index for r in results}) >= 5, timeout=60_000)
    detect_view.pause()
    assert detect_view.state.source.name == DEMO_VIDEO.name
    for r in results[:5]:
        scores = r.detections.scores
        assert len(scores) > 0 and len(np.unique(scores)) == len(scores)  # distinct: the kept set is not arbitrary
        assert 0 < int((scores >= 0.4).sum()) < len(scores)
    last = results[-1]
    _same_as_core(last, weights, det.runtime)
    visible = detect_view.state.visible(last)
    assert 0 < len(visible) < len(last.detections)
    detect_view.canvas.grab()  # paint now: the canvas draws the boxes above the threshold
    assert detect_view.canvas.drawn_boxes == len(detect_view.state.visible())
    assert detect_view.canvas.drawn_boxes > 0


def test_a_torchscript_file_declined_in_the_confirmation_never_loads(qtbot, detect_view, detect_assets,  # type: ignore[no-untyped-def]
                                                                    tmp_path) -> None:
    """The app names the risk before opening a file that runs code; Cancel keeps the running model."""
    from ssd_gui.dialogs import trust as trust_dialog
    from core.runtime.export import export_model

    ts = export_model(detect_assets["weights"], "torchscript", tmp_path / "other.torchscript")
    _open_paused(qtbot, detect_view, detect_assets["video"])
    before = detect_view.state.detector
    answer = TrustAnswer(open_it=False)
    QTimer.singleShot(0, answer)
    with qtbot.waitSignal(detect_view.models.failed, timeout=WAIT_MS) as failed:
        assert detect_view.models.load(ts) is None
    assert "can read and write your files" in answer.text and "Open it only if you trust" in answer.text
    assert "declined" in failed.args[0] and detect_view.state.detector is before
    assert ts.resolve() not in trust_dialog._TRUSTED
