"""The main window: three views in tabs (Detect, Train, Evaluate), menus and a status bar.

The Train and Evaluate views are built by :func:`_make_view` from
``ssd_gui.views.train_view.TrainView`` and ``ssd_gui.views.evaluate_view.EvaluateView``
when those modules exist; until then a placeholder stands in their tab. Each view class is
constructed as ``View(parent: QWidget | None = None)`` and may offer:

* a ``message = Signal(str, str)`` (text, "error"/"info") shown in the status bar,
* ``menu_actions() -> list[QAction]``, listed in the window's menu named after the view,
* ``shutdown()``, called when the window closes (join its threads there).
"""
from __future__ import annotations

import importlib
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QTabWidget, QVBoxLayout, QWidget

from ssd_gui.views.detect_view import DetectView


class PlaceholderView(QWidget):
    """Stands in a tab whose view has not been written yet."""

    def __init__(self, title: str, module: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        label = QLabel(f"The {title} view is not available in this build\n({module} is missing).", self)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        QVBoxLayout(self).addWidget(label)
        self.title = title


def _make_view(module: str, cls: str, title: str, parent: QWidget) -> QWidget:
    """``module.cls(parent)``, or a :class:`PlaceholderView` when the module does not exist yet.

    Only the module's own absence is tolerated: an import error inside it propagates, so a
    broken view is a visible bug rather than a silent placeholder.
    """
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return PlaceholderView(title, module, parent)
    return getattr(mod, cls)(parent)


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

        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.detect_view = DetectView(self, device=device)
        self.train_view = _make_view("ssd_gui.views.train_view", "TrainView", "Train", self)
        self.evaluate_view = _make_view("ssd_gui.views.evaluate_view", "EvaluateView", "Evaluate", self)
        self.tabs.addTab(self.detect_view, "Detect")
        self.tabs.addTab(self.train_view, "Train")
        self.tabs.addTab(self.evaluate_view, "Evaluate")
        self.setCentralWidget(self.tabs)
        for view in self.views():
            signal = getattr(view, "message", None)
            if signal is not None:
                signal.connect(self.show_message)

        self.status_label = QLabel(self)
        self.statusBar().addPermanentWidget(self.status_label)
        self._build_menus()
        self.statusBar().showMessage("Ready")
        if start_demo:
            self.detect_view.start_demo()

    def views(self) -> list[QWidget]:
        return [self.detect_view, self.train_view, self.evaluate_view]

    def _build_menus(self) -> None:
        bar = self.menuBar()
        dv = self.detect_view
        file_menu = bar.addMenu("&File")
        for a in (dv.open_video_action, dv.open_image_action, dv.open_folder_action):
            file_menu.addAction(a)
        file_menu.addMenu(dv.camera_menu)
        file_menu.addSeparator()
        file_menu.addAction(dv.export_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, triggered=self.close)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        file_menu.addAction(quit_action)

        model_menu = bar.addMenu("&Model")
        for a in (dv.demo_model_action, dv.open_weights_action, dv.coco_model_action):
            model_menu.addAction(a)
        model_menu.addMenu(dv.device_menu)

        for view, title in ((self.train_view, "&Train"), (self.evaluate_view, "&Evaluate")):
            actions = getattr(view, "menu_actions", None)
            if callable(actions):
                menu = bar.addMenu(title)
                for a in actions():
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
        for view in self.views():
            shutdown: Any = getattr(view, "shutdown", None)
            if callable(shutdown):
                shutdown()
        super().closeEvent(event)
