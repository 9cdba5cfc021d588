"""The Detect view: open a video, camera, image or folder and watch the detector run on it.

Threads: frames are decoded by :class:`ssd_gui.live.FrameReader` and the model runs in
:class:`ssd_gui.live.DetectionWorker`, each in its own QThread. The GUI thread only
paints and filters: the model keeps every detection above ``RUN_SCORE_THRESH`` and the
confidence slider and class filter choose, at once and without re-running the model, which
of them the canvas draws.
"""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QProgressDialog,
    QPushButton,
    QSlider,
    QSplitter,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

# Imported here, on the GUI thread at start-up: the first import of torch/torchvision
# modules inside a worker would hold the GIL (and freeze the GUI) for hundreds of ms.
import core.detector  # noqa: F401
import core.weights  # noqa: F401
from core.types import Detections
from core.video import IMAGE_EXTENSIONS, list_cameras
from ssd_gui.jobs import Job
from ssd_gui.live import LivePipeline
from ssd_gui.state.detect import RUN_SCORE_THRESH, DetectionResult, Meter, SourceInfo
from ssd_gui.tasks import ExportResult, export_source, load_coco_detector
from ssd_gui.views.base import View
from ssd_gui.widgets.class_filter import ClassFilter
from ssd_gui.widgets.frame_canvas import FrameCanvas

VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.mpg *.mpeg);;All files (*)"
IMAGE_FILTER = "Images (" + " ".join(f"*{e}" for e in IMAGE_EXTENSIONS) + ");;All files (*)"
WEIGHTS_FILTER = "Weights (*.pt *.pth *.ckpt *.bin);;All files (*)"


def precisions_for(device: str) -> list[str]:
    """Precisions worth offering on ``device``: fp16 needs CUDA; bf16 is native on CUDA and on
    CPUs with AVX512-BF16/AMX (elsewhere it is emulated and slower than fp32)."""
    from core.detector import cpu_supports_bf16

    if device.startswith("cuda"):
        return ["fp32", "fp16", "bf16"]
    return ["fp32", "bf16"] if cpu_supports_bf16() else ["fp32"]


