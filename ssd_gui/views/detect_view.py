"""The Detect view: open a video, camera, image or folder (or up to four at once, in a grid) and watch the
detector run on it.

Built from a :class:`ssd_gui.state.grid.GridState`: one :class:`ssd_gui.views.detect_tile.DetectTile` per
source (its canvas in the grid, its side controls and transport bar shown while it is selected), and the
controls they share: source picker, model picker (with the runtime choice), NMS choice, Export.

Threads: frames are decoded by one :class:`ssd_gui.live.FrameReader` per source and the model runs in one
:class:`ssd_gui.live.DetectionWorker` for all of them (the newest frame of each source, one forward pass),
each in its own QThread; loading a model and exporting run as :class:`ssd_gui.jobs.Job` s. The GUI thread
only paints and filters.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QPushButton, QScrollArea, QSplitter, QStackedWidget, QVBoxLayout,
                               QWidget)

# Imported here, on the GUI thread at start-up: the first import of torch/torchvision
# modules inside a worker would hold the GIL (and freeze the GUI) for hundreds of ms.
import core.detector  # noqa: F401
import core.runtime.load  # noqa: F401
import core.weights  # noqa: F401
from core.detector import available_devices
from core.runtime import runtime_label
from ssd_gui.live import LivePipeline, ReaderHandle
from ssd_gui.one_per_turn import OnePerTurn
from ssd_gui.state.detect import DetectionResult, DetectState, SourceInfo
from ssd_gui.state.grid import GridState
from ssd_gui.views.base import View
from ssd_gui.views.detect_tile import DetectTile
from ssd_gui.widgets.model_picker import ModelPicker, model_name
from ssd_gui.widgets.nms_picker import NmsPicker
from ssd_gui.widgets.source_picker import SourcePicker
from ssd_gui.widgets.tile_grid import TileGrid

try:  # OpenVINO's first import holds the GIL for ~0.5 s: here at start-up, not in the loading job
    import openvino  # noqa: F401
except ImportError:  # the PyTorch runtime still works
    pass

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Space", "play / pause"), ("Right", "next frame"), ("Left", "previous frame"),
    ("Home", "first frame"), ("End", "last frame"))


class DetectView(View):
    """Sources (one, or a grid of up to four), model, playback controls, live detections with filters, export.

    Public methods (menus, the main window, tests): :meth:`open_source`, :meth:`open_in_new_tile`,
    :meth:`close_tile`, :meth:`select_tile`, :meth:`play`, :meth:`pause`, :meth:`step`, :meth:`seek`,
    :meth:`load_model`, :meth:`load_coco_model`, :meth:`export`, :meth:`start_demo`, :meth:`shutdown`.
    ``state`` is the selected tile's :class:`DetectState`, ``grid`` the :class:`GridState` of all of them; the
    playback methods, ``canvas`` and the per-source controls are the selected tile's.
    """

    result_shown = Signal(object)    # DetectionResult of any tile, after it reached its canvas
    model_changed = Signal(object)   # the new core.detector.Detector
    model_failed = Signal(str)
    source_opened = Signal(object)   # SourceInfo
    source_failed = Signal(str)
    export_finished = Signal(object)  # core.inference.InferenceResult

    def __init__(self, parent: QWidget | None = None, device: str | None = None,
                 state: DetectState | None = None) -> None:
        super().__init__(parent)
        self.grid = GridState(first=state or DetectState(available_devices()))
        self.tiles: list[DetectTile] = []
        self.pipeline = LivePipeline(self)
        self._results = OnePerTurn(self._show_result, self)  # the newest per tile, one tile per turn
        self._build_ui()
        self._add_tile(self.grid.tiles[0], self.pipeline.first)
        if device:
            self.models.choose_device(device)
        self._connect()

    # ================================================================== construction
    def _build_ui(self) -> None:
        m = self.grid.model
        self.tile_grid = TileGrid(self)
        self.sources = SourcePicker(self.grid.current, self)
        self.models = ModelPicker(m, self, source=lambda: self.state.source)
        self.export_button = QPushButton("Export…", self)
        self.export_button.setToolTip("Save the annotated video and the detections JSON of the selected source (what "
                                      "it shows: its confidence threshold and classes)")
        self.export_action = QAction("&Export annotated video and JSON…", self, shortcut="Ctrl+E",
                                     triggered=lambda: self.export_panel.ask())
        self.export_button.clicked.connect(lambda: self.export_panel.ask())
        top = QHBoxLayout()
        top.addWidget(self.sources, 1)
        top.addWidget(self.models, 1)
        top.addWidget(self.export_button)

        self.nms = NmsPicker(m, self)
        self.side_stack = QStackedWidget(self)
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.nms)
        side_layout.addWidget(self.side_stack, 1)
        side.setMinimumWidth(220)
        side_scroll = QScrollArea(self)  # the side panel scrolls rather than set the window's minimum height
        side_scroll.setWidget(side)
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setMinimumWidth(240)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.tile_grid)
        splitter.addWidget(side_scroll)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([760, 240])
        self.transport_stack = QStackedWidget(self)

        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.transport_stack)
        for key, slot in (("Space", self.toggle_play), ("Right", self.step), ("Left", self.step_back),
                          ("Home", lambda: self.seek(0)), ("End", lambda: self.seek(-1))):
            QShortcut(QKeySequence(key), self, slot)

    def _connect(self) -> None:
        m = self.grid.model
        self.sources.open_requested.connect(self.open_source)
        self.sources.new_tile_requested.connect(self.open_in_new_tile)
        self.models.loaded.connect(self._on_model_loaded)
        self.models.failed.connect(self._on_model_failed)
        m.events.nms.connect(self._detect_again)
        self.grid.events.selected.connect(lambda _: self._show_selected())
        self.pipeline.detection.progress.connect(self._on_result)
        self.pipeline.detection.failed.connect(self.show_error)

    def _add_tile(self, state: DetectState, handle: ReaderHandle) -> DetectTile:
        tile = DetectTile(state, handle, self)
        self.tiles.append(tile)
        self.side_stack.addWidget(tile.side)
        self.transport_stack.addWidget(tile.transport)
        tile.frame.clicked.connect(lambda: self.select_tile(self.tiles.index(tile)) if tile in self.tiles else None)
        tile.frame.close_clicked.connect(lambda: self.close_tile(self.tiles.index(tile)) if tile in self.tiles else None)
        tile.result_shown.connect(self.result_shown)
        tile.source_opened.connect(self.source_opened)
        tile.source_failed.connect(self.source_failed)
        tile.export_finished.connect(self._on_export_finished)
        tile.export_panel.availability.connect(lambda _: self._sync_export())
        tile.error.connect(lambda text, topic: self.show_error(self._prefixed(tile, text), topic))
        tile.info.connect(lambda text, topic: self.show_info(self._prefixed(tile, text), topic))
        tile.note.connect(lambda text: self.say(self._prefixed(tile, text)))
        self._show_selected()
        return tile

    def _prefixed(self, tile: DetectTile, text: str) -> str:
        """A tile's message names its source when several are shown."""
        info = tile.state.source
        return f"{info.name}: {text}" if self.grid.is_grid and info is not None else text

    def shortcuts(self) -> tuple[tuple[str, str], ...]:
        """(key, what it does) of the view's keyboard shortcuts, for Help."""
        return SHORTCUTS

    # ================================================================== the grid
    @property
    def tile(self) -> DetectTile:
        """The selected tile."""
        return self.tiles[self.grid.selected]

    def open_in_new_tile(self, spec: str | Path | int, play: bool = True) -> bool:
        """Open a source beside those open, in a new tile (selected); a tile with nothing open or opening is used
        instead. False, with a message, when four sources are open."""
        empty = next((t for t in self.tiles if t.state.source is None and not t.opening), None)
        if empty is None:
            if not self.grid.can_add:
                self.show_error(f"Could not open '{spec}' beside the others: the Detect view shows at most "
                                f"{len(self.tiles)} sources at once; close one first.")
                return False
            empty = self._add_tile(self.grid.add(), self.pipeline.add_reader())
        self.select_tile(self.tiles.index(empty))
        self.open_source(spec, play)
        return True

    def close_tile(self, index: int) -> bool:
        """Close tile ``index``: its reader stops and its thread is joined, the others go on. The last tile stays
        (False)."""
        if not self.grid.is_grid or not 0 <= index < len(self.tiles):
            return False
        tile = self.tiles.pop(index)
        tile.shutdown()
        self.pipeline.remove_reader(tile.slot)
        self.grid.remove(index)
        for w in (tile.side, tile.transport):
            (self.side_stack if w is tile.side else self.transport_stack).removeWidget(w)
        self._show_selected()
        for obj in (tile.frame, tile.side, tile.transport, tile):
            obj.deleteLater()
        return True

    def select_tile(self, index: int) -> None:
        """Show tile ``index``'s controls; the playback keys and menus act on it."""
        self.grid.select(index)  # its event shows the tile

    def _show_selected(self) -> None:
        if len(self.tiles) != len(self.grid.tiles):
            return  # a tile is being added or removed; it is shown once done
        tile = self.tile
        self.tile_grid.set_frames([t.frame for t in self.tiles], self.grid.selected)
        self.side_stack.setCurrentWidget(tile.side)
        self.transport_stack.setCurrentWidget(tile.transport)
        self.sources.bind(tile.state)
        self._sync_export()

    def _sync_export(self) -> None:
        can = self.export_panel.can_export
        self.export_button.setEnabled(can)
        self.export_action.setEnabled(can)

    # ================================================================== what tests and the window read
    @property
    def state(self) -> DetectState:
        return self.grid.current

    @property
    def canvas(self) -> Any:
        return self.tile.canvas

    @property
    def confidence(self) -> Any:
        return self.tile.confidence

    @property
    def class_filter(self) -> Any:
        return self.tile.class_filter

    @property
    def tracking(self) -> Any:
        return self.tile.tracking

    @property
    def stats(self) -> Any:
        return self.tile.stats

    @property
    def export_panel(self) -> Any:
        return self.tile.export_panel

    @property
    def transport(self) -> Any:
        return self.tile.transport

    @property
    def frames_shown(self) -> int:
        return self.tile.frames_shown

    @property
    def detector(self) -> Any:
        return self.grid.model.detector

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
        return bool(self.grid.model.loading)

    @property
    def min_score(self) -> float:
        return self.state.min_score

    def set_min_score(self, score: float) -> None:
        self.state.set_min_score(score)

    # ================================================================== sources and playback (the selected tile)
    def open_source(self, spec: str | Path | int, play: bool = True) -> None:
        """Open a video, image, folder or camera in the selected tile (decoded in its reader thread).

        ``source_opened`` or ``source_failed`` follows; with ``play`` a video starts playing.
        """
        self.banner.dismiss()
        self.tile.open_source(spec, play)

    def play(self) -> None:
        self.tile.play()

    def pause(self) -> None:
        self.tile.pause()

    def toggle_play(self) -> None:
        self.tile.toggle_play()

    def step(self, delta: int = 1) -> None:
        """Pause and show the frame ``delta`` frames from the shown one (a file's; +1 next, -1 previous)."""
        self.tile.step(delta)

    def step_back(self) -> None:
        self.step(-1)

    def seek(self, index: int) -> None:
        """Show frame ``index`` of a file (negative: from the end); keeps playing if it was."""
        self.tile.seek(index)

    @Slot(object)
    def _on_result(self, result: DetectionResult) -> None:
        """A forward pass answers every playing tile at once: their boxes go on their canvases one tile per turn
        of the event loop (ssd_gui.one_per_turn; four overlays in one paint stalled the GUI thread, bench row
        19c), a newer answer for a tile replacing one not yet shown."""
        self._results.put(result.slot, result)

    def _show_result(self, result: DetectionResult) -> None:
        tile = next((t for t in self.tiles if t.slot == result.slot), None)
        if tile is not None:  # None: a late answer for a tile closed since
            tile.on_result(result)

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
        """Paused frames get the boxes of the new model or NMS method at once, all in one forward pass (playing
        ones at their next frame)."""
        frames = [f for f in (t.redetect_request() for t in self.tiles) if f is not None]
        if frames:
            self.pipeline.detection.submit_many(frames)

    @Slot(str)
    def _on_model_failed(self, text: str) -> None:
        kept = f" Still using {model_name(self.detector)}." if self.detector is not None else ""
        self.show_error(text + kept, topic="model")
        self.model_failed.emit(text)

    # ================================================================== export
    def export(self, video_path: str | Path | None, json_path: str | Path | None) -> bool:
        """Run the model over the whole file of the selected tile and write the annotated video and/or JSON (see
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
        """Stop playback, exports and estimates and join the threads (the main window calls this on close)."""
        self.models.cancel()
        for tile in self.tiles:
            tile.export_panel.cancel()
            tile.estimate.stop(wait_s=30.0)
        self.pipeline.shutdown()
        super().shutdown()
