"""One source of the Detect view: a tile of its grid with its own state, canvas, side controls (confidence,
classes, tracking with the counting line and zone, performance, the running accuracy estimate, export),
transport bar and reader thread.

The tile talks to its :class:`ssd_gui.live.ReaderHandle` (decoding in the reader's thread) and receives the
detections of its frames from the view, which routes the results of the shared
:class:`ssd_gui.live.DetectionWorker` by slot. The GUI thread only paints and filters: the model keeps every
detection above ``RUN_SCORE_THRESH`` and the tile's confidence and class filters choose, at once and without
re-running the model, which of them its canvas draws.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QGroupBox, QVBoxLayout, QWidget

from core.io.video import Frame
from core.tracking import CountingLine, CountingZone
from core.types import Detections
from ssd_gui import settings
from ssd_gui.live import ReaderHandle
from ssd_gui.state.detect import DetectionResult, DetectState, SourceInfo
from ssd_gui.widgets.class_filter import ClassFilter
from ssd_gui.widgets.confidence import ConfidenceControl
from ssd_gui.widgets.export_panel import ExportPanel
from ssd_gui.widgets.frame_canvas import FrameCanvas
from ssd_gui.widgets.live_estimate import LiveEstimatePanel
from ssd_gui.widgets.stats_panel import StatsPanel
from ssd_gui.widgets.tile_grid import TileFrame
from ssd_gui.widgets.tracking_panel import TrackingPanel
from ssd_gui.widgets.transport_bar import TransportBar

STATS_INTERVAL_S = 0.25  # label text changes re-run layouts: a few times a second is enough for numbers


class DetectTile(QObject):
    """One source of the Detect view (module docstring).

    Signals (the view shows the messages and forwards the rest):
        result_shown(DetectionResult), source_opened(SourceInfo), source_failed(str),
        export_finished(object, str): the InferenceResult and what was written,
        error(str, str), info(str, str): a message and its topic; note(str): a passing note.
    """

    result_shown = Signal(object)
    source_opened = Signal(object)
    source_failed = Signal(str)
    export_finished = Signal(object, str)
    error = Signal(str, str)
    info = Signal(str, str)
    note = Signal(str)

    def __init__(self, state: DetectState, handle: ReaderHandle, parent: QWidget) -> None:
        super().__init__(parent)
        self.state, self.handle = state, handle
        self.opening = False  # a source was asked for and has not opened (or failed) yet
        self.frames_shown = 0  # frames put on the canvas as they were read (real-time playback)
        self._last_frame_t: float | None = None
        self._stats_t = 0.0
        self._autoplay = True
        self._build(parent)
        self._connect()

    @property
    def slot(self) -> int:
        return self.handle.slot

    def _build(self, parent: QWidget) -> None:
        s = self.state
        self.canvas = FrameCanvas()
        self.frame = TileFrame(self.canvas, parent)
        self.side = QWidget(parent)
        self.confidence = ConfidenceControl(s, self.side)
        self.class_filter = ClassFilter(self.side)
        self.class_filter.set_class_names(s.detector.class_names if s.detector is not None else ())
        class_box = QGroupBox("Classes", self.side)
        QVBoxLayout(class_box).addWidget(self.class_filter)
        self.tracking = TrackingPanel(s, self.side)
        self.stats = StatsPanel(s, self.side)
        self.estimate = LiveEstimatePanel(s, self.side)
        self.export_panel = ExportPanel(s, self.side)
        layout = QVBoxLayout(self.side)
        layout.setContentsMargins(0, 0, 0, 0)
        for w, stretch in ((self.confidence, 0), (class_box, 1), (self.tracking, 0), (self.stats, 0),
                           (self.estimate, 0), (self.export_panel, 0)):
            layout.addWidget(w, stretch)
        self.transport = TransportBar(s, parent)

    def _connect(self) -> None:
        s, h, reader = self.state, self.handle, self.handle.reader
        self.class_filter.changed.connect(s.set_shown_labels)
        self.transport.play_clicked.connect(self.toggle_play)
        self.transport.step_requested.connect(self.step)
        self.transport.seek_requested.connect(self.seek)
        self.export_panel.finished.connect(self.export_finished)
        self.export_panel.failed.connect(lambda text: self.error.emit(text, ""))
        self.export_panel.pause_requested.connect(self.pause)
        s.events.filters.connect(self.redraw_boxes)
        s.events.tracking.connect(self._on_tracking)
        s.events.source.connect(self._show_title)
        self.tracking.draw_line_toggled.connect(lambda on: setattr(self.canvas, "line_mode", on))
        self.tracking.draw_zone_toggled.connect(lambda on: setattr(self.canvas, "zone_mode", on))
        self.canvas.line_drawn.connect(self._on_line_drawn)
        self.canvas.zone_drawn.connect(self._on_zone_drawn)
        s.events.options.connect(lambda: (h.request_loop.emit(s.loop), h.request_realtime.emit(s.realtime)))
        s.events.model.connect(lambda d: self.class_filter.set_class_names(d.class_names if d else ()))
        h.request_loop.emit(s.loop)
        h.request_realtime.emit(s.realtime)
        reader.opened.connect(self._on_source_opened)
        reader.failed.connect(self._on_source_failed)
        reader.ended.connect(lambda: self.note.emit("End of source"))
        reader.lost.connect(self._on_source_lost)
        reader.count_corrected.connect(self._on_count_corrected)
        reader.playing_changed.connect(self._on_playing_changed)
        reader.progress.connect(self._on_frame_read)

    # ================================================================== sources and playback
    def open_source(self, spec: str | Path | int, play: bool = True) -> None:
        """Open a video, image, folder or camera in this tile (decoded in its reader thread)."""
        self.export_panel.cancel()
        self._autoplay = play
        self._last_frame_t = None
        self.opening = True
        self.handle.request_open.emit(spec if isinstance(spec, int) else str(spec))

    def play(self) -> None:
        info = self.state.source
        if info is not None and (info.seekable or info.is_live):
            self.handle.request_play.emit()

    def pause(self) -> None:
        self.handle.request_pause.emit()

    def toggle_play(self) -> None:
        self.pause() if self.state.playing else self.play()

    def step(self, delta: int = 1) -> None:
        """Pause and show the frame ``delta`` frames from the shown one (a file's; +1 next, -1 previous)."""
        if self.state.source is not None and not self.state.source.is_live:
            self.handle.request_step.emit(int(delta))

    def seek(self, index: int) -> None:
        """Show frame ``index`` of a file (negative: from the end); keeps playing if it was."""
        if self.state.source is not None and not self.state.source.is_live:
            self.handle.request_seek.emit(int(index))

    def redetect_request(self) -> tuple[int, Frame, int] | None:
        """(slot, frame, generation) of a paused frame to detect again (a new model or NMS method), else None."""
        result = self.state.result
        if result is None or self.state.playing:
            return None
        return self.slot, result.frame, result.generation

    @Slot(object)
    def _on_source_opened(self, info: SourceInfo) -> None:
        self.opening = False
        self.state.set_source(info)
        self.canvas.set_detections(Detections.empty())  # the previous source's boxes never go on its frames
        self.source_opened.emit(info)
        self.note.emit(f"Opened {info.name}")
        if info.warnings:
            self.info.emit("; ".join(info.warnings), "source")
        if Path(info.spec).exists():
            settings.add_recent(info.spec)
        if self._autoplay and (info.is_live or info.seekable):
            self.handle.request_play.emit()

    @Slot(str)
    def _on_source_failed(self, text: str) -> None:
        self.opening = False
        self.error.emit(text, "")
        if self.state.result is None:
            self.canvas.clear(f"Could not open the source:\n{text}")
        self.source_failed.emit(text)

    @Slot(str)
    def _on_source_lost(self, text: str) -> None:
        """The source broke mid-stream (a camera unplugged): keep the last frame, say why."""
        self.error.emit(text, "")
        self.state.set_source(None)
        self.source_failed.emit(text)

    @Slot(int)
    def _on_count_corrected(self, count: int) -> None:
        info = self.state.source
        if info is not None and info.frame_count:
            self.info.emit(f"'{info.name}' ends after {count} of the {info.frame_count} frames its header "
                           f"announces (a truncated file): playing the {count} that decode.", "source")
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
        state = self.state
        if state.playing and self._last_frame_t is not None and now > self._last_frame_t:
            state.source_rate.add(1.0 / (now - self._last_frame_t))
        self._last_frame_t = now
        if state.shows_every_frame:
            # The newest boxes (set with each result and filter change) go on every frame; they were
            # computed on a frame at most one model step older (the latency shown in the panel).
            self.canvas.set_image(frame.image)
            self.frames_shown += 1
            state.set_position(frame.index, frame.file)

    def on_result(self, result: DetectionResult) -> None:
        """The detections of one of this tile's frames (the view routes them here by slot)."""
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
        self.estimate.offer(result.frame.image)
        now = time.perf_counter()
        if not state.playing or now - self._stats_t >= STATS_INTERVAL_S:
            self._stats_t = now
            self.refresh_numbers()
        self.result_shown.emit(result)

    def refresh_numbers(self) -> None:
        """The performance panel, the tracking table and the header's rates."""
        self.stats.refresh()
        self.tracking.refresh()
        s = self.state
        parts = [f"{s.source_rate.value:.0f} fps" if s.source_rate.value else "",
                 f"model {1.0 / s.model_time.value:.1f}/s" if s.model_time.value else "",
                 f"{s.dropped} dropped" if s.dropped else ""]
        self.frame.set_rates("  ·  ".join(p for p in parts if p))

    def _show_title(self, info: SourceInfo | None) -> None:
        self.frame.set_title(info.name if info is not None else "No source", info.spec if info is not None else "")

    def _boxes(self, class_names: Any) -> tuple[Any, Any, Any, Any]:
        """What the canvas draws: the visible detections, their names, their track ids and the trails."""
        dets, ids = self.state.visible_tracked()
        return dets, class_names, ids, self.state.tracks.tracks() if ids is not None else ()

    def redraw_boxes(self) -> None:
        if self.state.result is not None:
            self.canvas.set_detections(*self._boxes(self.state.result.class_names))
            self.stats.refresh()
        self.tracking.refresh()

    def _on_tracking(self) -> None:
        self.canvas.set_counting_line(self.state.tracks.line)
        self.canvas.set_counting_zone(self.state.tracks.zone)
        self.redraw_boxes()

    @Slot(float, float, float, float)
    def _on_line_drawn(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.tracking.draw_button.setChecked(False)
        self.state.set_counting_line(CountingLine((x1, y1), (x2, y2)))

    @Slot(object)
    def _on_zone_drawn(self, corners: list[tuple[float, float]]) -> None:
        self.tracking.zone_button.setChecked(False)
        try:
            zone = CountingZone(tuple(corners))
        except ValueError as exc:  # three corners on one line: say so, keep the previous zone
            self.error.emit(f"That zone has no area: {exc}", "")
            return
        self.state.set_counting_zone(zone)

    def shutdown(self) -> None:
        """Stop the export (waiting for it to save what it did) and close the reader (its thread is joined); the
        state stops listening to the model."""
        job = self.export_panel.job
        self.export_panel.cancel()
        if job is not None:
            job.wait(30.0)
        self.estimate.stop(wait_s=30.0)
        self.handle.shutdown()
        self.state.close()
