"""The main window: the three views in tabs (Detect, Train, Evaluate), the menus and the status bar.

All wiring between views happens here: a view only emits requests (``open_in_detect_requested``,
``evaluate_requested``, ``message``) and offers methods; it never looks the window or another view up.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QProgressDialog, QTabWidget

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
        self.statusBar().showMessage("Ready")
        if start_demo:
            self.detect_view.start_demo()

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
        file_menu.addSeparator()
        file_menu.addAction(dv.export_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, triggered=self.close)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        file_menu.addAction(quit_action)

        model_menu = bar.addMenu("&Model")
        for a in dv.models.actions_for_menu():
            model_menu.addAction(a)
        model_menu.addMenu(dv.models.device_menu)

        for view, title in ((self.train_view, "&Train"), (self.evaluate_view, "&Evaluate")):
            menu = bar.addMenu(title)
            for a in view.menu_actions():
                menu.addAction(a)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(QAction("&About", self, triggered=self._about))

    @Slot(str, str)
    def show_message(self, text: str, kind: str = "info") -> None:
        """Put ``text`` in the status bar (errors stay until the next message)."""
        self.messages.append((kind, text))
        self.statusBar().showMessage(text, 0 if kind == "error" else 8000)

    def _about(self) -> None:
        QMessageBox.about(self, "About SSD Detector",
                          "Single Shot MultiBox Detector (VGG16-SSD300/512): live detection, training "
                          "and evaluation.\nThe engine is the `core` package; this window is `ssd_gui`.")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        train = self.train_view
        if train.is_busy():
            # A run saves its checkpoint before it stops: the window says so and closes when it has.
            if self.stopping_notice is None and train.confirm_stop():
                self._show_stopping()
            event.ignore()
            return
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
