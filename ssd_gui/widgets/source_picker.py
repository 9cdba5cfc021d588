"""The Detect view's source controls: the Open button and menu (video, image, folder, camera), the same kinds
to open in a new tile of the grid, and what the selected tile shows."""
from __future__ import annotations

from PySide6.QtCore import Signal, SignalInstance
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
        open_requested(str, bool): a source to open (in the selected tile) and whether to start playing it.
        new_tile_requested(str, bool): the same, in a new tile of the grid (:attr:`new_tile_menu`).
    """

    open_requested = Signal(str, bool)
    new_tile_requested = Signal(str, bool)

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
        self.open_video_action = QAction("Open &video…", self, shortcut="Ctrl+O", triggered=lambda: self._ask_video())
        self.open_image_action = QAction("Open &image…", self, triggered=lambda: self._ask_image())
        self.open_folder_action = QAction("Open image &folder…", self, triggered=lambda: self._ask_folder())
        self.camera_menu = QMenu("&Camera", self)
        self.camera_menu.aboutToShow.connect(self.fill_camera_menu)
        self.new_tile_menu = QMenu("Open in a &new tile", self)
        self.new_tile_menu.setToolTip("Show another source beside the open ones (up to four); one model runs "
                                      "on all of them at once")
        for text, ask in (("&Video…", self._ask_video), ("&Image…", self._ask_image), ("Image &folder…", self._ask_folder)):
            self.new_tile_menu.addAction(text, lambda ask=ask: ask(self.new_tile_requested))
        self.new_tile_camera_menu = self.new_tile_menu.addMenu("&Camera")
        self.new_tile_camera_menu.aboutToShow.connect(
            lambda: self.fill_camera_menu(self.new_tile_camera_menu, self.new_tile_requested))
        self.menu = QMenu(self)
        for a in self.actions_for_menu():
            self.menu.addAction(a)
        self.menu.addMenu(self.camera_menu)
        self.menu.addMenu(self.new_tile_menu)
        self.source_button.setMenu(self.menu)
        self.state = state
        state.events.source.connect(self._on_source)

    def bind(self, state: DetectState) -> None:
        """Name what ``state`` (the selected tile's) shows from now on."""
        if state is not self.state:
            self.state.events.source.disconnect(self._on_source)
            self.state = state
            state.events.source.connect(self._on_source)
        self._on_source(state.source)

    def actions_for_menu(self) -> list[QAction]:
        return [self.open_video_action, self.open_image_action, self.open_folder_action]

    def fill_camera_menu(self, menu: QMenu | None = None, signal: SignalInstance | None = None) -> None:
        menu = menu if menu is not None else self.camera_menu
        signal = signal if signal is not None else self.open_requested
        menu.clear()
        cams = list_cameras()
        if not cams:
            menu.addAction("No camera found").setEnabled(False)
            return
        for i in cams:
            menu.addAction(f"Camera {i}", lambda i=i: signal.emit(f"camera:{i}", True))

    def _ask_video(self, signal: SignalInstance | None = None) -> None:
        path = settings.ask_open_file(self, "Open video", "video", VIDEO_FILTER)
        if path:
            (signal or self.open_requested).emit(path, True)

    def _ask_image(self, signal: SignalInstance | None = None) -> None:
        path = settings.ask_open_file(self, "Open image", "image", IMAGE_FILTER)
        if path:
            (signal or self.open_requested).emit(path, False)

    def _ask_folder(self, signal: SignalInstance | None = None) -> None:
        path = settings.ask_folder(self, "Open a folder of images", "image")
        if path:
            (signal or self.open_requested).emit(path, False)

    def _on_source(self, info: SourceInfo | None) -> None:
        if info is None:
            self.source_label.setText("No source")
            self.source_label.setToolTip("")
            return
        count = f", {info.frame_count} frames" if info.frame_count and info.frame_count > 1 else ""
        fps = f", {info.fps:.1f} fps" if info.fps else ""
        self.source_label.setText(f"{info.name} ({info.kind}{count}{fps})")
        self.source_label.setToolTip(info.spec)
