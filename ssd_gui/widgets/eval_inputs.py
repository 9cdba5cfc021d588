"""The Evaluate view's form: model or detections file; ground truth (a dataset, or a reference model's
detections on footage); device, runtime and NMS; Evaluate and Cancel; progress."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from core.config import NMS_METHODS
from ssd_gui import settings
from ssd_gui.state.evaluate import DATASET_KINDS, EvaluateState
from ssd_gui.widgets.fitting import ElidedLabel
from ssd_gui.widgets.teacher_menu import TeacherMenu

WEIGHTS_FILTER = "Weights (*.pt *.pth *.ckpt *.bin);;All files (*)"
DETECTIONS_FILTER = "Detections (*.json *.txt);;All files (*)"
FOOTAGE_FILTER = "Videos and images (*.mp4 *.avi *.mov *.mkv *.webm *.jpg *.jpeg *.png *.bmp);;All files (*)"
RUNTIME_NAMES = {"torch": "PyTorch", "openvino": "OpenVINO"}
REFERENCE_NOTE = "<b>Reference model</b>: figures measure agreement with it, not accuracy"
ESTIMATE_NOTE = "<b>No labels</b>: an estimate with an interval, not a measurement"
ESTIMATE_TIP = ("No annotations: the model's accuracy on this footage is estimated from how stable its boxes are "
                "(under feature dropout, flipped and rescaled), through a fit calibrated on shifted copies of its own "
                "labelled data (as ssd eval --estimate). The first run on a model calibrates it; later runs reuse it.")
REFERENCE_TIP = ("No annotations: what the reference model detects with a score above the threshold on these frames "
                 "is the ground truth, so every figure measures how closely the evaluated model agrees with it, the "
                 "reference's own mistakes included (as ssd eval --reference).")


def is_teacher(model: str) -> bool:
    """True when ``model`` names a teacher of core.teachers (torchvision's zoo, prompts, a plug-in)."""
    from core.model_spec import TEACHER_KINDS, kind_of

    try:
        return bool(model.strip()) and kind_of(model.strip()) in TEACHER_KINDS
    except ValueError:
        return False


def _browse_button(parent: QWidget) -> QToolButton:
    b = QToolButton(parent)
    b.setText("…")
    return b


def _spin(parent: QWidget, lo: int, hi: int, prefix: str, suffix: str = "") -> QSpinBox:
    s = QSpinBox(parent)
    s.setRange(lo, hi)
    s.setPrefix(prefix)
    s.setSuffix(suffix)
    return s


class EvalInputsPanel(QGroupBox):
    """Bound to an :class:`EvaluateState`: edits go to ``state.set_inputs``, the state's values come back.

    Signals:
        start_requested(), cancel_requested(), demo_requested().
    """

    start_requested = Signal()
    cancel_requested = Signal()
    demo_requested = Signal()

    def __init__(self, state: EvaluateState, devices: list[str], parent: QWidget | None = None) -> None:
        # A little over 60 lines: the form's rows in their on-screen order, each one widget and its label.
        super().__init__("Evaluate", parent)
        self.state = state
        self.model_radio = QRadioButton("Model file", self)
        self.dets_radio = QRadioButton("Detections file", self)
        self._source_group = QButtonGroup(self)
        self._source_group.addButton(self.model_radio)
        self._source_group.addButton(self.dets_radio)
        self.model_edit = QLineEdit(self)
        self.model_edit.setPlaceholderText("weights file (.pt): own checkpoint, torchvision or ssd.pytorch")
        self.model_browse = _browse_button(self)
        self.demo_button = QPushButton("Demo model", self)
        self.dets_edit = QLineEdit(self)
        self.dets_edit.setPlaceholderText("COCO results JSON, comp4_det_*.txt folder/file, or ssd detect JSON")
        self.dets_browse = _browse_button(self)
        self.dataset_combo = QComboBox(self)
        for key, text in DATASET_KINDS:
            self.dataset_combo.addItem(text, key)
        self.dataset_edit = QLineEdit(self)
        self.dataset_browse = _browse_button(self)
        self.split_combo = QComboBox(self)
        self.split_combo.setEditable(True)
        self.split_combo.setMinimumWidth(90)
        self.split_combo.setToolTip("VOC image set (ImageSets/Main/<split>.txt) or YOLO split: the ones the "
                                    "dataset has are listed")
        self.count_spin = _spin(self, 1, 100_000, "images ")
        self.seed_spin = _spin(self, 0, 2_000_000_000, "seed ")
        self.size_spin = _spin(self, 16, 2048, "size ", " px")
        self.device_combo = QComboBox(self)
        self.device_combo.addItems(devices)
        self.ref_edit = QLineEdit(self)
        self.ref_edit.setPlaceholderText("reference model (trusted weights, or a teacher: torchvision:NAME, "
                                         "owlv2:PROMPTS, ...)")
        self.ref_edit.setToolTip("Its detections with a score above the threshold are the ground truth")
        self.ref_edit.setMinimumWidth(220)
        self.ref_browse = _browse_button(self)
        self.ref_teachers = QToolButton(self)
        self.ref_teachers.setText("Teacher ▾")
        self.ref_teachers.setToolTip("A reference that is not a file: torchvision's COCO detectors, text prompts "
                                     "(OWLv2, Grounding DINO) or a Python plug-in")
        self.ref_teachers.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.teacher_menu = TeacherMenu(self.ref_teachers)
        self.ref_teachers.setMenu(self.teacher_menu)
        self.ref_thresh_spin = QDoubleSpinBox(self)
        self.ref_thresh_spin.setRange(0.0, 0.99)
        self.ref_thresh_spin.setSingleStep(0.05)
        self.ref_thresh_spin.setDecimals(2)
        self.ref_thresh_spin.setPrefix("> ")
        self.ref_thresh_spin.setToolTip("The reference's detections scoring above this are the ground truth")
        self.every_spin = _spin(self, 1, 10_000, "every ", " frame(s)")
        self.calib_edit = QLineEdit(self)
        self.calib_edit.setPlaceholderText("calibration data (empty: the model's own)")
        self.calib_edit.setToolTip("Labelled images like the footage to calibrate the estimate on: a VOC folder or a "
                                   "COCO JSON (empty: the validation data the model's checkpoint records)")
        self.reference_note = QLabel(REFERENCE_NOTE, self)
        self.reference_note.setToolTip(REFERENCE_TIP)
        self.nms_combo = QComboBox(self)
        self.nms_combo.addItem("NMS: the model's", "")
        for method in NMS_METHODS:
            self.nms_combo.addItem(f"NMS: {method}", method)
        self.nms_combo.setToolTip("Non-maximum suppression of the evaluated model: greedy (hard) or soft-NMS "
                                  "(Bodla et al. 2017), scores decayed linearly or by a Gaussian")
        self.runtime_combo = QComboBox(self)
        self.runtime_combo.setToolTip("How the evaluated model runs (compare one model at two precisions)")
        self._fill_runtimes(self.state.inputs.device)
        self.evaluate_button = QPushButton("Evaluate", self)
        self.evaluate_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.progress = QProgressBar(self)
        self.progress.setTextVisible(True)
        self.progress_label = ElidedLabel("", self)  # a long message never widens the window
        self._lay_out()
        self._connect()
        self.show_inputs()
        self.show_running(False)

    def _lay_out(self) -> None:
        grid = QGridLayout(self)
        grid.setVerticalSpacing(2)
        grid.addWidget(self.model_radio, 0, 0)
        grid.addWidget(self.model_edit, 0, 1, 1, 2)
        grid.addWidget(self.model_browse, 0, 3)
        grid.addWidget(self.demo_button, 0, 4)
        grid.addWidget(self.dets_radio, 0, 5)
        grid.addWidget(self.dets_edit, 0, 6, 1, 2)
        grid.addWidget(self.dets_browse, 0, 8)
        grid.addWidget(QLabel("Ground truth", self), 1, 0)
        grid.addWidget(self.dataset_combo, 1, 1)
        grid.addWidget(self.dataset_edit, 1, 2)
        grid.addWidget(self.dataset_browse, 1, 3)
        grid.addWidget(self.split_combo, 1, 4)
        box = QHBoxLayout()
        for w in (self.count_spin, self.seed_spin, self.size_spin, self.ref_edit, self.ref_browse, self.ref_teachers,
                  self.ref_thresh_spin, self.every_spin, self.calib_edit):
            box.addWidget(w, 1 if w in (self.ref_edit, self.calib_edit) else 0)
        grid.addLayout(box, 1, 5, 1, 2)
        grid.addWidget(QLabel("Device", self), 1, 7)
        grid.addWidget(self.device_combo, 1, 8)
        row = QHBoxLayout()
        row.addWidget(self.nms_combo)
        row.addWidget(self.runtime_combo)
        row.addWidget(self.reference_note)
        row.addWidget(self.progress, 1)
        row.addWidget(self.progress_label, 1)
        row.addWidget(self.evaluate_button)
        row.addWidget(self.cancel_button)
        grid.addLayout(row, 2, 0, 1, 9)
        grid.setColumnStretch(2, 1)
        grid.setColumnStretch(6, 1)

    def _connect(self) -> None:
        s = self.state
        self.model_radio.toggled.connect(lambda on: s.set_inputs(use_model=on))
        self.model_edit.textChanged.connect(lambda t: s.set_inputs(weights=t))
        self.dets_edit.textChanged.connect(lambda t: s.set_inputs(detections=t))
        self.dataset_combo.currentIndexChanged.connect(lambda _: s.set_inputs(kind=str(self.dataset_combo.currentData())))
        self.dataset_edit.editingFinished.connect(lambda: s.set_inputs(path=self.dataset_edit.text().strip()))
        self.split_combo.currentTextChanged.connect(lambda t: s.set_inputs(split=t.strip()))
        self.count_spin.valueChanged.connect(lambda v: s.set_inputs(count=v))
        self.seed_spin.valueChanged.connect(lambda v: s.set_inputs(seed=v))
        self.size_spin.valueChanged.connect(lambda v: s.set_inputs(size=v))
        self.device_combo.currentTextChanged.connect(self._set_device)
        self.ref_edit.textChanged.connect(lambda t: s.set_inputs(reference=t))
        self.ref_thresh_spin.valueChanged.connect(lambda v: s.set_inputs(reference_thresh=round(float(v), 4)))
        self.every_spin.valueChanged.connect(lambda v: s.set_inputs(every=v))
        self.calib_edit.textChanged.connect(lambda t: s.set_inputs(calibration_data=t))
        self.nms_combo.currentIndexChanged.connect(lambda _: s.set_inputs(nms=str(self.nms_combo.currentData())))
        self.runtime_combo.currentIndexChanged.connect(self._set_runtime)
        self.ref_browse.clicked.connect(self._ask_reference)
        self.teacher_menu.chosen.connect(lambda text: s.set_inputs(reference=text))
        self.model_browse.clicked.connect(self._ask_model)
        self.dets_browse.clicked.connect(self._ask_detections)
        self.dataset_browse.clicked.connect(self._ask_dataset)
        self.demo_button.clicked.connect(self.demo_requested)
        self.evaluate_button.clicked.connect(self.start_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        s.events.inputs.connect(self.show_inputs)
        s.events.running.connect(self.show_running)
        s.events.progress.connect(self.progress_label.setText)

    # ---------------------------------------------------------------- from the state
    def show_inputs(self) -> None:
        """Put the state's values in the fields (signals blocked: they are not edits)."""
        v = self.state.inputs
        widgets = (self.model_radio, self.dets_radio, self.model_edit, self.dets_edit, self.dataset_combo,
                   self.dataset_edit, self.count_spin, self.seed_spin, self.size_spin, self.device_combo,
                   self.ref_edit, self.ref_thresh_spin, self.every_spin, self.nms_combo, self.runtime_combo,
                   self.calib_edit)
        for w in widgets:
            w.blockSignals(True)
        (self.model_radio if v.use_model else self.dets_radio).setChecked(True)
        for edit, text in ((self.model_edit, v.weights), (self.dets_edit, v.detections), (self.dataset_edit, v.path),
                           (self.ref_edit, v.reference), (self.calib_edit, v.calibration_data)):
            if edit.text() != text:
                edit.setText(text)
                edit.setCursorPosition(0)  # a long path or teacher string shows its beginning
        self.dataset_combo.setCurrentIndex(max(0, self.dataset_combo.findData(v.kind)))
        for spin, value in ((self.count_spin, v.count), (self.seed_spin, v.seed), (self.size_spin, v.size),
                            (self.every_spin, v.every), (self.ref_thresh_spin, v.reference_thresh)):
            spin.setValue(value)
        self.device_combo.setCurrentText(v.device)
        self.nms_combo.setCurrentIndex(max(0, self.nms_combo.findData(v.nms)))
        self.runtime_combo.setCurrentIndex(max(0, self.runtime_combo.findData(f"{v.runtime}:{v.precision}")))
        for w in (self.nms_combo, self.runtime_combo):  # a teacher runs on PyTorch fp32 with its own suppression
            w.setEnabled(v.use_model and not is_teacher(v.weights))
        for w in widgets:
            w.blockSignals(False)
        self._show_kind(v.kind)
        self._list_splits()

    def _show_kind(self, kind: str) -> None:
        synthetic, reference, estimate = kind == "synthetic", kind == "reference", kind == "estimate"
        for w in (self.count_spin, self.seed_spin, self.size_spin):
            w.setVisible(synthetic)
        for w in (self.ref_edit, self.ref_browse, self.ref_teachers, self.ref_thresh_spin):
            w.setVisible(reference)
        self.every_spin.setVisible(reference or estimate)
        self.reference_note.setVisible(reference or estimate)
        self.reference_note.setText(ESTIMATE_NOTE if estimate else REFERENCE_NOTE)
        self.reference_note.setToolTip(ESTIMATE_TIP if estimate else REFERENCE_TIP)
        self.calib_edit.setVisible(estimate)
        for w in (self.dataset_edit, self.dataset_browse):
            w.setVisible(not synthetic)
        self.split_combo.setVisible(kind in ("voc", "yolo"))
        self.dataset_edit.setPlaceholderText({"voc": "VOC20xx or VOCdevkit folder(s), joined with ','",
                                              "yolo": "YOLO dataset folder (holding data.yaml)",
                                              "reference": "video, image folder or image (no annotations needed)",
                                              "estimate": "video, image folder or image (no annotations needed)"}
                                             .get(kind, "COCO instances JSON"))

    def _fill_runtimes(self, device: str) -> None:
        """The (runtime, precision) pairs ``device`` offers, the state's choice selected (by default the first,
        as the Detect view and ``--runtime auto``: OpenVINO fp32 on a CPU where it is installed)."""
        from core.runtime import runtime_choices

        self.runtime_combo.blockSignals(True)
        self.runtime_combo.clear()
        for runtime, precision in runtime_choices(device):
            # a string key: QComboBox.findData does not find Python tuples
            self.runtime_combo.addItem(f"{RUNTIME_NAMES.get(runtime, runtime)} {precision}", f"{runtime}:{precision}")
        v = self.state.inputs
        self.runtime_combo.setCurrentIndex(max(0, self.runtime_combo.findData(f"{v.runtime}:{v.precision}")))
        self.runtime_combo.blockSignals(False)

    def _set_device(self, device: str) -> None:
        self._fill_runtimes(device)
        runtime, precision = str(self.runtime_combo.currentData() or "torch:fp32").split(":")
        self.state.set_inputs(device=device, runtime=runtime, precision=precision)

    def _set_runtime(self, _: int) -> None:
        data = self.runtime_combo.currentData()
        if data:
            runtime, precision = str(data).split(":")
            self.state.set_inputs(runtime=runtime, precision=precision)

    def _list_splits(self) -> None:
        """The VOC folder's image sets (a YOLO dataset's splits) in the split box, the default one chosen when
        none is."""
        from core.data.index import dataset_splits

        v = self.state.inputs
        splits: tuple[str, ...] = ()
        default = ""
        if v.kind in ("voc", "yolo") and v.path:
            try:
                splits, default = dataset_splits(v.kind, v.path)
            except ValueError:  # not (yet) such a dataset: the evaluation will say why
                pass
        current = [self.split_combo.itemText(i) for i in range(self.split_combo.count())]
        self.split_combo.blockSignals(True)
        if current != list(splits):
            self.split_combo.clear()
            self.split_combo.addItems(list(splits))
        self.split_combo.setCurrentText(v.split or default)
        self.split_combo.blockSignals(False)
        if not v.split and default:
            self.state.set_inputs(split=default)

    def show_running(self, running: bool) -> None:
        self.evaluate_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)
            self.progress_label.setText("starting…")
        else:
            self.progress_label.setText("")

    def show_progress(self, done: int, total: int | None) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        else:
            self.progress.setRange(0, 0)

    # ---------------------------------------------------------------- file dialogs
    def _ask_model(self) -> None:
        path = settings.ask_open_file(self, "Model to evaluate", "weights", WEIGHTS_FILTER)
        if path:
            self.state.set_inputs(weights=path, use_model=True)

    def _ask_detections(self) -> None:
        path = settings.ask_open_file(self, "Detections to evaluate", "detections", DETECTIONS_FILTER)
        if path:
            self.state.set_inputs(detections=path, use_model=False)

    def _ask_reference(self) -> None:
        path = settings.ask_open_file(self, "Reference model (its detections are the ground truth)", "weights",
                                      WEIGHTS_FILTER)
        if path:
            self.state.set_inputs(reference=path)

    def _ask_dataset(self) -> None:
        if self.state.inputs.kind in ("reference", "estimate"):
            path = settings.ask_open_file(self, "Video or image to evaluate without labels", "video", FOOTAGE_FILTER)
        elif self.state.inputs.kind == "voc":
            path = settings.ask_folder(self, "VOC folder (VOC20xx or VOCdevkit)", "dataset")
        elif self.state.inputs.kind == "yolo":
            path = settings.ask_folder(self, "YOLO dataset folder (holding data.yaml)", "dataset")
        else:
            path = settings.ask_open_file(self, "COCO annotation JSON", "dataset", "JSON (*.json);;All files (*)")
        if path:
            self.state.set_inputs(path=path, split="")
