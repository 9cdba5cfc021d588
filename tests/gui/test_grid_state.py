"""The grid's rules without Qt: the mailboxes that batch the newest frame of each source, the tiles (at most
four, the last one stays, the selection), their layout, and the model they share (with per-tile filters)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from core.io.mailbox import FrameMailboxes
from core.io.video import Frame
from core.types import Detections
from ssd_gui.state.detect import DetectState
from ssd_gui.state.grid import MAX_TILES, GridState, grid_shape, tile_position


def frame(index: int) -> Frame:
    return Frame(index, np.zeros((4, 4, 3), np.uint8), index / 25, None)


def test_the_newest_frame_of_each_source_is_taken_in_one_batch() -> None:
    boxes = FrameMailboxes()
    assert boxes.is_idle()
    assert boxes.put(0, frame(0), 0.0, 1) is True      # idle: wake the consumer
    assert boxes.put(1, frame(0), 0.1, 1) is False     # already told
    assert boxes.put(0, frame(1), 0.2, 1) is False     # replaces frame 0 of source 0: one dropped
    assert boxes.put(0, frame(2), 0.3, 1) is False     # and frame 1: two dropped
    letters = boxes.take()
    assert [(l.slot, l.frame.index, l.read_time, l.dropped) for l in letters] == [(0, 2, 0.3, 2), (1, 0, 0.1, 0)]
    assert not boxes.is_idle()                         # the consumer is busy with them
    assert boxes.take() == [] and boxes.is_idle()      # it found nothing more: idle
    assert boxes.put(1, frame(1), 0.4) is True         # generation None: the slot's own (1), nothing dropped
    assert boxes.take()[0].dropped == 0


def test_a_new_source_in_a_slot_starts_its_dropped_count_over() -> None:
    boxes = FrameMailboxes()
    for k in range(4):
        boxes.put(3, frame(k), 0.0, generation=1)
    assert boxes.take()[0].dropped == 3
    boxes.put(3, frame(0), 0.0, generation=2)
    boxes.put(3, frame(1), 0.0, generation=2)
    assert boxes.take()[0].dropped == 1
    boxes.put(3, frame(2), 0.0, generation=2)
    boxes.forget(3)                                    # the tile closed: nothing of it stays
    assert boxes.take() == []
    boxes.put(3, frame(0), 0.0, generation=2)
    assert boxes.take()[0].dropped == 0


def test_put_many_lands_in_one_batch_and_close_refuses_more() -> None:
    boxes = FrameMailboxes()
    assert boxes.put_many([(2, frame(5), 0.0, 1), (0, frame(7), 0.0, 1)]) is True
    assert [(l.slot, l.frame.index) for l in boxes.take()] == [(0, 7), (2, 5)]  # slot order
    boxes.close()
    assert boxes.put(0, frame(8), 0.0, 1) is False and boxes.take() == []


def test_readers_in_threads_lose_no_count() -> None:
    """Four reader threads put 500 frames each while a consumer takes: every frame is taken or counted dropped."""
    boxes = FrameMailboxes()
    taken: dict[int, int] = {}
    last_dropped: dict[int, int] = {}
    done = threading.Event()

    def consume() -> None:
        while not done.is_set() or not boxes.is_idle():
            for letter in boxes.take():
                taken[letter.slot] = taken.get(letter.slot, 0) + 1
                last_dropped[letter.slot] = letter.dropped

    def read(slot: int) -> None:
        for k in range(500):
            boxes.put(slot, frame(k), 0.0, 1)

    consumer = threading.Thread(target=consume)
    consumer.start()
    readers = [threading.Thread(target=read, args=(s,)) for s in range(4)]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    done.set()
    consumer.join(10)
    assert not consumer.is_alive()
    assert all(taken[s] + last_dropped[s] == 500 for s in range(4)), (taken, last_dropped)


def test_grid_shape_and_positions() -> None:
    assert [grid_shape(n) for n in range(1, 5)] == [(1, 1), (1, 2), (2, 2), (2, 2)]
    assert [tile_position(i, 3) for i in range(3)] == [(0, 0), (0, 1), (1, 0)]
    with pytest.raises(ValueError, match="1 to 4 tiles"):
        grid_shape(5)
    with pytest.raises(ValueError, match="tile 2 is not one of the 2 tiles"):
        tile_position(2, 2)


def test_tiles_share_the_model_and_keep_their_own_filters(detect_assets) -> None:  # type: ignore[no-untyped-def]
    from core import load_detector

    grid = GridState(first=DetectState(["cpu"]))
    a = grid.current
    b, c = grid.add(), grid.add()
    assert len(grid.tiles) == 3 and grid.is_grid and grid.selected == 0  # adding does not select
    seen = {id(s): [] for s in (a, b, c)}
    for s in (a, b, c):
        s.events.model.connect(lambda d, s=s: seen[id(s)].append(d))
    a.set_shown_labels({1})
    b.set_min_score(0.8)
    det = load_detector(detect_assets["weights"], runtime="torch")  # the tiny model: circle, square, triangle
    b.set_detector(det)                        # through any tile: the one model of all
    assert a.detector is b.detector is c.detector is det and all(v == [det] for v in seen.values())
    assert a.shown_labels is None              # new classes: every tile's class filter starts over
    a.set_shown_labels({2})
    c.set_nms("soft-linear")
    assert det.config.postprocess.nms == "soft-linear" and a.nms == b.nms == "soft-linear"
    assert (a.min_score, b.min_score, c.min_score) == (0.4, 0.8, 0.4)  # filters stay per tile
    dets = Detections(np.array([[0, 0, 5, 5], [1, 1, 6, 6]], np.float32), np.array([0.9, 0.5], np.float32),
                      np.array([1, 2], np.int64))
    a.set_detector(load_detector(detect_assets["weights"], runtime="torch"))  # the same classes: filters kept
    assert a.shown_labels == frozenset({2})
    for s in (a, b):
        s.result = type("R", (), {"detections": dets})()
    assert len(a.visible()) == 1 and a.visible().labels.tolist() == [2]
    assert len(b.visible()) == 1 and b.visible().labels.tolist() == [1]


def test_four_tiles_at_most_the_last_stays_and_the_selection_follows() -> None:
    grid = GridState()
    picked: list[int] = []
    grid.events.selected.connect(picked.append)
    for _ in range(MAX_TILES - 1):
        grid.add()
    with pytest.raises(ValueError, match="at most 4 sources at once"):
        grid.add()
    grid.select(2)
    third, fourth = grid.tiles[2], grid.tiles[3]
    grid.remove(0)                              # before the selected one: the selection follows its tile
    assert grid.current is third and picked == [2, 1]
    grid.remove(1)                              # the selected one: the one before it is selected
    assert grid.current is not third and grid.selected == 0 and picked[-1] == 0
    assert fourth in grid.tiles and len(third._links) == 0  # the closed tile no longer listens to the model
    grid.remove(1)
    with pytest.raises(ValueError, match="the last tile cannot be closed"):
        grid.remove(0)
    assert not grid.is_grid
    n_listeners = len(grid.model.events.model)
    assert n_listeners == 1                     # only the remaining tile's state
