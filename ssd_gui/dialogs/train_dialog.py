"""The dialog that sets up a training run and returns a :class:`core.engine.TrainConfig`.

Every field maps to one ``TrainConfig`` field; the dialog checks only what ``TrainConfig``
itself checks (its ``ValueError`` is shown under the form and the dialog stays open). Whether
a dataset path really holds a dataset is the engine's business: it fails in the worker and
the Train view shows its message.
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.engine import VAL_SEED, TrainConfig

DATA_FORMATS: tuple[tuple[str, str], ...] = (
    ("synthetic", "Synthetic shapes"), ("voc", "VOC folder"), ("coco", "COCO JSON"))
WEIGHTS_FILTER = "Weights (*.pt *.pth *.ckpt *.bin);;All files (*)"


class _PathEdit(QWidget):
    """A line edit with a browse button: a file to open, a folder, or a file to save."""

    def __init__(self, mode: str, caption: str, file_filter: str = "All files (*)",
                 placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode, self.caption, self.file_filter = mode, caption, file_filter
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(placeholder)
        self.button = QToolButton(self)
        self.button.setText("…")
        self.button.clicked.connect(self._browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.button)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str | None) -> None:  # noqa: N802 - Qt naming, like QLineEdit
        self.edit.setText(text or "")

    def _browse(self) -> None:
        if self.mode == "dir":
            path = QFileDialog.getExistingDirectory(self, self.caption, self.text())
        else:
            path, _ = QFileDialog.getOpenFileName(self, self.caption, self.text(), self.file_filter)
        if path:
            self.edit.setText(path)


def _spin(lo: int, hi: int, value: int, special: str | None = None) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    if special:
        s.setSpecialValueText(special)  # shown at the minimum
    return s


def _dspin(lo: float, hi: float, value: float, decimals: int, step: float) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setDecimals(decimals)
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setValue(value)
    return s


def _combo(items: Any) -> QComboBox:
    c = QComboBox()
    for key, text in items:
        c.addItem(text, key)
    return c


def _select(combo: QComboBox, key: Any) -> None:
    i = combo.findData(key)
    if i >= 0:
        combo.setCurrentIndex(i)


def parse_milestones(text: str) -> tuple[float, ...]:
    """"0.667, 0.833" -> (0.667, 0.833).

    Raises:
        ValueError: a part is not a number (names it).
    """
    out = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(float(part))
        except ValueError:
            raise ValueError(f"milestone {part!r} is not a number (expected fractions such as 0.667, 0.833)") from None
    return tuple(out)


class TrainDialog(QDialog):
    """Set up a run: dataset, model, schedule, device, output folder, resume.

    ``config()`` builds the :class:`TrainConfig` from the fields (raising ``ValueError``);
    accepting the dialog succeeds only when it does, and leaves it in :attr:`result_config`.
    """

    def __init__(self, parent: QWidget | None = None, initial: TrainConfig | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New training run")
        self.result_config: TrainConfig | None = None
        from core.detector import available_devices

        # -- dataset
        self.format_combo = _combo(DATA_FORMATS)
        self.format_combo.currentIndexChanged.connect(self._update_visibility)
        self.data_path = _PathEdit("file", "Dataset", "All files (*)", "VOC folder(s) joined with ',' or a COCO JSON")
        self.data_path.button.clicked.disconnect()
        self.data_path.button.clicked.connect(self._browse_data)
        self.train_split = QLineEdit()
        self.val_split = QLineEdit()
        self.validate_check = QCheckBox("Validate (VOC07 mAP@0.5)")
        self.validate_check.toggled.connect(self._update_visibility)
        self.synthetic_count = _spin(1, 10_000_000, 2000)
        self.synthetic_seed = _spin(0, 2_000_000_000, 1)
        self.synthetic_size = _spin(32, 2048, 300)
        self.val_count = _spin(1, 1_000_000, 200)
        self.val_seed = _spin(0, 2_000_000_000, VAL_SEED)
        self.augment_combo = _combo((("ssd", "SSD (photometric, expand, crop, flip)"),
                                     ("light", "Light (photometric, flip)"), ("none", "None (resize only)")))
        self.cache_check = QCheckBox("Keep decoded images in memory")
        data_box = QGroupBox("Dataset")
        self._data_form = f = QFormLayout(data_box)
        f.addRow("Format", self.format_combo)
        f.addRow("Path", self.data_path)
        f.addRow("Training split", self.train_split)
        f.addRow("", self.validate_check)
        f.addRow("Validation split / JSON", self.val_split)
        f.addRow("Scenes", self.synthetic_count)
        f.addRow("Seed", self.synthetic_seed)
        f.addRow("Scene size (px)", self.synthetic_size)
        f.addRow("Validation scenes", self.val_count)
        f.addRow("Validation seed", self.val_seed)
        f.addRow("Augmentation", self.augment_combo)
        f.addRow("", self.cache_check)

        # -- model
        self.arch_combo = _combo((("ssd300", "SSD300"), ("ssd512", "SSD512")))
        self.priors_combo = _combo((("voc", "VOC (Caffe / ssd.pytorch)"), ("coco", "COCO (torchvision)")))
        self.width_spin = _dspin(0.0625, 4.0, 1.0, 4, 0.125)
        self.width_spin.setToolTip("channel multiplier: 1.0 is the paper's VGG16; 0.125 trains fast on a CPU")
        self.backbone = _PathEdit("file", "ImageNet VGG16 weights", WEIGHTS_FILTER, "optional: ImageNet VGG16 (.pth)")
        self.init_weights = _PathEdit("file", "Detector weights to start from", WEIGHTS_FILTER,
                                      "optional: a detector of this architecture, width and classes")
        self.init_weights.setToolTip("fine-tune: start from these weights with a fresh optimizer and schedule")
        model_box = QGroupBox("Model")
        f = QFormLayout(model_box)
        f.addRow("Architecture", self.arch_combo)
        f.addRow("Default boxes", self.priors_combo)
        f.addRow("Width", self.width_spin)
        f.addRow("Backbone", self.backbone)
        f.addRow("Start from", self.init_weights)

        # -- optimisation
        self.epochs = _spin(1, 100_000, 10)
        self.batch_size = _spin(1, 1024, 16)
        self.max_iterations = _spin(0, 100_000_000, 0, special="no limit")
        self.optimizer_combo = _combo((("sgd", "SGD with momentum"), ("adam", "Adam")))
        self.lr = _dspin(1e-7, 10.0, 1e-3, 7, 1e-4)
        self.momentum = _dspin(0.0, 0.999, 0.9, 3, 0.01)
        self.weight_decay = _dspin(0.0, 1.0, 5e-4, 6, 1e-4)
        self.warmup = _spin(0, 1_000_000, 500)
        self.milestones = QLineEdit()
        self.milestones.setToolTip("learning-rate drops, as fractions of the run (the paper: about 0.667, 0.833)")
        self.gamma = _dspin(0.001, 1.0, 0.1, 3, 0.05)
        opt_box = QGroupBox("Optimisation and schedule")
        f = QFormLayout(opt_box)
        f.addRow("Epochs", self.epochs)
        f.addRow("Batch size", self.batch_size)
        f.addRow("Max iterations", self.max_iterations)
        f.addRow("Optimizer", self.optimizer_combo)
        f.addRow("Learning rate", self.lr)
        f.addRow("Momentum", self.momentum)
        f.addRow("Weight decay", self.weight_decay)
        f.addRow("Warm-up iterations", self.warmup)
        f.addRow("LR milestones", self.milestones)
        f.addRow("LR factor at milestones", self.gamma)

        # -- run
        self.device_combo = _combo([(d, d) for d in available_devices()] + [("auto", "auto")])
        self.amp_check = QCheckBox("Mixed precision (CUDA only)")
        self.num_workers = _spin(0, 64, 0)
        self.seed = _spin(0, 2_000_000_000, 0)
        self.out_dir = _PathEdit("dir", "Output folder", placeholder="folder for last.pt, model.pt, metrics.csv")
        self.checkpoint_every = _spin(0, 10_000_000, 500, special="epoch ends only")
        self.val_every = _spin(0, 100_000, 1, special="at the end only")
        self.resume = _PathEdit("file", "Resume from checkpoint", WEIGHTS_FILTER, "optional: a run's last.pt")
        run_box = QGroupBox("Run")
        f = QFormLayout(run_box)
        f.addRow("Device", self.device_combo)
        f.addRow("", self.amp_check)
        f.addRow("Loader workers", self.num_workers)
        f.addRow("Seed", self.seed)
        f.addRow("Output folder", self.out_dir)
        f.addRow("Checkpoint every (it.)", self.checkpoint_every)
        f.addRow("Validate every (epochs)", self.val_every)
        f.addRow("Resume from", self.resume)

        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start training")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        cols = QHBoxLayout()
        left, right = QVBoxLayout(), QVBoxLayout()
        left.addWidget(data_box)
        left.addWidget(model_box)
        left.addStretch(1)
        right.addWidget(opt_box)
        right.addWidget(run_box)
        right.addStretch(1)
        cols.addLayout(left)
        cols.addLayout(right)
        layout = QVBoxLayout(self)
        layout.addLayout(cols)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        self.set_config(initial or TrainConfig())

    # ---------------------------------------------------------------- fields <-> config
    def set_config(self, cfg: TrainConfig) -> None:
        """Fill every field from ``cfg``."""
        _select(self.format_combo, cfg.data_format)
        self.data_path.setText(cfg.data_path)
        self.train_split.setText(cfg.train_split)
        self.validate_check.setChecked(cfg.val_split is not None)
        self.val_split.setText(cfg.val_split or ("test" if cfg.data_format != "coco" else ""))
        self.synthetic_count.setValue(cfg.synthetic_count)
        self.synthetic_seed.setValue(cfg.synthetic_seed)
        self.synthetic_size.setValue(cfg.synthetic_size)
        self.val_count.setValue(cfg.val_count)
        self.val_seed.setValue(cfg.val_seed)
        _select(self.augment_combo, cfg.augment)
        self.cache_check.setChecked(cfg.cache_images)
        _select(self.arch_combo, cfg.arch)
        _select(self.priors_combo, cfg.priors)
        self.width_spin.setValue(cfg.width)
        self.backbone.setText(cfg.backbone_weights)
        self.init_weights.setText(cfg.init_weights)
        self.epochs.setValue(cfg.epochs)
        self.batch_size.setValue(cfg.batch_size)
        self.max_iterations.setValue(cfg.max_iterations or 0)
        _select(self.optimizer_combo, cfg.optimizer)
        self.lr.setValue(cfg.lr)
        self.momentum.setValue(cfg.momentum)
        self.weight_decay.setValue(cfg.weight_decay)
        self.warmup.setValue(cfg.warmup_iters)
        self.milestones.setText(", ".join(f"{m:.6g}" for m in cfg.milestones))
        self.gamma.setValue(cfg.gamma)
        _select(self.device_combo, cfg.device)
        self.amp_check.setChecked(cfg.amp)
        self.num_workers.setValue(cfg.num_workers)
        self.seed.setValue(cfg.seed)
        self.out_dir.setText(cfg.out_dir)
        self.checkpoint_every.setValue(cfg.checkpoint_every)
        self.val_every.setValue(cfg.val_every_epochs)
        self.resume.setText(cfg.resume)
        self._update_visibility()

    def config(self) -> TrainConfig:
        """The :class:`TrainConfig` the fields describe.

        Raises:
            ValueError: a field is invalid (the message names it).
        """
        fmt = str(self.format_combo.currentData())
        if not self.out_dir.text():
            raise ValueError("choose an output folder for the run")
        val_split: str | None = self.val_split.text() or None
        if not self.validate_check.isChecked():
            val_split = None
        elif fmt == "synthetic":
            val_split = "val"  # any non-None value turns validation on for synthetic scenes
        elif val_split is None:
            raise ValueError("validation is on: give the validation split (VOC) or the validation JSON (COCO)")
        lr = self.lr.value()
        if not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        return TrainConfig(
            data_format=fmt, data_path=self.data_path.text() or None,
            train_split=self.train_split.text() or "trainval", val_split=val_split,
            synthetic_count=self.synthetic_count.value(), synthetic_seed=self.synthetic_seed.value(),
            synthetic_size=self.synthetic_size.value(), val_count=self.val_count.value(),
            val_seed=self.val_seed.value(), augment=str(self.augment_combo.currentData()),
            cache_images=self.cache_check.isChecked(), arch=str(self.arch_combo.currentData()),
            priors=str(self.priors_combo.currentData()), width=self.width_spin.value(),
            backbone_weights=self.backbone.text() or None, init_weights=self.init_weights.text() or None,
            epochs=self.epochs.value(),
            batch_size=self.batch_size.value(), optimizer=str(self.optimizer_combo.currentData()), lr=lr,
            momentum=self.momentum.value(), weight_decay=self.weight_decay.value(), warmup_iters=self.warmup.value(),
            milestones=parse_milestones(self.milestones.text()), gamma=self.gamma.value(),
            device=str(self.device_combo.currentData()), amp=self.amp_check.isChecked(),
            num_workers=self.num_workers.value(), seed=self.seed.value(), out_dir=self.out_dir.text(),
            checkpoint_every=self.checkpoint_every.value(), val_every_epochs=self.val_every.value(),
            resume=self.resume.text() or None, max_iterations=self.max_iterations.value() or None,
            val_batch_size=TrainConfig.val_batch_size)

    def _update_visibility(self) -> None:
        fmt = self.format_combo.currentData()
        synthetic = fmt == "synthetic"
        validate = self.validate_check.isChecked()
        form = self._data_form
        for w, shown in ((self.data_path, not synthetic), (self.train_split, fmt == "voc"),
                         (self.val_split, validate and not synthetic),
                         (self.synthetic_count, synthetic), (self.synthetic_seed, synthetic),
                         (self.synthetic_size, synthetic), (self.val_count, synthetic and validate),
                         (self.val_seed, synthetic and validate)):
            form.setRowVisible(w, shown)
        self.data_path.edit.setPlaceholderText("VOC20xx or VOCdevkit folder (several: join with ',')" if fmt == "voc"
                                               else "COCO instances JSON")

    def _browse_data(self) -> None:
        if self.format_combo.currentData() == "voc":
            path = QFileDialog.getExistingDirectory(self, "VOC folder", self.data_path.text())
        else:
            path, _ = QFileDialog.getOpenFileName(self, "COCO instances JSON", self.data_path.text(),
                                                  "JSON (*.json);;All files (*)")
        if path:
            self.data_path.setText(path)

    # ---------------------------------------------------------------- accept
    def accept(self) -> None:
        """Close only when the fields make a valid config; otherwise say why and stay open."""
        try:
            self.result_config = self.config()
        except ValueError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return
        self.error_label.hide()
        super().accept()


def default_config(out_dir: str | Path) -> TrainConfig:
    """What a new run starts from in the dialog: TrainConfig's defaults with ``out_dir``."""
    return replace(TrainConfig(), out_dir=str(out_dir))


__all__ = ["TrainDialog", "parse_milestones", "default_config", "DATA_FORMATS"]
