"""The main window: the three views in tabs (Detect, Train, Evaluate), the menus and the status bar.

All wiring between views happens here: a view only emits requests (``open_in_detect_requested``,
``evaluate_requested``, ``message``) and offers methods; it never looks the window or another view up.
The window also keeps the session (geometry, the Detect view's choices, the last model: :mod:`ssd_gui.session`),
lists recent files, and opens videos, images, folders and weights dropped on it.
"""
from __future__ import annotations

from typing import Any

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu, QMessageBox, QProgressDialog, QTabWidget

from ssd_gui import session, settings
from ssd_gui.views.base import View
from ssd_gui.views.detect_view import DetectView
from ssd_gui.views.evaluate_view import EvaluateView
from ssd_gui.views.train_view import TrainView


class MainWindow(QMainWindow):
    """The application window.

    Attributes:
        detect_view, train_view, evaluate_view: the three tabs' widgets.
        messages: every (kind, text) shown in the status bar, oldest first.
    """

    def __init__(self, start_demo: bool = True, device: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("SSD Detector")
        self.resize(1200, 760)
        self.messages: list[tuple[str, str]] = []
        self.stopping_notice: QProgressDialog | None = None  # shown while a run stops before the window closes
        self.about_box: QMessageBox | None = None
        self.shortcuts_box: QMessageBox | None = None
        self.setAcceptDrops(True)

        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.detect_view = DetectView(self, device=device)
        self.train_view = TrainView(self)
        self.evaluate_view = EvaluateView(self)
        self.tabs.addTab(self.detect_view, "Detect")
        self.tabs.addTab(self.train_view, "Train")
        self.tabs.addTab(self.evaluate_view, "Evaluate")
        self.setCentralWidget(self.tabs)
        self._connect_views()

        self.status_label = QLabel(self)
        self.statusBar().addPermanentWidget(self.status_label)
        self._build_menus()
        session.restore(self)
        self.statusBar().showMessage("Ready")
        if start_demo:
            self.detect_view.start_demo(session.last_model())

    def views(self) -> list[View]:
        return [self.detect_view, self.train_view, self.evaluate_view]

    # ---------------------------------------------------------------- wiring
    def _connect_views(self) -> None:
        for view in self.views():
            view.message.connect(self.show_message)
        self.train_view.open_in_detect_requested.connect(self.open_in_detect)
        self.train_view.evaluate_requested.connect(self.evaluate_weights)
        self.evaluate_view.open_in_detect_requested.connect(self.open_image_in_detect)

    @Slot(str)
    def open_image_in_detect(self, path: str) -> None:
        """Show the image ``path`` with the Detect view's model."""
        self.detect_view.open_source(path, play=False)
        self.tabs.setCurrentWidget(self.detect_view)

    @Slot(str)
    def open_in_detect(self, weights: str) -> None:
        """Load ``weights`` into the Detect view and show it."""
        self.detect_view.load_model(weights)
        self.tabs.setCurrentWidget(self.detect_view)

    @Slot(str, object)
    def evaluate_weights(self, weights: str, dataset: dict[str, Any]) -> None:
        """Evaluate ``weights`` on ``dataset`` (``EvaluateView.set_dataset`` keywords) in the Evaluate view."""
        view = self.evaluate_view
        view.set_model(weights)
        view.set_dataset(**dataset)
        self.tabs.setCurrentWidget(view)
        view.start()

    def _build_menus(self) -> None:
        bar = self.menuBar()
        dv = self.detect_view
        file_menu = bar.addMenu("&File")
        for a in dv.sources.actions_for_menu():
            file_menu.addAction(a)
        file_menu.addMenu(dv.sources.camera_menu)
        file_menu.addMenu(dv.sources.new_tile_menu)
        self.recent_menu = file_menu.addMenu("&Recent files")
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(dv.export_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, triggered=self.close)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        file_menu.addAction(quit_action)

        model_menu = bar.addMenu("&Model")
        for a in dv.models.actions_for_menu():
            model_menu.addAction(a)
        model_menu.addMenu(dv.models.runtime_menu)

        for view, title in ((self.train_view, "&Train"), (self.evaluate_view, "&Evaluate")):
            menu = bar.addMenu(title)
            for a in view.menu_actions():
                menu.addAction(a)

        help_menu = bar.addMenu("&Help")
        self.shortcuts_action = QAction("&Keyboard shortcuts", self, triggered=self.show_shortcuts)
        self.shortcuts_action.setShortcut(QKeySequence.StandardKey.HelpContents)
        self.about_action = QAction("&About", self, triggered=self.show_about)
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

    # ---------------------------------------------------------------- files
    def fill_recent_menu(self) -> None:
        """The sources and weights opened lately (those still there), newest first."""
        menu: QMenu = self.recent_menu
        menu.clear()
        recent = settings.recent_files()
        for path in recent:
            action = menu.addAction(Path(path).name, lambda p=path: self.open_path(p))
            action.setToolTip(path)
            action.setStatusTip(path)
        if not recent:
            menu.addAction("No recent files").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear the list", lambda: settings.put("recent", []))

    @Slot(str)
    def open_path(self, path: str) -> bool:
        """Open ``path`` in the Detect view: weights are loaded, a video plays, an image or a folder shows."""
        kind = session.file_kind(path)
        if kind is None:
            self.detect_view.show_error(f"cannot open '{path}': no such file or folder")
            return False
        if kind == "weights":
            self.detect_view.load_model(path)
        else:
            self.detect_view.open_source(path, play=kind == "video")
        self.tabs.setCurrentWidget(self.detect_view)
        return True

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        urls = event.mimeData().urls()
        if urls and all(u.isLocalFile() and session.file_kind(u.toLocalFile()) for u in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        """Weights first (so that the sources are detected with them), then the sources: the first in the selected
        tile of the Detect view, each other one in a new tile beside it (up to four)."""
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        weights = [p for p in paths if session.file_kind(p) == "weights"]
        sources = [p for p in paths if session.file_kind(p) not in ("weights", None)]
        for p in weights + sources[:1]:
            self.open_path(p)
        for p in sources[1:]:
            if not self.detect_view.open_in_new_tile(p, play=session.file_kind(p) == "video"):
                break
        event.acceptProposedAction()

    @Slot(str, str)
    def show_message(self, text: str, kind: str = "info") -> None:
        """Put ``text`` in the status bar (errors stay until the next message)."""
        self.messages.append((kind, text))
        self.statusBar().showMessage(text, 0 if kind == "error" else 8000)

    def show_about(self) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information, "About SSD Detector",
                          f"SSD Detector {session.app_version()}\n\nSingle Shot MultiBox Detector (VGG16-SSD300/512): "
                          "live detection, training and evaluation.\nThe engine is the `core` package; this window is "
                          "`ssd_gui`.", QMessageBox.StandardButton.Ok, self)
        self.about_box = box
        box.open()
        return box

    def show_shortcuts(self) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", session.shortcuts_html(self),
                          QMessageBox.StandardButton.Close, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        self.shortcuts_box = box
        box.open()
        return box

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        train = self.train_view
        if train.is_busy():
            # A run saves its checkpoint before it stops: the window says so and closes when it has.
            if self.stopping_notice is None and train.confirm_stop():
                self._show_stopping()
            event.ignore()
            return
        session.save(self)
        for view in self.views():
            view.shutdown()
        super().closeEvent(event)

    def _show_stopping(self) -> None:
        notice = QProgressDialog("Stopping the training run: it finishes its iteration and saves a checkpoint "
                                 "(last.pt) to resume from, then the window closes…", "", 0, 0, self)
        notice.setWindowTitle("Stopping training")
        notice.setCancelButton(None)
        notice.setMinimumDuration(0)
        notice.setWindowModality(Qt.WindowModality.WindowModal)
        self.stopping_notice = notice
        self.show_message("Stopping the training run before closing…")
        for signal in (self.train_view.run_finished, self.train_view.run_failed):
            signal.connect(self._close_after_stop)
        notice.show()

    @Slot()
    def _close_after_stop(self, *_: object) -> None:
        if self.stopping_notice is not None:
            self.stopping_notice.close()
            self.stopping_notice = None
            self.close()
