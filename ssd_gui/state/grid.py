"""The Detect tab's grid, without Qt: up to four sources at once, each a tile with its own
:class:`ssd_gui.state.detect.DetectState` (filters, stats, tracking, export), all served by one model
(:class:`ssd_gui.state.model.ModelState`), and the tile the side panel and the playback keys act on.

One tile is the plain view; the grid appears with the second. Tiles are laid out in reading order:
one fills the view, two sit side by side, three and four share a 2 x 2 grid (:func:`grid_shape`).
"""
from __future__ import annotations

from ssd_gui.state.detect import DetectState
from ssd_gui.state.events import Events
from ssd_gui.state.model import ModelState

#: The most sources the Detect view shows at once.
MAX_TILES = 4


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, columns) of a grid of ``n`` tiles (1 to :data:`MAX_TILES`)."""
    if not 1 <= n <= MAX_TILES:
        raise ValueError(f"a grid holds 1 to {MAX_TILES} tiles, got {n}")
    return (1, n) if n <= 2 else (2, 2)


def tile_position(index: int, n: int) -> tuple[int, int]:
    """(row, column) of tile ``index`` in a grid of ``n`` tiles, in reading order."""
    if not 0 <= index < n:
        raise ValueError(f"tile {index} is not one of the {n} tiles")
    return divmod(index, grid_shape(n)[1])


class GridState:
    """The tiles of the Detect tab and the selected one.

    Events (``grid.events.<name>.connect(callback)``):
        tiles(): a tile was added or removed.
        selected(int): the selected tile changed (its index).
    """

    def __init__(self, model: ModelState | None = None, first: DetectState | None = None) -> None:
        self.events = Events("tiles", "selected")
        self.model = first.model if first is not None else model if model is not None else ModelState()
        if first is not None and model is not None and first.model is not model:
            raise ValueError("the first tile's state must share the grid's model")
        self.tiles: list[DetectState] = [first if first is not None else DetectState(model=self.model)]
        self.selected = 0

    @property
    def current(self) -> DetectState:
        """The selected tile's state."""
        return self.tiles[self.selected]

    @property
    def is_grid(self) -> bool:
        """More than one source: the tiles show their headers and can be closed."""
        return len(self.tiles) > 1

    @property
    def can_add(self) -> bool:
        return len(self.tiles) < MAX_TILES

    def index_of(self, state: DetectState) -> int:
        return next(i for i, s in enumerate(self.tiles) if s is state)

    def add(self) -> DetectState:
        """A new tile, last in reading order (the caller selects it); ValueError when :data:`MAX_TILES` are open."""
        if not self.can_add:
            raise ValueError(f"the Detect view shows at most {MAX_TILES} sources at once; close a tile first")
        state = DetectState(model=self.model)
        self.tiles.append(state)
        self.events.tiles.emit()
        return state

    def remove(self, index: int) -> DetectState:
        """Close tile ``index`` (its state stops listening to the model); the last tile cannot be closed. The
        selection stays on the same tile; when the closed tile was selected, the one before it is (the first
        tile's successor when it was the first)."""
        if not 0 <= index < len(self.tiles):
            raise ValueError(f"tile {index} is not one of the {len(self.tiles)} tiles")
        if len(self.tiles) == 1:
            raise ValueError("the last tile cannot be closed; open another source in it instead")
        state = self.tiles.pop(index)
        state.close()
        before = self.selected
        if self.selected > index or (self.selected == index and index > 0):
            self.selected -= 1
        self.events.tiles.emit()
        if before == index or self.selected != before:
            self.events.selected.emit(self.selected)
        return state

    def select(self, index: int) -> None:
        if not 0 <= index < len(self.tiles):
            raise ValueError(f"tile {index} is not one of the {len(self.tiles)} tiles")
        if index != self.selected:
            self.selected = index
            self.events.selected.emit(index)


__all__ = ["GridState", "MAX_TILES", "grid_shape", "tile_position"]
