"""The Detect view: open a video, camera, image or folder and watch the detector run on it.

Built from a :class:`ssd_gui.state.detect.DetectState` and its sub-widgets: source picker, model
picker (with the runtime choice), frame canvas, confidence control, NMS choice, class filter, stats
panel, export panel, transport bar.

Threads: frames are decoded by :class:`ssd_gui.live.FrameReader` and the model runs in
:class:`ssd_gui.live.DetectionWorker`, each in its own QThread; loading a model and exporting run as
:class:`ssd_gui.jobs.Job` s. The GUI thread only paints and filters: the model keeps every detection
above ``RUN_SCORE_THRESH`` and the confidence and class filters choose, at once and without
re-running the model, which of them the canvas draws.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFrame, QGroupBox, QHBoxLayout, QScrollArea, QSplitter, QVBoxLayout, QWidget

# Imported here, on the GUI thread at start-up: the first import of torch/torchvision
# modules inside a worker would hold the GIL (and freeze the GUI) for hundreds of ms.
import core.detector  # noqa: F401
import core.runtime.load  # noqa: F401
import core.weights  # noqa: F401
from core.detector import available_devices
from core.runtime import runtime_label
from core.io.video import Frame
from core.tracking import CountingLine
from ssd_gui import settings
from ssd_gui.live import LivePipeline
from ssd_gui.state.detect import DetectionResult, DetectState, SourceInfo
from ssd_gui.views.base import View
from ssd_gui.widgets.class_filter import ClassFilter
from ssd_gui.widgets.confidence import ConfidenceControl
from ssd_gui.widgets.export_panel import ExportPanel
from ssd_gui.widgets.frame_canvas import FrameCanvas
from ssd_gui.widgets.model_picker import ModelPicker, model_name
from ssd_gui.widgets.nms_picker import NmsPicker
from ssd_gui.widgets.source_picker import SourcePicker
from ssd_gui.widgets.stats_panel import StatsPanel
from ssd_gui.widgets.tracking_panel import TrackingPanel
from ssd_gui.widgets.transport_bar import TransportBar

try:  # OpenVINO's first import holds the GIL for ~0.5 s: here at start-up, not in the loading job
    import openvino  # noqa: F401
except ImportError:  # the PyTorch runtime still works
    pass

STATS_INTERVAL_S = 0.25  # label text changes re-run layouts: a few times a second is enough for numbers
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Space", "play / pause"), ("Right", "next frame"), ("Left", "previous frame"),
    ("Home", "first frame"), ("End", "last frame"))


class DetectView(View):
    """Sources, model, playback controls, live detections with filters, export.

    Public methods (menus, the main window, tests): :meth:`open_source`, :meth:`play`, :meth:`pause`,
    :meth:`step`, :meth:`seek`, :meth:`load_model`, :meth:`load_coco_model`, :meth:`export`,
    :meth:`start_demo`, :meth:`shutdown`. ``state`` is the :class:`DetectState` it shows.
    """

    result_shown = Signal(object)    # DetectionResult, after it reached the canvas
    model_changed = Signal(object)   # the new core.detector.Detector
    model_failed = Signal(str)
    source_opened = Signal(object)   # SourceInfo
    source_failed = Signal(str)
    export_finished = Signal(object)  # core.inference.InferenceResult

    def __init__(self, parent: QWidget | None = None, device: str | None = None,
                 state: DetectState | None = None) -> None:
        super().__init__(parent)
        self.state = state or DetectState(available_devices())
        self._last_frame_t: float | None = None
        self._stats_t = 0.0
        self._autoplay = True
        self.frames_shown = 0  # frames put on the canvas as they were read (real-time playback)
        self._build_ui()
        if device:
            self.models.choose_device(device)
        self.pipeline = LivePipeline(self)
        self._connect()

    # ================================================================== construction
    def _build_ui(self) -> None:
        s = self.state
        self.canvas = FrameCanvas(self)
        self.sources = SourcePicker(s, self)
        self.models = ModelPicker(s, self)
        self.export_panel = ExportPanel(s, self)
        self.export_button, self.export_action = self.export_panel.button, self.export_panel.action
        top = QHBoxLayout()
        top.addWidget(self.sources, 1)
        top.addWidget(self.models, 1)
        top.addWidget(self.export_button)

        self.confidence = ConfidenceControl(s, self)
        self.nms = NmsPicker(s, self)
        self.class_filter = ClassFilter(self)
        class_box = QGroupBox("Classes", self)
        QVBoxLayout(class_box).addWidget(self.class_filter)
        self.stats = StatsPanel(s, self)
        self.tracking = TrackingPanel(s, self)
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        for w, stretch in ((self.confidence, 0), (self.nms, 0), (class_box, 1), (self.tracking, 0), (self.stats, 0),
                           (self.export_panel, 0)):
            side_layout.addWidget(w, stretch)
        side.setMinimumWidth(220)
        side_scroll = QScrollArea(self)  # the side panel scrolls rather than set the window's minimum height
        side_scroll.setWidget(side)
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setMinimumWidth(240)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.canvas)
        splitter.addWidget(side_scroll)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([760, 240])
        self.transport = TransportBar(s, self)

        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.transport)
        for key, slot in (("Space", self.toggle_play), ("Right", self.step), ("Left", self.step_back),
                          ("Home", lambda: self.seek(0)), ("End", lambda: self.seek(-1))):
            QShortcut(QKeySequence(key), self, slot)

    def _connect(self) -> None:
        s, p = self.state, self.pipeline
        self.sources.open_requested.connect(self.open_source)
        self.models.loaded.connect(self._on_model_loaded)
        self.models.failed.connect(self._on_model_failed)
        self.export_panel.finished.connect(self._on_export_finished)
        self.export_panel.failed.connect(self.show_error)
        self.export_panel.pause_requested.connect(self.pause)
        self.class_filter.changed.connect(s.set_shown_labels)
        self.transport.play_clicked.connect(self.toggle_play)
        self.transport.step_requested.connect(self.step)
        self.transport.seek_requested.connect(self.seek)
        s.events.filters.connect(self._redraw_boxes)
        s.events.tracking.connect(lambda: (self.canvas.set_counting_line(s.tracks.line), self._redraw_boxes()))
        self.tracking.draw_line_toggled.connect(lambda on: setattr(self.canvas, "line_mode", on))
        self.canvas.line_drawn.connect(self._on_line_drawn)
        s.events.nms.connect(self._detect_again)
        s.events.options.connect(lambda: (p.request_loop.emit(s.loop), p.request_realtime.emit(s.realtime)))
        s.events.model.connect(lambda d: self.class_filter.set_class_names(d.class_names if d else ()))
        p.request_loop.emit(s.loop)
        p.request_realtime.emit(s.realtime)
        reader, detection = p.reader, p.detection
        reader.opened.connect(self._on_source_opened)
        reader.failed.connect(self._on_source_failed)
        reader.ended.connect(lambda: self.say("End of source"))
        reader.lost.connect(self._on_source_lost)
        reader.count_corrected.connect(self._on_count_corrected)
        reader.playing_changed.connect(self._on_playing_changed)
        reader.progress.connect(self._on_frame_read)
        detection.progress.connect(self._on_result)
        detection.failed.connect(self.show_error)

    def shortcuts(self) -> tuple[tuple[str, str], ...]:
        """(key, what it does) of the view's keyboard shortcuts, for Help."""
        return SHORTCUTS

    # ================================================================== what tests and the window read
    @property
    def detector(self) -> Any:
        return self.state.detector

    @property
    def result(self) -> DetectionResult | None:
        return self.state.result

    @property
    def playing(self) -> bool:
        return self.state.playing

    @property
    def source_info(self) -> SourceInfo | None:
        return self.state.source

    @property
    def loading_model(self) -> bool:
        return bool(self.state.loading)

    @property
    def min_score(self) -> float:
        return self.state.min_score

    def set_min_score(self, score: float) -> None:
        self.state.set_min_score(score)

    # ================================================================== sources and playback
    def open_source(self, spec: str | Path | int, play: bool = True) -> None:
        """Open a video, image, folder or camera (decoded in the reader thread).

        ``source_opened`` or ``source_failed`` follows; with ``play`` a video starts playing.
        """
        self.cancel_export()
        self._autoplay = play
        self._last_frame_t = None
        self.banner.dismiss()
        self.pipeline.request_open.emit(spec if isinstance(spec, int) else str(spec))

    def play(self) -> None:
        info = self.state.source
        if info is not None and (info.seekable or info.is_live):
            self.pipeline.request_play.emit()

    def pause(self) -> None:
        self.pipeline.request_pause.emit()

    def toggle_play(self) -> None:
        self.pause() if self.playing else self.play()

    def step(self, delta: int = 1) -> None:
        """Pause and show the frame ``delta`` frames from the shown one (a file's; +1 next, -1 previous)."""
        if self.state.source is not None and not self.state.source.is_live:
            self.pipeline.request_step.emit(int(delta))

    def step_back(self) -> None:
        self.step(-1)

    def seek(self, index: int) -> None:
        """Show frame ``index`` of a file (negative: from the end); keeps playing if it was."""
        if self.state.source is not None and not self.state.source.is_live:
            self.pipeline.request_seek.emit(int(index))

    @Slot(object)
    def _on_source_opened(self, info: SourceInfo) -> None:
        self.state.set_source(info)
        self.source_opened.emit(info)
        self.say(f"Opened {info.name}")
        if info.warnings:
            self.show_info("; ".join(info.warnings), topic="source")
        if Path(info.spec).exists():
            settings.add_recent(info.spec)
        if self._autoplay and (info.is_live or info.seekable):
            self.pipeline.request_play.emit()

    @Slot(str)
    def _on_source_failed(self, text: str) -> None:
        self.show_error(text)
        if self.state.result is None:
            self.canvas.clear(f"Could not open the source:\n{text}")
        self.source_failed.emit(text)

    @Slot(str)
    def _on_source_lost(self, text: str) -> None:
        """The source broke mid-stream (a camera unplugged): keep the last frame, say why."""
        self.show_error(text)
        self.state.set_source(None)
        self.source_failed.emit(text)

    @Slot(int)
    def _on_count_corrected(self, count: int) -> None:
        info = self.state.source
        if info is not None and info.frame_count:
            self.show_info(f"'{info.name}' ends after {count} of the {info.frame_count} frames its header "
                           f"announces (a truncated file): playing the {count} that decode.", topic="source")
        self.state.correct_frame_count(count)

    @Slot(bool)
    def _on_playing_changed(self, playing: bool) -> None:
        self.state.set_playing(playing)
        if not playing:
            self._last_frame_t = None
        self.canvas.smooth = not playing
        self.canvas.update()

    @Slot(object)
    def _on_frame_read(self, frame: Frame) -> None:
        now = time.perf_counter()
        if self.playing and self._last_frame_t is not None and now > self._last_frame_t:
            self.state.source_rate.add(1.0 / (now - self._last_frame_t))
        self._last_frame_t = now
        if self.state.shows_every_frame:
            # The newest boxes go on every frame; they were computed on a frame at most one model
            # step older (the latency shown in the panel).
            result = self.state.result
            self.canvas.set_frame(frame.image, *self._boxes(result.class_names if result else None))
            self.frames_shown += 1
            self.state.set_position(frame.index, frame.file)

    @Slot(object)
    def _on_result(self, result: DetectionResult) -> None:
        state = self.state
        if not state.accepts(result.generation):
            return  # an answer about a source that is no longer open
        if state.shows_every_frame:
            # in real time the position follows the frames drawn, not the (older) frame detected
            position = (state.position, state.position_file)
            state.set_result(result)
            state.set_position(*position)
            self.canvas.set_detections(*self._boxes(result.class_names))
        else:
            state.set_result(result)
            self.canvas.set_frame(result.frame.image, *self._boxes(result.class_names))
        now = time.perf_counter()
        if not self.playing or now - self._stats_t >= STATS_INTERVAL_S:
            self._stats_t = now
            self.stats.refresh()
            self.tracking.refresh()
        self.result_shown.emit(result)

    def _boxes(self, class_names: Any) -> tuple[Any, Any, Any, Any]:
        """What the canvas draws: the visible detections, their names, their track ids and the trails."""
        dets, ids = self.state.visible_tracked()
        return dets, class_names, ids, self.state.tracks.tracks() if ids is not None else ()

    def _redraw_boxes(self) -> None:
        if self.state.result is not None:
            self.canvas.set_detections(*self._boxes(self.state.result.class_names))
            self.stats.refresh()
        self.tracking.refresh()

    @Slot(float, float, float, float)
    def _on_line_drawn(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.tracking.draw_button.setChecked(False)
        self.state.set_counting_line(CountingLine((x1, y1), (x2, y2)))

    # ================================================================== models
    def load_model(self, weights: str | Path) -> None:
        """Load ``weights`` in a job; on failure the current model keeps running."""
        self.models.load(weights)

    def load_demo_model(self) -> None:
        self.models.load_demo()

    def load_coco_model(self, allow_download: bool = True) -> None:
        """torchvision's COCO SSD300, downloaded with a progress dialog when not cached."""
        self.models.load_coco(allow_download)

    @Slot(object)
    def _on_model_loaded(self, detector: Any) -> None:
        self.banner.dismiss_topic("model")
        self.pipeline.detection.set_detector(detector)
        self.say(f"Loaded model {model_name(detector)}: {runtime_label(detector)}")
        self._detect_again()
        self.model_changed.emit(detector)

    def _detect_again(self) -> None:
        """A paused frame gets the boxes of the new model or NMS method at once (playing ones at the next frame)."""
        result = self.state.result
        if result is not None and not self.playing:
            self.pipeline.detection.submit(result.frame, generation=result.generation)

    @Slot(str)
    def _on_model_failed(self, text: str) -> None:
        kept = f" Still using {model_name(self.detector)}." if self.detector is not None else ""
        self.show_error(text + kept, topic="model")
        self.model_failed.emit(text)

    # ================================================================== export
    def export(self, video_path: str | Path | None, json_path: str | Path | None) -> bool:
        """Run the model over the whole open file and write the annotated video and/or JSON (see
        :class:`ssd_gui.widgets.export_panel.ExportPanel`); False, with a message, when there is nothing to export."""
        return self.export_panel.export(video_path, json_path)

    def cancel_export(self) -> None:
        self.export_panel.cancel()

    @Slot(object, str)
    def _on_export_finished(self, result: Any, text: str) -> None:
        self.show_info(text + "".join(f"\n{w}" for w in result.warnings[:3]))
        self.export_finished.emit(result)

    # ================================================================== start and end
    def start_demo(self, weights: str | Path | None = None) -> None:
        """Load ``weights`` (default: the bundled demo model) and play the bundled demo video; say what is missing."""
        from core.detector import DEMO_VIDEO, DEMO_WEIGHTS

        model = Path(weights) if weights else DEMO_WEIGHTS
        missing = [str(p) for p in (model, DEMO_VIDEO) if not p.is_file()]
        if model.is_file():
            self.load_model(model)
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
        self.models.cancel()
        self.export_panel.cancel()
        self.pipeline.shutdown()
        super().shutdown()
