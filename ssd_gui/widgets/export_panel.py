"""The export of one source of the Detect view: the job, its progress and Cancel, and the "Open folder" link
when it is done (the view's Export button and action start the export of the selected source).

The export is :func:`core.inference.run_inference`, the function of ``ssd detect``, given what the
view shows: the open source, the model, the confidence threshold and the classes shown (and, with tracking
on, the tracker and its threshold: track ids in the JSON, ids and trails in the video).
"""
from __future__ import annotations

import html
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from core import inference
from ssd_gui import settings
from ssd_gui.jobs import Job
from ssd_gui.state.detect import RUN_SCORE_THRESH, DetectState

CODECS = {"avc1": " (H.264)", "mp4v": " (MPEG-4 Part 2: H.264 is not available in this OpenCV)"}


class ExportPanel(QWidget):
    """Runs one export at a time; hidden until one starts, then keeps an "Open folder" link to the output.

    Signals:
        finished(object, str): the :class:`core.inference.InferenceResult` and a sentence saying what was written.
        failed(str): the export could not start or failed (the message names the file).
        availability(bool): whether an export can start now changed (a model and a file source, none running).
    """

    finished = Signal(object, str)
    failed = Signal(str)
    pause_requested = Signal()
    availability = Signal(bool)

    def __init__(self, state: DetectState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.job: Job | None = None
        self.folder: Path | None = None
        self.progress = QProgressBar(self)
        self.cancel_button = QPushButton("Cancel export", self)
        self.done_label = QLabel(self)
        self.done_label.setWordWrap(True)
        self.done_label.linkActivated.connect(self.open_folder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.progress, self.cancel_button, self.done_label):
            layout.addWidget(w)
        self.cancel_button.clicked.connect(self.cancel)
        for event in (state.events.source, state.events.model):
            event.connect(lambda *_: self.update_controls())
        self.hide()
        self.update_controls()

    @property
    def busy(self) -> bool:
        return self.job is not None

    @property
    def can_export(self) -> bool:
        info = self.state.source
        return self.state.detector is not None and info is not None and not info.is_live and not self.busy

    def update_controls(self) -> None:
        self.availability.emit(self.can_export)

    def export(self, video_path: str | Path | None, json_path: str | Path | None) -> bool:
        """Run the model over the whole open file and write the annotated video and/or the JSON.

        Returns False (``failed`` says why) when there is nothing to export; otherwise the work runs
        in a job and ``finished`` or ``failed`` follows.
        """
        s, info = self.state, self.state.source
        why = ("Load a model before exporting." if s.detector is None else
               "Open a video, image or folder to export (live cameras are not exported)."
               if info is None or info.is_live else "An export is already running." if self.busy else "")
        if why:
            self.failed.emit(why)
            return False
        self.pause_requested.emit()
        labels = None if s.shown_labels is None else set(s.shown_labels)
        tracker = s.tracks.tracker.config if s.tracking and info.kind == "video" else None  # ids and trails too
        fn = partial(inference.run_inference, s.detector, info.spec, json_path=json_path, video_path=video_path,
                     score_thresh=max(s.min_score, RUN_SCORE_THRESH), video_thresh=s.min_score, labels=labels,
                     video_fps=info.fps, tracker=tracker)
        self.job = Job(fn, f"export of '{info.spec}'").start(finished=self._on_finished, failed=self._on_failed,
                                                              progress=self.set_progress)
        self.progress.setRange(0, max(1, info.frame_count or 0))
        self.progress.setValue(0)
        for w in (self.progress, self.cancel_button):
            w.show()
        self.done_label.hide()
        self.show()
        self.update_controls()
        return True

    def ask(self) -> None:
        """Ask where to save the video (the JSON goes next to it), then export."""
        info = self.state.source
        default = Path(info.spec).stem + "_detections.mp4" if info is not None and not info.is_live \
            else "detections.mp4"
        path = settings.ask_save_file(self, "Save annotated video (the JSON goes next to it)", "export", default,
                                      "MP4 video (*.mp4)")
        if path:
            self.export(Path(path).with_suffix(".mp4"), Path(path).with_suffix(".json"))

    def cancel(self) -> None:
        """Stop the export; the frames done are kept (the JSON says it is partial)."""
        if self.job is not None:
            self.job.cancel()

    def set_progress(self, p: Any) -> None:
        """``p``: a ``core.jobs.Progress`` in frames."""
        if p.total:
            self.progress.setRange(0, p.total)
        self.progress.setValue(p.done)

    def _on_finished(self, result: Any) -> None:
        self.job = None
        files = " and ".join(str(p) for p in (result.video_path, result.json_path) if p)
        verb = "Export stopped after" if result.partial else "Exported"
        codec = CODECS.get(result.video_codec or "", f" ({result.video_codec})") if result.video_path else ""
        text = f"{verb} {result.frames_done} frames to {files}{codec}"
        self.folder = Path(result.json_path or result.video_path).parent
        self.progress.hide()
        self.cancel_button.hide()
        link = QUrl.fromLocalFile(str(self.folder)).toString()
        self.done_label.setText(f'{html.escape(text)}. <a href="{link}">Open folder</a>')
        self.done_label.show()
        self.update_controls()
        self.finished.emit(result, text)

    def _on_failed(self, text: str) -> None:
        self.job = None
        self.hide()
        self.update_controls()
        self.failed.emit(text)

    def open_folder(self, url: str = "") -> bool:
        """Open the output folder in the desktop's file manager."""
        return QDesktopServices.openUrl(QUrl(url) if url else QUrl.fromLocalFile(str(self.folder)))
