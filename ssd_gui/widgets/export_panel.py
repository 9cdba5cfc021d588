"""An export's job, its progress and Cancel button, and the link to the written files when it is done."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ssd_gui.jobs import Job


class ExportPanel(QWidget):
    """Runs one export at a time; hidden until one starts, then keeps an "Open folder" link to the output.

    Signals:
        finished(object): the export function's result (show it with :meth:`finish`).
        failed(str): the export failed (the message names the file).
    """

    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job: Job | None = None
        self.progress = QProgressBar(self)
        self.cancel_button = QPushButton("Cancel export", self)
        self.done_label = QLabel(self)
        self.done_label.setWordWrap(True)
        self.done_label.setOpenExternalLinks(False)
        self.done_label.linkActivated.connect(self.open_folder)
        self.folder: Path | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.progress, self.cancel_button, self.done_label):
            layout.addWidget(w)
        self.cancel_button.clicked.connect(self.cancel)
        self.hide()

    @property
    def busy(self) -> bool:
        return self.job is not None

    def run(self, fn: Callable[..., Any], label: str, total: int | None) -> Job:
        """Run the export ``fn`` (core's job shape) with ``total`` frames expected."""
        self.job = Job(fn, label).start(finished=self._on_finished, failed=self._on_failed,
                                        progress=self.set_progress)
        self.progress.setRange(0, max(1, total or 0))
        self.progress.setValue(0)
        for w in (self.progress, self.cancel_button):
            w.show()
        self.done_label.hide()
        self.show()

    def set_progress(self, p: Any) -> None:
        """``p``: a ``core.jobs.Progress`` in frames."""
        if p.total:
            self.progress.setRange(0, p.total)
        self.progress.setValue(p.done)

    def finish(self, text: str, folder: str | Path | None) -> None:
        """Show ``text`` with an "Open folder" link to ``folder`` (no link when None)."""
        self.progress.hide()
        self.cancel_button.hide()
        self.folder = Path(folder) if folder is not None else None
        link = (f' <a href="{QUrl.fromLocalFile(str(self.folder)).toString()}">Open folder</a>'
                if self.folder is not None else "")
        self.done_label.setText(f"{html.escape(text)}{link}")
        self.done_label.show()
        self.show()

    def cancel(self) -> None:
        """Stop the export; what was done so far is kept (the result says so)."""
        if self.job is not None:
            self.job.cancel()

    def _on_finished(self, result: Any) -> None:
        self.job = None
        self.finished.emit(result)

    def _on_failed(self, text: str) -> None:
        self.job = None
        self.hide()
        self.failed.emit(text)

    def open_folder(self, url: str = "") -> bool:
        """Open the output folder in the desktop's file manager."""
        return QDesktopServices.openUrl(QUrl(url) if url else QUrl.fromLocalFile(str(self.folder)))
