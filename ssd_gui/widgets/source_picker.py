"""The Detect view's source controls: the Open button and menu (video, image, folder, camera) and what is open."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QToolButton, QWidget

from core.io.images import IMAGE_EXTENSIONS
from core.io.video import list_cameras
from ssd_gui import settings
from ssd_gui.state.detect import DetectState, SourceInfo

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
VIDEO_FILTER = "Videos (" + " ".join(f"*{e}" for e in VIDEO_EXTENSIONS) + ");;All files (*)"
IMAGE_FILTER = "Images (" + " ".join(f"*{e}" for e in IMAGE_EXTENSIONS) + ");;All files (*)"


class SourcePicker(QWidget):
    """Open button with its menu and a label naming the open source.

    Signals:
        open_requested(str, bool): a source to open and whether to start playing it.
    """

    open_requested = Signal(str, bool)

    def __init__(self, state: DetectState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source_button = QToolButton(self)
        self.source_button.setText("Open")
        self.source_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.source_label = QLabel("No source", self)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.source_button)
        row.addWidget(self.source_label, 1)
        self.open_video_action = QAction("Open &video…", self, shortcut="Ctrl+O", triggered=self._ask_video)
        self.open_image_action = QAction("Open &image…", self, triggered=self._ask_image)
        self.open_folder_action = QAction("Open image &folder…", self, triggered=self._ask_folder)
        self.camera_menu = QMenu("&Camera", self)
        self.camera_menu.aboutToShow.connect(self.fill_camera_menu)
        self.menu = QMenu(self)
        for a in self.actions_for_menu():
            self.menu.addAction(a)
        self.menu.addMenu(self.camera_menu)
        self.source_button.setMenu(self.menu)
        state.events.source.connect(self._on_source)

    def actions_for_menu(self) -> list[QAction]:
        return [self.open_video_action, self.open_image_action, self.open_folder_action]

    def fill_camera_menu(self) -> None:
        self.camera_menu.clear()
        cams = list_cameras()
        if not cams:
            self.camera_menu.addAction("No camera found").setEnabled(False)
            return
        for i in cams:
            self.camera_menu.addAction(f"Camera {i}", lambda i=i: self.open_requested.emit(f"camera:{i}", True))

    def _ask_video(self) -> None:
        path = settings.ask_open_file(self, "Open video", "video", VIDEO_FILTER)
        if path:
            self.open_requested.emit(path, True)

    def _ask_image(self) -> None:
        path = settings.ask_open_file(self, "Open image", "image", IMAGE_FILTER)
        if path:
            self.open_requested.emit(path, False)

    def _ask_folder(self) -> None:
        path = settings.ask_folder(self, "Open a folder of images", "image")
        if path:
            self.open_requested.emit(path, False)

    def _on_source(self, info: SourceInfo | None) -> None:
        if info is None:
            self.source_label.setText("No source")
            self.source_label.setToolTip("")
            return
        count = f", {info.frame_count} frames" if info.frame_count and info.frame_count > 1 else ""
        fps = f", {info.fps:.1f} fps" if info.fps else ""
        self.source_label.setText(f"{info.name} ({info.kind}{count}{fps})")
        self.source_label.setToolTip(info.spec)
