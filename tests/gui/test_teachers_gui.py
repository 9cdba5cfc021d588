"""The new teacher kinds in the app, driven as a person would: the Train dialog's teacher picker (zoo, prompts,
plug-in), the Detect view's "Teacher models" menu, and the Evaluate view's reference; a plug-in is loaded only
after the person confirmed the risk, and a teacher's detections in the view are core's own."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialogButtonBox

from core.resolve import load_detector
from ssd_gui.dialogs.train_dialog import TEACHER, TrainDialog
from ssd_gui.widgets.teacher_picker import CODE_WARNING, TeacherPicker
from tests.gui.assets import TrustAnswer
from tests.teachers.builders import plugin_file

WAIT_MS = 120_000


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return plugin_file(tmp_path_factory.mktemp("gui_plugin"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.data.synthetic import render_video

    return Path(render_video(tmp_path_factory.mktemp("teacher_clip") / "yard.mp4", seconds=1, fps=4, seed=3,
                             size=(160, 120)))


def test_the_picker_makes_and_shows_every_kind(qtbot) -> None:  # type: ignore[no-untyped-def]
    picker = TeacherPicker()
    qtbot.addWidget(picker)
    picker.show()
    assert picker.text() == "demo" and picker.kind == "file"
    picker.kind_combo.setCurrentIndex(picker.kind_combo.findData("torchvision"))
    picker.zoo_combo.setCurrentText("retinanet_resnet50_fpn_v2")
    assert picker.text() == "torchvision:retinanet_resnet50_fpn_v2" and not picker.runs_code()
    picker.kind_combo.setCurrentIndex(picker.kind_combo.findData("grounding-dino"))
    assert picker.text() == "" and picker.prompts_edit.isVisible()
    qtbot.keyClicks(picker.prompts_edit, "forklift=forklift,fork lift truck;pallet")
    qtbot.keyClicks(picker.model_edit, "IDEA-Research/grounding-dino-base")
    assert picker.text() == "grounding-dino@IDEA-Research/grounding-dino-base:forklift=forklift,fork lift truck;pallet"
    picker.kind_combo.setCurrentIndex(picker.kind_combo.findData("plugin"))
    assert picker.warning.isVisible() and picker.warning.text() == CODE_WARNING
    qtbot.keyClicks(picker.plugin_file.edit, "/models/my_teacher.py")
    assert picker.text() == "py:/models/my_teacher.py:build" and picker.runs_code()
    for text in ("owlv2@x/y:car;person>0.4", "torchvision:fcos_resnet50_fpn", "py:/a/b.py:make", "runs/x/best.pt",
                 "torchvision:fcos_resnet50_fpn@/w.pth", "py:pkg.mod:build"):
        picker.set_text(text)
        assert picker.text() == text, text


def test_the_train_dialog_takes_a_plugin_teacher_after_the_person_confirms(qtbot, tmp_path: Path, plugin: Path,  # type: ignore[no-untyped-def]
                                                                           clip: Path) -> None:
    dialog = TrainDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(TEACHER))
    fields = dialog.teacher_fields
    fields.sources.add([str(clip)])
    picker = fields.picker
    picker.kind_combo.setCurrentIndex(picker.kind_combo.findData("plugin"))
    picker.plugin_file.setText(str(plugin))
    qtbot.keyClicks(fields.widget("tiles"), "2x2")
    qtbot.keyClicks(fields.widget("rename"), "circle=disc")
    dialog.widget("out_dir").setText(str(tmp_path / "run"))
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    declined = TrustAnswer(open_it=False)
    QTimer.singleShot(0, declined)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert "is a Python plug-in: loading it runs its Python code" in declined.text
    assert dialog.result_config is None and "you declined" in dialog.error_label.text()
    accepted = TrustAnswer(open_it=True)
    QTimer.singleShot(0, accepted)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.result_config is not None and dialog.result_config.trust_code
    stage = dialog.result_teacher
    assert stage.teacher == f"py:{plugin}:build" and stage.tiles == "2x2" and stage.rename == "circle=disc"


def test_the_detect_view_runs_a_teacher_from_its_menu(qtbot, detect_view, plugin: Path, clip: Path) -> None:  # type: ignore[no-untyped-def]
    view = detect_view
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS):
        view.open_source(clip, play=False)
    QTimer.singleShot(0, TrustAnswer(open_it=True))
    with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS) as changed, \
            qtbot.waitSignal(view.result_shown, timeout=WAIT_MS) as shown:
        view.models.teacher_menu.chosen.emit(f"py:{plugin}:build")
    det = changed.args[0]
    assert det.weights_format == "plugin" and det.class_names == ("__background__", "square", "circle")
    assert view.models.model_label.text().startswith("plug-in square_teacher.py:build (fixed squares): 2 classes")
    assert not view.nms.isVisible(), "a teacher does its own suppression: no NMS choice"
    assert not view.models.runtime.combo.isEnabled(), "and runs on PyTorch fp32: no runtime choice"
    result = shown.args[0]
    ref = load_detector(f"py:{plugin}:build", trust_code=True)
    try:
        [expected] = ref.detect([result.frame.image], score_thresh=0.0)
    finally:
        ref.close()
    np.testing.assert_allclose(result.detections.boxes, expected.boxes, atol=1e-4)
    assert result.detections.labels.tolist() == expected.labels.tolist()
    det.close()


def test_the_evaluate_view_takes_a_teacher_as_reference(qtbot, plugin: Path, clip: Path) -> None:  # type: ignore[no-untyped-def]
    from ssd_gui.views.evaluate_view import EvaluateView

    view = EvaluateView()
    qtbot.addWidget(view)
    view.resize(1300, 800)
    view.show()
    inputs = view.inputs
    inputs.dataset_combo.setCurrentIndex(inputs.dataset_combo.findData("reference"))
    assert inputs.ref_teachers.isVisible()
    inputs.teacher_menu.chosen.emit(f"py:{plugin}:build")
    assert inputs.ref_edit.text() == f"py:{plugin}:build"
    qtbot.keyClicks(inputs.model_edit, f"py:{plugin}:build")
    assert not inputs.nms_combo.isEnabled() and not inputs.runtime_combo.isEnabled()
    qtbot.keyClicks(inputs.dataset_edit, str(clip))
    inputs.dataset_edit.editingFinished.emit()
    trust = TrustAnswer(open_it=True)
    QTimer.singleShot(0, trust)
    with qtbot.waitSignal(view.evaluation_finished, timeout=WAIT_MS) as done:
        qtbot.mouseClick(inputs.evaluate_button, Qt.MouseButton.LeftButton)
    out = done.args[0]
    assert out.metrics["mAP"] == pytest.approx(1.0) and len(out.gt.records) == 4
    assert "Agreement with a model, not accuracy" in view.summary_label.text()
