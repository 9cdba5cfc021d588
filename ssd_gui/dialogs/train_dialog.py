"""The dialog that sets up a training run and returns a :class:`core.engine.TrainConfig`.

Its fields are derived from :func:`core.engine.train_fields` (label, tooltip, widget kind, range,
choices, the data formats a field applies to), so a default, a choice or a bound of ``TrainConfig``
is never repeated here. It checks what the specs and ``TrainConfig`` check; its message names the
field and the dialog stays open. A folder that already holds a run is never replaced unasked: the
dialog offers to resume it, to use a new folder, or to overwrite it. Below the fields it shows how
long the run will take on this machine (:func:`core.engine.estimate.estimate_run_seconds`). What a
new run starts from is :func:`suggested_config`.

Besides the formats of ``TrainConfig`` the data source can be "Unlabelled images or video + teacher
model" (:data:`TEACHER`): :class:`ssd_gui.dialogs.teacher_fields.TeacherFields` then replaces the dataset
fields, :meth:`TrainDialog.teacher_stage` gives the :class:`core.engine.teacher_run.TeacherStage` and the
config trains on the dataset that stage writes into the run folder (``teacher_train_config``).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.config import ARCHITECTURES, default_arch
from core.engine.config import FieldValueError, TrainConfig, train_fields
from core.engine.rundir import RunExistsError, check_run_dir
from core.engine.teacher_run import LABELS_DIR, TeacherStage, teacher_train_config
from ssd_gui import settings
from ssd_gui.dialogs.field_editors import FieldEditor
from ssd_gui.dialogs.teacher_fields import TeacherFields
from ssd_gui.dialogs.trust import confirm_running_code, needs_trust
from ssd_gui.widgets.estimate_label import EstimateLabel
from ssd_gui.widgets.fitting import FittingScrollArea, fit_to_screen

#: Set through the "this folder holds a run" question, never as a plain check box.
HIDDEN_FIELDS = frozenset({"overwrite"})
#: The data source "unlabelled footage + teacher": not a TrainConfig format (the run trains on VOC it writes).
TEACHER = "teacher"
TEACHER_LABEL = "Unlabelled images or video + teacher model"
#: Fields the teacher source decides (teacher_train_config), hidden while it is chosen.
TEACHER_DECIDES = frozenset({"val_split"})
GROUP_TITLES = {"data": "Dataset", "model": "Model", "optimisation": "Optimisation and schedule", "run": "Run"}


def runs_folder() -> Path:
    """Where new runs go: ``ssd-desktop/runs`` in the user's data folder (``~/.local/share`` on Linux, or
    ``$XDG_DATA_HOME``), absolute: one short name without spaces, typed as easily as it is read."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return Path(base or Path.home() / ".local" / "share").expanduser().resolve() / settings.ORGANIZATION / "runs"


