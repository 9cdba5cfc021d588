"""Playback controls of the Detect view: play/pause, step back and forward, the seek bar, the position."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSlider, QStyle, QStyleOptionSlider, QWidget

from ssd_gui.state.detect import DetectState, SourceInfo

DRAG_SEEK_MS = 60  # while the bar is dragged, seek at most this often (each seek decodes a frame)


class SeekSlider(QSlider):
    """A horizontal slider on which a click jumps to the clicked frame (instead of a page step);
    the press then goes on as a drag of the handle from there."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)

    def value_at(self, x: float) -> int:
        """The value under the horizontal widget coordinate ``x``."""
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        style = self.style()
        groove = style.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, self)
        handle = style.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, self)
        span = max(1, groove.width() - handle.width())
        return QStyle.sliderValueFromPosition(self.minimum(), self.maximum(),
                                              int(x - groove.x() - handle.width() / 2), span, opt.upsideDown)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if event.button() == Qt.MouseButton.LeftButton and self.maximum() > self.minimum():
            opt = QStyleOptionSlider()
            self.initStyleOption(opt)
            on_handle = self.style().hitTestComplexControl(QStyle.ComplexControl.CC_Slider, opt,
                                                           event.position().toPoint(), self)
            if on_handle != QStyle.SubControl.SC_SliderHandle:
                self.setValue(self.value_at(event.position().x()))
        super().mousePressEvent(event)


class TransportBar(QWidget):
    """Buttons and the seek bar, drawn from a :class:`DetectState`.

    Signals (the view turns them into requests to the reader thread):
        play_clicked(): toggle play / pause.
        step_requested(int): show the frame this many frames away (+1 next, -1 previous) and pause.
        seek_requested(int): show frame ``index``.
    """

    play_clicked = Signal()
    step_requested = Signal(int)
    seek_requested = Signal(int)

    def __init__(self, state: DetectState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        style = self.style()
        self.play_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "Play", self)
        self.play_button.setToolTip("Play or pause (Space)")
        self.back_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaSkipBackward), "", self)
        self.back_button.setToolTip("Pause and show the previous frame (Left)")
        self.step_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaSkipForward), "Step", self)
        self.step_button.setToolTip("Pause and show the next frame (Right)")
        self.seek_slider = SeekSlider(self)
        self.seek_slider.setRange(0, 0)
        self.seek_slider.setToolTip("Click to jump, drag to scrub (Home / End: first / last frame)")
        self.position_label = QLabel("–", self)
        self.position_label.setMinimumWidth(150)
        self.realtime_check = QCheckBox("Real time", self)
        self.realtime_check.setToolTip(
            "Play at the source's frame rate: the model takes the newest frame whenever it is free and the "
            "latest boxes are drawn on every frame. Off: the model sees every frame and playback slows to its pace.")
        self.loop_check = QCheckBox("Loop", self)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for w in (self.play_button, self.back_button, self.step_button):
            row.addWidget(w)
        row.addWidget(self.seek_slider, 1)
        for w in (self.position_label, self.realtime_check, self.loop_check):
            row.addWidget(w)

        self._drag_timer = QTimer(self)
        self._drag_timer.setSingleShot(True)
        self._drag_timer.setInterval(DRAG_SEEK_MS)
        self._drag_timer.timeout.connect(lambda: self.seek_requested.emit(self.seek_slider.value()))
        self.play_button.clicked.connect(self.play_clicked)
        self.back_button.clicked.connect(lambda: self.step_requested.emit(-1))
        self.step_button.clicked.connect(lambda: self.step_requested.emit(1))
        self.seek_slider.valueChanged.connect(self._on_slider_value)
        self.seek_slider.sliderReleased.connect(self._on_released)
        self.realtime_check.toggled.connect(state.set_realtime)
        self.loop_check.toggled.connect(state.set_loop)

        state.events.source.connect(self._on_source)
        state.events.position.connect(self._on_position)
        state.events.playing.connect(self._on_playing)
        state.events.options.connect(self._on_options)
        self._on_options()
        self._on_source(state.source)

    # ---------------------------------------------------------------- from the person
    def _on_slider_value(self, value: int) -> None:
        self._show_position(value, None)
        if self.seek_slider.isSliderDown():
            if not self._drag_timer.isActive():
                self._drag_timer.start()  # the picture follows the drag a few times a second
        else:
            self.seek_requested.emit(value)  # a click on the groove, the keyboard or the wheel

    def _on_released(self) -> None:
        self._drag_timer.stop()
        self.seek_requested.emit(self.seek_slider.value())

    # ---------------------------------------------------------------- from the state
    def _on_source(self, info: SourceInfo | None) -> None:
        seekable = info is not None and info.seekable
        self.play_button.setEnabled(info is not None and (seekable or info.is_live))
        for w in (self.back_button, self.step_button, self.seek_slider, self.loop_check, self.realtime_check):
            w.setEnabled(seekable)
        self.seek_slider.blockSignals(True)
        self.seek_slider.setRange(0, max(0, (info.frame_count or 1) - 1) if info is not None else 0)
        self.seek_slider.setValue(min(self.state.position, self.seek_slider.maximum()))
        self.seek_slider.blockSignals(False)
        self._show_position(self.state.position, self.state.position_file)

    def _on_position(self, index: int, file: str | None) -> None:
        if not self.seek_slider.isSliderDown():
            self.seek_slider.blockSignals(True)
            self.seek_slider.setValue(index)
            self.seek_slider.blockSignals(False)
            self._show_position(index, file)

    def _show_position(self, index: int, file: str | None) -> None:
        info = self.state.source
        if info is None:
            text = "–"
        elif info.is_live:
            text = f"frame {index}"
        else:
            text = f"{index + 1} / {info.frame_count or '?'}"
            if info.fps:
                text += f"  {index / info.fps:6.2f} s"
            elif file and info.kind == "images":
                text += f"  {Path(file).name}"
        self.position_label.setText(text)
        self.position_label.setToolTip(file or "")

    def _on_playing(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        self.play_button.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay))

    def _on_options(self) -> None:
        for box, on in ((self.realtime_check, self.state.realtime), (self.loop_check, self.state.loop)):
            if box.isChecked() != on:
                box.setChecked(on)