def available_devices() -> list[str]:
    """"cpu", plus "cuda" when torch sees a GPU."""
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class DetectView(View):
    """Sources, model, playback controls, live detections with filters, export.

    Public methods (used by the menus, the main window and tests): :meth:`open_source`,
    :meth:`play`, :meth:`pause`, :meth:`step`, :meth:`seek`, :meth:`load_model`,
    :meth:`load_coco_model`, :meth:`export`, :meth:`start_demo`, :meth:`shutdown`.
    """

    result_shown = Signal(object)    # DetectionResult, after it reached the canvas
    model_changed = Signal(object)   # the new core.detector.Detector
    model_failed = Signal(str)
    source_opened = Signal(object)   # SourceInfo
    source_failed = Signal(str)
    export_finished = Signal(object)  # ExportResult

    def __init__(self, parent: QWidget | None = None, device: str | None = None) -> None:
        super().__init__(parent)
        self.detector: Any = None
        self.source_info: SourceInfo | None = None
        self.result: DetectionResult | None = None
        self.playing = False
        self.loading_model = False
        self._devices = available_devices()
        self._device = device if device in self._devices else self._devices[0]
        self._export_job: Job | None = None
        self._load_job: Job | None = None
        self._load_what = ""
        self._download_dialog: QProgressDialog | None = None
        self._source_rate, self._model_time, self._latency = Meter(), Meter(), Meter()
        self._last_frame_t: float | None = None
        self._stats_t = 0.0
        self._dropped = 0
        self._autoplay = True
        self.frames_shown = 0  # frames put on the canvas as they were read (real-time playback)

        self._build_ui()
        self._build_actions()

        self.pipeline = LivePipeline(self)
        reader, detection = self.pipeline.reader, self.pipeline.detection
        reader.opened.connect(self._on_source_opened)
        reader.failed.connect(self._on_source_failed)
        reader.ended.connect(self._on_source_ended)
        reader.lost.connect(self._on_source_lost)
        reader.playing_changed.connect(self._on_playing_changed)
        reader.progress.connect(self._on_frame_read)
        detection.progress.connect(self._on_result)
        detection.failed.connect(self._on_detection_failed)
        self.pipeline.request_loop.emit(self.loop_check.isChecked())
        self.pipeline.request_realtime.emit(self.realtime_check.isChecked())
        QShortcut(QKeySequence(Qt.Key.Key_Space), self, self.toggle_play)
        QShortcut(QKeySequence(Qt.Key.Key_Right), self, self.step)
        self._update_controls()

    # ================================================================== construction
    def _build_ui(self) -> None:
        self.canvas = FrameCanvas(self)

        # --- top bar: sources, model, device, export
        self.source_button = QToolButton(self)
        self.source_button.setText("Open")
        self.source_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.model_button = QToolButton(self)
        self.model_button.setText("Model")
        self.model_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.device_combo = QComboBox(self)
        self.device_combo.addItems(self._devices)
        self.device_combo.setCurrentText(self._device)
        self.device_combo.setToolTip("Where the model runs")
        self.device_combo.currentTextChanged.connect(self.set_device)
        self._precision = "fp32"
        self.precision_combo = QComboBox(self)
        self.precision_combo.addItems(precisions_for(self._device))
        self.precision_combo.setToolTip("Arithmetic precision of the model")
        self.precision_combo.currentTextChanged.connect(self.set_precision)
        self.model_label = QLabel("No model loaded", self)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.source_label = QLabel("No source", self)
        self.export_button = QPushButton("Export…", self)
        self.export_button.setToolTip("Save the annotated video and the detections JSON")
        self.export_button.clicked.connect(self._ask_export)
        top = QHBoxLayout()
        top.addWidget(self.source_button)
        top.addWidget(self.source_label, 1)
        top.addWidget(self.model_button)
        top.addWidget(self.model_label, 1)
        top.addWidget(QLabel("Device:", self))
        top.addWidget(self.device_combo)
        top.addWidget(self.precision_combo)
        top.addWidget(self.export_button)

        # --- transport
        style = self.style()
        self.play_button = QPushButton(self)
        self.play_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setText("Play")
        self.play_button.clicked.connect(self.toggle_play)
        self.step_button = QPushButton(self)
        self.step_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSkipForward))
        self.step_button.setText("Step")
        self.step_button.setToolTip("Pause and show the next frame")
        self.step_button.clicked.connect(self.step)
        self.seek_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.seek_slider.setRange(0, 0)
        self.seek_slider.valueChanged.connect(self._on_seek_value)
        self.seek_slider.sliderReleased.connect(lambda: self.seek(self.seek_slider.value()))
        self.position_label = QLabel("–", self)
        self.position_label.setMinimumWidth(110)
        self.loop_check = QCheckBox("Loop", self)
        self.loop_check.setChecked(True)
        self.loop_check.toggled.connect(lambda on: self.pipeline.request_loop.emit(on))
        self.realtime_check = QCheckBox("Real time", self)
        self.realtime_check.setChecked(True)
        self.realtime_check.setToolTip(
            "Play at the source's frame rate: the model takes the newest frame whenever it is free and the "
            "latest boxes are drawn on every frame. Off: the model sees every frame and playback slows to its pace.")
        self.realtime_check.toggled.connect(lambda on: self.pipeline.request_realtime.emit(on))
        transport = QHBoxLayout()
        transport.addWidget(self.play_button)
        transport.addWidget(self.step_button)
        transport.addWidget(self.seek_slider, 1)
        transport.addWidget(self.position_label)
        transport.addWidget(self.realtime_check)
        transport.addWidget(self.loop_check)

        # --- side panel: confidence, classes, statistics, export progress
        self.score_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.score_slider.setRange(int(round(RUN_SCORE_THRESH * 100)), 99)
        self.score_slider.setValue(40)
        self.score_label = QLabel(self)
        self.score_slider.valueChanged.connect(self._on_filters_changed)
        conf_box = QGroupBox("Confidence", self)
        conf_layout = QVBoxLayout(conf_box)
        conf_layout.addWidget(self.score_label)
        conf_layout.addWidget(self.score_slider)

        self.class_filter = ClassFilter(self)
        self.class_filter.changed.connect(self._on_filters_changed)
        class_box = QGroupBox("Classes", self)
        QVBoxLayout(class_box).addWidget(self.class_filter)

        self.source_fps_label = QLabel("–", self)
        self.model_fps_label = QLabel("–", self)
        self.latency_label = QLabel("–", self)
        self.count_label = QLabel("–", self)
        stats_box = QGroupBox("Performance", self)
        stats = QFormLayout(stats_box)
        stats.addRow("Source:", self.source_fps_label)
        stats.addRow("Model:", self.model_fps_label)
        stats.addRow("Latency:", self.latency_label)
        stats.addRow("Shown:", self.count_label)

        self.export_progress = QProgressBar(self)
        self.export_progress.hide()
        self.export_cancel = QPushButton("Cancel export", self)
        self.export_cancel.hide()
        self.export_cancel.clicked.connect(self.cancel_export)

        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(conf_box)
        side_layout.addWidget(class_box, 1)
        side_layout.addWidget(stats_box)
        side_layout.addWidget(self.export_progress)
        side_layout.addWidget(self.export_cancel)
        side.setMinimumWidth(220)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.canvas)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([760, 240])

        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addLayout(transport)
        self._update_score_label()

    def _build_actions(self) -> None:
        """Actions shared by the view's buttons and the main window's menus."""
        self.open_video_action = QAction("Open &video…", self, shortcut="Ctrl+O", triggered=self._ask_video)
        self.open_image_action = QAction("Open &image…", self, triggered=self._ask_image)
        self.open_folder_action = QAction("Open image &folder…", self, triggered=self._ask_folder)
        self.camera_menu = QMenu("&Camera", self)
        self.camera_menu.aboutToShow.connect(self._fill_camera_menu)
        self.export_action = QAction("&Export annotated video and JSON…", self, shortcut="Ctrl+E",
                                     triggered=self._ask_export)
        self.source_menu = QMenu(self)
        for a in (self.open_video_action, self.open_image_action, self.open_folder_action):
            self.source_menu.addAction(a)
        self.source_menu.addMenu(self.camera_menu)
        self.source_button.setMenu(self.source_menu)

        self.demo_model_action = QAction("&Demo model", self, triggered=self.load_demo_model)
        self.open_weights_action = QAction("Open &weights…", self, shortcut="Ctrl+M", triggered=self._ask_weights)
        self.coco_model_action = QAction("torchvision &COCO SSD300", self, triggered=lambda: self.load_coco_model())
        self.device_menu = QMenu("&Device", self)
        group = QActionGroup(self)
        for dev in self._devices:
            act = QAction(dev, self, checkable=True, checked=dev == self._device)
            act.triggered.connect(lambda _=False, d=dev: self.device_combo.setCurrentText(d))
            group.addAction(act)
            self.device_menu.addAction(act)
        self._device_actions = group
        self.model_menu = QMenu(self)
        for a in (self.demo_model_action, self.open_weights_action, self.coco_model_action):
            self.model_menu.addAction(a)
        self.model_button.setMenu(self.model_menu)

    def _fill_camera_menu(self) -> None:
        self.camera_menu.clear()
        cams = list_cameras()
        if not cams:
            none = self.camera_menu.addAction("No camera found")
            none.setEnabled(False)
            return
        for i in cams:
            self.camera_menu.addAction(f"Camera {i}", lambda i=i: self.open_source(f"camera:{i}"))

    # ================================================================== sources
    def open_source(self, spec: str | Path | int, play: bool = True) -> None:
        """Open a video, image, folder or camera (decoded in the reader thread).

        ``source_opened`` or ``source_failed`` follows; with ``play`` a video starts playing.
        """
        self.cancel_export()
        self._autoplay = play
        self._source_rate.reset()
        self._last_frame_t = None
        self.banner.dismiss()
        self.pipeline.request_open.emit(spec if isinstance(spec, int) else str(spec))

    def play(self) -> None:
        if self.source_info is not None and self._is_seekable_stream():
            self.pipeline.request_play.emit()
        elif self.source_info is not None and self.source_info.is_live:
            self.pipeline.request_play.emit()

    def pause(self) -> None:
        self.pipeline.request_pause.emit()

    def toggle_play(self) -> None:
        self.pause() if self.playing else self.play()

    def step(self) -> None:
        """Pause and show the next frame of a file."""
        if self.source_info is not None and not self.source_info.is_live:
            self.pipeline.request_step.emit(1)

    def seek(self, index: int) -> None:
        """Show frame ``index`` of a file (keeps playing if it was)."""
        if self.source_info is not None and not self.source_info.is_live:
            self.pipeline.request_seek.emit(int(index))

    def _is_seekable_stream(self) -> bool:
        info = self.source_info
        return info is not None and not info.is_live and (info.frame_count or 2) > 1

    @Slot(object)
    def _on_source_opened(self, info: SourceInfo) -> None:
        self.source_info = info
        self.result = None
        kind = "camera" if info.is_live else ("video" if info.fps else "images")
        count = f", {info.frame_count} frames" if info.frame_count and info.frame_count > 1 else ""
        fps = f", {info.fps:.1f} fps" if info.fps else ""
        self.source_label.setText(f"{info.name} ({kind}{count}{fps})")
        self.source_label.setToolTip(info.spec)
        self.seek_slider.blockSignals(True)
        self.seek_slider.setRange(0, max(0, (info.frame_count or 1) - 1))
        self.seek_slider.setValue(0)
        self.seek_slider.blockSignals(False)
        self._update_controls()
        self.source_opened.emit(info)
        self.message.emit(f"Opened {info.name}", "info")
        if self._autoplay and (info.is_live or self._is_seekable_stream()):
            self.pipeline.request_play.emit()

    @Slot(str)
    def _on_source_failed(self, text: str) -> None:
        self.show_error(text)
        if self.result is None:
            self.canvas.clear(f"Could not open the source:\n{text}")
        self.source_failed.emit(text)
        self._update_controls()

    @Slot(str)
    def _on_source_lost(self, text: str) -> None:
        """The source broke mid-stream (a camera unplugged): keep the last frame, say why."""
        self.show_error(text)
        self.source_info = None
        self.source_label.setText("No source")
        self._update_controls()
        self.source_failed.emit(text)

    @Slot()
    def _on_source_ended(self) -> None:
        self.message.emit("End of source", "info")

    @Slot(bool)
    def _on_playing_changed(self, playing: bool) -> None:
        self.playing = playing
        style = self.style()
        self.play_button.setText("Pause" if playing else "Play")
        self.play_button.setIcon(style.standardIcon(
            QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay))
        if not playing:
            self._last_frame_t = None
        self.canvas.smooth = not playing
        self.canvas.update()

    @Slot(object)
    def _on_frame_read(self, frame: Any) -> None:
        now = time.perf_counter()
        if self.playing and self._last_frame_t is not None and now > self._last_frame_t:
            self._source_rate.add(1.0 / (now - self._last_frame_t))
        self._last_frame_t = now
        if self._shows_every_frame():
            # The newest boxes go on every frame; they were computed on a frame at most one model
            # step older (the latency shown in the panel).
            dets = self._visible(self.result) if self.result is not None else None
            names = self.result.class_names if self.result is not None else None
            self.canvas.set_frame(frame.image, dets, names)
            self.frames_shown += 1

    def _shows_every_frame(self) -> bool:
        return self.playing and self.realtime_check.isChecked()

    def _on_seek_value(self, value: int) -> None:
        self._update_position_label(value)
        if not self.seek_slider.isSliderDown():  # dragging seeks once, on release
            self.seek(value)

    # ================================================================== results
    @Slot(object)
    def _on_result(self, result: DetectionResult) -> None:
        if self.source_info is None or result.generation != self.source_info.generation:
            return  # an answer about a source that is no longer open
        self.result = result
        self._dropped = result.dropped
        if result.inference_s > 0:
            self._model_time.add(result.inference_s)
        self._latency.add(result.latency_s)
        if self._shows_every_frame():
            self.canvas.set_detections(self._visible(result), result.class_names)
        else:
            self.canvas.set_frame(result.frame.image, self._visible(result), result.class_names)
        if self._is_seekable_stream() and not self.seek_slider.isSliderDown():
            self.seek_slider.blockSignals(True)
            self.seek_slider.setValue(result.frame.index)
            self.seek_slider.blockSignals(False)
        self._update_position_label(result.frame.index)
        now = time.perf_counter()
        # Label text changes re-run layouts: a few times a second is enough for numbers.
        if not self.playing or now - self._stats_t >= 0.25:
            self._stats_t = now
            self._update_stats()
        self.result_shown.emit(result)

    def _visible(self, result: DetectionResult) -> Detections:
        """The detections of ``result`` that pass the confidence slider and the class filter."""
        return result.detections.filter(self.min_score, self.class_filter.selected_labels())

    @property
    def min_score(self) -> float:
        return self.score_slider.value() / 100.0

    def set_min_score(self, score: float) -> None:
        self.score_slider.setValue(int(round(score * 100)))

    def _on_filters_changed(self, *_: object) -> None:
        self._update_score_label()
        if self.result is not None:
            self.canvas.set_detections(self._visible(self.result), self.result.class_names)
            self._update_stats()

    def _update_score_label(self) -> None:
        self.score_label.setText(f"Show scores ≥ {self.min_score:.2f}")

    def _update_position_label(self, index: int) -> None:
        info = self.source_info
        if info is None:
            self.position_label.setText("–")
        elif info.is_live:
            self.position_label.setText(f"frame {index}")
        else:
            total = info.frame_count or 0
            t = f"  {index / info.fps:6.2f} s" if info.fps else ""
            self.position_label.setText(f"{index + 1} / {total}{t}")

    def _update_stats(self) -> None:
        r = self._source_rate.value
        info = self.source_info
        if info is not None and not info.is_live and info.fps:
            self.source_fps_label.setText(f"{info.fps:.1f} fps file, {r:.1f} read" if r else f"{info.fps:.1f} fps file")
        else:
            self.source_fps_label.setText(f"{r:.1f} fps" if r else "–")
        m = self._model_time.value
        self.model_fps_label.setText(f"{1.0 / m:.1f} fps ({m * 1000:.0f} ms)" if m else "no model")
        lat = self._latency.value
        dropped = f", {self._dropped} dropped" if self._dropped else ""
        self.latency_label.setText(f"{lat * 1000:.0f} ms{dropped}" if lat is not None else "–")
        shown = len(self.canvas.detections)
        total = len(self.result.detections) if self.result is not None else 0
        self.count_label.setText(f"{shown} of {total} boxes")

    @Slot(str)
    def _on_detection_failed(self, text: str) -> None:
        self.show_error(text)

    # ================================================================== models
    def load_model(self, weights: str | Path) -> None:
        """Load ``weights`` in a job; on failure the current model keeps running."""
        from core.detector import load_detector

        # optimize: a frozen graph on CPU fp32 (a no-op elsewhere), paid once in the job, off the GUI thread.
        self._start_load(partial(load_detector, str(weights), device=self._device, precision=self._precision,
                                 optimize=True), str(weights), f"cannot load model '{weights}'")

    def load_demo_model(self) -> None:
        from core.detector import DEMO_WEIGHTS

        if not DEMO_WEIGHTS.is_file():
            self.show_error(f"The demo model is missing: expected '{DEMO_WEIGHTS}'. "
                            f"Open a weights file with Model ▸ Open weights…")
            return
        self.load_model(DEMO_WEIGHTS)

    def load_coco_model(self, allow_download: bool = True) -> None:
        """torchvision's COCO SSD300, downloaded with a progress dialog when not cached."""
        from core.weights import TORCHVISION_COCO_SPEC, torchvision_cache_path

        job = self._start_load(partial(load_coco_detector, device=self._device, precision=self._precision,
                                       allow_download=allow_download),
                               TORCHVISION_COCO_SPEC, "cannot load torchvision COCO SSD300")
        if allow_download and not torchvision_cache_path().is_file():
            dlg = QProgressDialog("Downloading torchvision's COCO SSD300 weights…", "Cancel", 0, 0, self)
            dlg.setWindowTitle("Download")
            dlg.setWindowModality(Qt.WindowModality.WindowModal)
            dlg.setMinimumDuration(0)
            # Direct: the job's thread is busy downloading, a queued call would wait for the end.
            dlg.canceled.connect(job.cancel, Qt.ConnectionType.DirectConnection)
            self._download_dialog = dlg
            dlg.show()

    def _start_load(self, fn: Any, what: str, label: str) -> Job:
        """Run the load ``fn``; only the latest request's outcome is applied."""
        if self._load_job is not None:
            self._load_job.cancel()
        self.loading_model = True
        self._load_what = what
        self.model_label.setText(f"Loading {Path(what).name} on {self._device}…")
        self._load_job = self.run_job(fn, label, finished=self._on_model_loaded, failed=self._on_model_failed,
                                      progress=self._on_load_progress)
        return self._load_job

    @Slot(object)
    def _on_load_progress(self, p: Any) -> None:
        dlg = self._download_dialog
        if dlg is None:
            return
        done, total = p.done, p.total or 0
        if total > 0:
            dlg.setMaximum(1000)
            dlg.setValue(int(1000 * done / total))
        dlg.setLabelText(f"Downloading torchvision's COCO SSD300 weights… {done / 1e6:.1f} MB")

    def _close_download_dialog(self) -> None:
        if self._download_dialog is not None:
            self._download_dialog.close()
            self._download_dialog.deleteLater()
            self._download_dialog = None

    def _is_stale_load(self) -> bool:
        """True when the signal comes from a load that a later request replaced."""
        sender = self.sender()
        return sender is not None and sender is not self._load_job

    @Slot(object)
    def _on_model_loaded(self, detector: Any) -> None:
        if self._is_stale_load():
            return
        self.loading_model = False
        self._load_job = None
        self._close_download_dialog()
        self.detector = detector
        self.banner.dismiss_topic("model")
        self.pipeline.detection.set_detector(detector)
        self.class_filter.set_class_names(detector.class_names)
        self._model_time.reset()
        self._update_model_label()
        self.message.emit(f"Loaded model {self._model_name()} on {detector.device}", "info")
        self._update_controls()
        # A paused frame gets the new model's detections at once.
        if self.result is not None and not self.playing:
            self.pipeline.detection.submit(self.result.frame)
        self.model_changed.emit(detector)

    @Slot(str)
    def _on_model_failed(self, text: str) -> None:
        if self._is_stale_load():
            return
        self.loading_model = False
        self._load_job = None
        self._close_download_dialog()
        kept = f" Still using {self._model_name()}." if self.detector is not None else ""
        self.show_error(text + kept, topic="model")
        self._update_model_label()
        self.model_failed.emit(text)

    def _model_name(self) -> str:
        if self.detector is None:
            return "no model"
        path = getattr(self.detector, "weights_path", None)
        return Path(str(path)).name if path else "model"

    def _update_model_label(self) -> None:
        d = self.detector
        if d is None:
            self.model_label.setText("No model loaded")
            return
        n = len(d.class_names) - 1
        self.model_label.setText(f"{self._model_name()}: {n} classes, {d.device}, {getattr(d, 'precision', 'fp32')}")
        self.model_label.setToolTip(str(getattr(d, "weights_path", "")))

    def set_device(self, device: str) -> None:
        """Run the model on ``device``; the current weights are reloaded there."""
        if device not in self._devices or device == self._device:
            return
        self._device = device
        for act in self._device_actions.actions():
            act.setChecked(act.text() == device)
        if self.device_combo.currentText() != device:
            self.device_combo.setCurrentText(device)
        offered = precisions_for(device)
        if self._precision not in offered:
            self._precision = "fp32"
        self.precision_combo.blockSignals(True)
        self.precision_combo.clear()
        self.precision_combo.addItems(offered)
        self.precision_combo.setCurrentText(self._precision)
        self.precision_combo.blockSignals(False)
        self._reload_current()

    def set_precision(self, precision: str) -> None:
        """Run the model in ``precision`` ("fp32", "bf16", "fp16"); the weights are reloaded."""
        if not precision or precision == self._precision:
            return
        self._precision = precision
        if self.precision_combo.currentText() != precision:
            self.precision_combo.setCurrentText(precision)
        self._reload_current()

    def _reload_current(self) -> None:
        path = getattr(self.detector, "weights_path", None)
        if path:
            self.load_model(path)

    # ================================================================== export
    def export(self, video_path: str | Path | None, json_path: str | Path | None) -> bool:
        """Run the model over the whole open file and write the annotated video and/or JSON.

        Returns False (with a message) when there is nothing to export; otherwise the work
        runs in a worker and ``export_finished`` follows.
        """
        info = self.source_info
        if self.detector is None:
            self.show_error("Load a model before exporting.")
            return False
        if info is None or info.is_live:
            self.show_error("Open a video, image or folder to export (live cameras are not exported).")
            return False
        if self._export_job is not None:
            self.show_error("An export is already running.")
            return False
        self.pause()
        fn = partial(export_source, info.spec, self.detector, video_path, json_path, self.min_score,
                     self.class_filter.selected_labels(), info.fps, RUN_SCORE_THRESH)
        self.export_progress.setRange(0, max(1, info.frame_count or 0))
        self.export_progress.setValue(0)
        self.export_progress.show()
        self.export_cancel.show()
        self._export_job = self.run_job(fn, f"export of '{info.spec}'", finished=self._on_export_finished,
                                        failed=self._on_export_failed, progress=self._on_export_progress)
        self._update_controls()
        return True

    def cancel_export(self) -> None:
        if self._export_job is not None:
            self._export_job.cancel()

    def _ask_export(self) -> None:
        info = self.source_info
        default = str(Path(info.spec).with_suffix("").with_name(Path(info.spec).stem + "_detections.mp4")) \
            if info is not None and not info.is_live else "detections.mp4"
        path, _ = QFileDialog.getSaveFileName(self, "Save annotated video (the JSON goes next to it)", default,
                                              "MP4 video (*.mp4)")
        if path:
            p = Path(path)
            self.export(p.with_suffix(".mp4"), p.with_suffix(".json"))

    @Slot(object)
    def _on_export_progress(self, p: Any) -> None:
        if p.total:
            self.export_progress.setRange(0, p.total)
        self.export_progress.setValue(p.done)

    def _export_done(self) -> None:
        self._export_job = None
        self.export_progress.hide()
        self.export_cancel.hide()
        self._update_controls()

    @Slot(object)
    def _on_export_finished(self, result: ExportResult) -> None:
        self._export_done()
        files = " and ".join(p for p in (result.video_path, result.json_path) if p)
        verb = "Export cancelled after" if result.cancelled else "Exported"
        self.message.emit(f"{verb} {result.frames} frames: {files}", "info")
        self.banner.show_message(f"{verb} {result.frames} frames to {files}", "info")
        self.export_finished.emit(result)

    @Slot(str)
    def _on_export_failed(self, text: str) -> None:
        self._export_done()
        self.show_error(text)

    # ================================================================== file dialogs
    def _ask_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", "", VIDEO_FILTER)
        if path:
            self.open_source(path)

    def _ask_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", IMAGE_FILTER)
        if path:
            self.open_source(path)

    def _ask_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of images")
        if path:
            self.open_source(path, play=False)

    def _ask_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open weights (own checkpoints, torchvision, ssd.pytorch)",
                                              "", WEIGHTS_FILTER)
        if path:
            self.load_model(path)

    # ================================================================== misc
    def _update_controls(self) -> None:
        info = self.source_info
        seekable = self._is_seekable_stream()
        self.play_button.setEnabled(info is not None and (seekable or info.is_live))
        self.step_button.setEnabled(seekable)
        self.seek_slider.setEnabled(seekable)
        self.loop_check.setEnabled(seekable)
        self.realtime_check.setEnabled(seekable)
        can_export = self.detector is not None and info is not None and not info.is_live \
            and self._export_job is None
        self.export_button.setEnabled(can_export)
        self.export_action.setEnabled(can_export)

    def start_demo(self) -> None:
        """Load the bundled demo model and play the bundled demo video; say what is missing."""
        from core.detector import DEMO_VIDEO, DEMO_WEIGHTS

        missing = [str(p) for p in (DEMO_WEIGHTS, DEMO_VIDEO) if not p.is_file()]
        if DEMO_WEIGHTS.is_file():
            self.load_model(DEMO_WEIGHTS)
        if DEMO_VIDEO.is_file():
            self.open_source(DEMO_VIDEO, play=True)
        if missing:
            self.canvas.clear("Open a video, image or camera with the Open button,\n"
                              "and a model with the Model button.")
            self.banner.show_message(
                "Demo files not found: " + ", ".join(f"'{m}'" for m in missing)
                + ". Open a source with Open ▸ … and a model with Model ▸ Open weights….", "info")

    def shutdown(self) -> None:
        """Stop playback and export and join the threads (the main window calls this on close)."""
        self.pipeline.shutdown()
        super().shutdown()