def earlier_runs_folder() -> Path | None:
    """Where earlier versions put runs (``ssd-desktop/SSD Detector/runs``: the organisation and the app's
    name), when that folder holds anything; the dialog names it so that those runs stay findable."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    old = Path(base).expanduser().resolve() / "runs" if base else None
    if old is None or old == runs_folder() or not old.is_dir() or not any(old.iterdir()):
        return None
    return old


_last_suggested: list[Path] = []


def new_run_dir() -> Path:
    """A folder name no run uses yet: ``runs/train-<date>-<time>`` (a suffix when proposed twice in a second)."""
    import time

    base = runs_folder() / time.strftime("train-%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists() or path in _last_suggested:
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    _last_suggested[:] = [path, *_last_suggested[:9]]
    return path


def suggested_config(devices: list[str], out_dir: str | Path) -> TrainConfig:
    """What a first run starts from on this machine.

    With a GPU: ``TrainConfig``'s defaults there (SSD300). On a CPU: the light model
    (:func:`core.config.default_arch`, SSDlite320 at its published width) with the demo model's recipe
    (Adam, light augmentation) on a small set, a run of a few minutes, so that a first try shows
    curves rather than hours of waiting.
    """
    if any(d.startswith("cuda") for d in devices):
        return TrainConfig(device="cuda", arch=default_arch("cuda"), out_dir=str(out_dir))
    from core.engine.demo import DEMO_CONFIG

    base = TrainConfig()
    return replace(DEMO_CONFIG, arch=default_arch("cpu"), priors=None, width=1.0, synthetic_count=400, val_count=50,
                   epochs=2, cache_images=False, warmup_iters=20, checkpoint_every=50, num_workers=base.num_workers,
                   num_threads=base.num_threads, out_dir=str(out_dir))


class TrainDialog(QDialog):
    """Set up a run. ``config()`` builds the :class:`TrainConfig` from the fields (raising ``ValueError``);
    accepting succeeds only when it does and leaves the result in :attr:`result_config`.

    Attributes:
        editors: field name -> :class:`FieldEditor`; :meth:`widget` gives a field's input widget.
    """

    def __init__(self, parent: QWidget | None = None, initial: TrainConfig | None = None,
                 devices: list[str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New training run")
        self.result_config: TrainConfig | None = None
        self.result_teacher: TeacherStage | None = None
        self.editors: dict[str, FieldEditor] = {}
        self._rows: dict[str, tuple[QFormLayout, QWidget]] = {}
        boxes = {group: self._group(group) for group in GROUP_TITLES}
        self._device_choices(devices or ["cpu"])
        self._describe_architectures()
        self._name_earlier_runs()
        self.format_combo: QComboBox = self.widget("data_format")  # type: ignore[assignment]
        self.format_combo.addItem(TEACHER_LABEL, TEACHER)
        self.format_combo.setItemData(self.format_combo.count() - 1, "A teacher model labels every N-th frame of "
                                      "videos or image folders (first stage of the run), then this model trains on "
                                      "those labels", Qt.ItemDataRole.ToolTipRole)
        self.format_combo.currentIndexChanged.connect(self._update_visibility)
        self.teacher_fields = TeacherFields(self)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.hide()
        self.run_question: QMessageBox | None = None  # "the folder holds a run" while it is asked
        self.estimate = EstimateLabel(self._estimate_config, self)
        for editor in self.editors.values():
            editor.changed.connect(self.estimate.schedule)
        self.teacher_fields.changed.connect(self.estimate.schedule)
        for source in (self.editors["distill_teacher"].changed, self.editors["trust_code"].changed,
                       self.teacher_fields.changed):
            source.connect(self._update_visibility)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start training")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        # Three columns in a scroll area: the form fits a 1280x800 screen in every state, and scrolls on a
        # smaller one instead of running past its edge.
        fields = QWidget(self)
        cols = QHBoxLayout(fields)
        cols.setContentsMargins(0, 0, 0, 0)
        for groups in (("data",), ("model", "run"), ("optimisation",)):
            col = QVBoxLayout()
            for g in groups:
                col.addWidget(boxes[g])
                if g == "data":
                    col.addWidget(self.teacher_fields)
            col.addStretch(1)
            cols.addLayout(col)
        self.fields_area = FittingScrollArea(fields, self)
        for label in (self.error_label, self.estimate):  # wrapped to the fields' width, never wider
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.addWidget(self.fields_area, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.estimate)
        layout.addWidget(self.buttons)
        self.set_config(initial or TrainConfig())

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.fields_area.refresh()  # sizes as shown (polished fonts and styles), not as built
        fit_to_screen(self)

    def _group(self, group: str) -> QGroupBox:
        box = QGroupBox(GROUP_TITLES[group], self)
        form = QFormLayout(box)
        for spec in train_fields():
            if spec.group != group or spec.name in HIDDEN_FIELDS:
                continue
            editor = FieldEditor(spec, box)
            self.editors[spec.name] = editor
            form.addRow("" if spec.kind == "bool" else spec.label, editor.widget)
            self._rows[spec.name] = (form, editor.widget)
        return box

    def _device_choices(self, devices: list[str]) -> None:
        """The device field lists this machine's devices (it stays editable for cuda:N)."""
        old = self.editors["device"]
        combo = QComboBox(old.widget.parentWidget())
        combo.setEditable(True)
        combo.addItems(list(devices) + ["auto"])
        combo.setToolTip(old.widget.toolTip())
        form, _ = self._rows["device"]
        form.replaceWidget(old.widget, combo)
        old.widget.hide()  # until the deferred delete: it would show over the group title
        old.widget.deleteLater()
        old.widget = old.input = combo
        old.watch(combo)
        self._rows["device"] = (form, combo)

    def _describe_architectures(self) -> None:
        """Each architecture's one-line description (size, speed class, origin) from the registry: as the
        tooltip of its entry, and under the box for the chosen one (also the box's tooltip)."""
        combo: QComboBox = self.widget("arch")
        for i in range(combo.count()):
            combo.setItemData(i, ARCHITECTURES[combo.itemData(i)].description, Qt.ItemDataRole.ToolTipRole)
        form, _ = self._rows["arch"]
        self.arch_description = QLabel("", combo.parentWidget())
        self.arch_description.setWordWrap(True)
        row, _role = form.getWidgetPosition(combo)
        form.insertRow(row + 1, "", self.arch_description)
        help_text = combo.toolTip()

        def show(_: int = 0) -> None:
            info = ARCHITECTURES.get(combo.currentData())
            text = info.description if info is not None else ""
            self.arch_description.setText(text)
            combo.setToolTip(f"{help_text}\n{text}" if text else help_text)

        combo.currentIndexChanged.connect(show)
        show()

    def _name_earlier_runs(self) -> None:
        """Under the output folder, where the runs of earlier versions are (only when there are some)."""
        old = earlier_runs_folder()
        self.earlier_runs = QLabel("" if old is None else f"Runs of earlier versions: {old}", self)
        self.earlier_runs.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.earlier_runs.setWordWrap(True)
        form, widget = self._rows["out_dir"]
        row, _role = form.getWidgetPosition(widget)
        form.insertRow(row + 1, "", self.earlier_runs)
        self.earlier_runs.setVisible(old is not None)

    def widget(self, name: str) -> Any:
        """The input widget of field ``name`` (a QSpinBox, QLineEdit, QComboBox or QCheckBox)."""
        return self.editors[name].input

    # ---------------------------------------------------------------- fields <-> config
    @property
    def teacher_mode(self) -> bool:
        """The data source is unlabelled footage labelled by a teacher."""
        return self.format_combo.currentData() == TEACHER

    def set_config(self, cfg: TrainConfig, teacher: TeacherStage | None = None) -> None:
        """Fill every field from ``cfg``; with ``teacher`` the data source is that teacher stage."""
        for name, editor in self.editors.items():
            if name == "device":
                editor.widget.setCurrentText(cfg.device)  # type: ignore[attr-defined]
            else:
                editor.set_value(getattr(cfg, name))
        if teacher is not None:
            self.teacher_fields.set_stage(teacher)
            self.format_combo.setCurrentIndex(self.format_combo.findData(TEACHER))
            if teacher.distill and cfg.distill_teacher == teacher.teacher:  # the check box says it
                self.editors["distill_teacher"].set_value(None)
        self._update_visibility()

    def values(self) -> dict[str, Any]:
        """Field name -> value of every shown field.

        Raises:
            ValueError: a field's text is not a valid value (names the field by its label).
        """
        out: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if not self._shown(name):
                continue  # not shown for this source: TrainConfig's own value (or the teacher run's)
            if name == "data_format" and self.teacher_mode:
                out[name] = "voc"  # what the teacher stage writes
                continue
            try:
                out[name] = editor.widget.currentText().strip() if name == "device" else editor.value()  # type: ignore[attr-defined]
            except FieldValueError as exc:
                raise ValueError(f"{exc.label}: {exc.why} (got {exc.value!r})") from None
        return out

    def config(self) -> TrainConfig:
        """The :class:`TrainConfig` the fields describe (for the teacher source: training on the dataset
        its first stage writes into the run folder).

        Raises:
            ValueError: a field is invalid (the message names it).
        """
        values = self.values()
        if not self.teacher_mode:
            return TrainConfig(**values)
        stage = self.teacher_fields.stage()
        labels = str(Path(values["out_dir"]).expanduser() / LABELS_DIR)
        return teacher_train_config(TrainConfig(**{**values, "data_format": "voc", "data_path": labels}), stage)

    def teacher_stage(self) -> TeacherStage | None:
        """The teacher stage the fields describe, or None when the data source is a dataset.

        Raises:
            ValueError: a teacher field is invalid (the message names it).
        """
        return self.teacher_fields.stage() if self.teacher_mode else None

    def _estimate_config(self) -> TrainConfig | None:
        # The teacher source's training set does not exist until its first stage has run.
        return None if self.teacher_mode else self.config()

    def _shown(self, name: str) -> bool:
        if name == "trust_code":  # the opt-in is offered where it applies, and never hidden once given
            return self._code_teacher() or bool(self.editors[name].input.isChecked())
        if self.teacher_mode:
            return self.editors[name].spec.formats is None and name not in TEACHER_DECIDES
        formats = self.editors[name].spec.formats
        return formats is None or self.format_combo.currentData() in formats

    def _code_teacher(self) -> bool:
        """True when a teacher the fields name runs code when opened (a TorchScript archive, a plug-in)."""
        from core.model_spec import runs_code

        names = [self.editors["distill_teacher"].input.text()]
        if self.teacher_mode:
            names.append(self.teacher_fields.picker.text())
        return any(n.strip() and runs_code(n.strip()) for n in names)

    def _update_visibility(self) -> None:
        fmt = self.format_combo.currentData()
        shown = {name: self._shown(name) for name in self._rows}
        for name, (form, widget) in self._rows.items():
            form.setRowVisible(widget, shown[name])
        self.teacher_fields.setVisible(self.teacher_mode)
        layout = (tuple(shown.values()), self.teacher_mode)
        if layout != getattr(self, "_layout_shown", None):  # rows came or went (not on every keystroke)
            self._layout_shown = layout
            self.fields_area.refresh()
            if self.isVisible():
                fit_to_screen(self)  # no gap where rows were hidden, nothing past the screen's edge
        data = self.editors["data_path"].widget
        data.mode = "dir" if fmt in ("voc", "yolo") else "json"  # type: ignore[attr-defined]
        data.edit.setPlaceholderText({"voc": "VOC20xx or VOCdevkit folder (several: join with ',')",  # type: ignore[attr-defined]
                                      "yolo": "YOLO dataset folder (holding data.yaml)"}.get(fmt, "COCO instances JSON"))

    # ---------------------------------------------------------------- accept
    def accept(self) -> None:
        """Close only when the fields make a valid config that replaces no run unasked; otherwise say
        why (or ask what to do with the run already in the folder) and stay open."""
        try:
            cfg = self.config()
            self.result_teacher = self.teacher_stage()
            if self.result_teacher is not None and not cfg.trust_code and needs_trust(self.result_teacher.teacher):
                if not confirm_running_code(self, self.result_teacher.teacher):
                    raise ValueError("Teacher model: not used; it runs code when loaded, and you declined")
                cfg = replace(cfg, trust_code=True)
            check_run_dir(cfg.out_dir, cfg.resume, cfg.overwrite)
        except RunExistsError as exc:
            cfg = self._settle_existing_run(cfg, exc)
            if cfg is None:
                return
        except ValueError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return
        self.result_config = cfg
        self.error_label.hide()
        self.estimate.cancel()
        super().accept()

    def reject(self) -> None:
        self.estimate.cancel()
        super().reject()

    def _settle_existing_run(self, cfg: TrainConfig, exc: RunExistsError) -> TrainConfig | None:
        """Ask what to do with the run already in ``cfg.out_dir``: the config to start, or None (stay open)."""
        box = QMessageBox(QMessageBox.Icon.Question, "The folder holds a run",
                          f"{exc.run_dir} already holds a run ({', '.join(exc.files)}). Starting there would "
                          "replace it.", QMessageBox.StandardButton.Cancel, self)
        resume = box.addButton("Resume it", QMessageBox.ButtonRole.AcceptRole) if exc.resume_path else None
        new = box.addButton("New folder", QMessageBox.ButtonRole.AcceptRole)
        overwrite = box.addButton("Overwrite it", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(new)
        self.run_question = box
        box.exec()
        self.run_question = None
        clicked = box.clickedButton()
        if resume is not None and clicked is resume:
            return replace(cfg, resume=str(exc.resume_path), overwrite=False)
        if clicked is new:
            folder = new_run_dir()
            self.editors["out_dir"].set_value(str(folder))
            return replace(cfg, out_dir=str(folder), resume=None)
        if clicked is overwrite:
            return replace(cfg, overwrite=True)
        return None


__all__ = ["TrainDialog", "earlier_runs_folder", "new_run_dir", "runs_folder", "suggested_config"]
