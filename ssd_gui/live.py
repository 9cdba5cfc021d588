"""The live frame pipeline of the Detect view: long-lived workers in their own QThreads.

* :class:`FrameReader` owns one :class:`core.io.video.FrameSource` and decodes frames in its own
  thread, paced by a QTimer at the source's frame rate while playing. There is one per tile of the
  view's grid (up to four sources at once), each with its :class:`ReaderHandle`.
* :class:`DetectionWorker` runs the model in another thread, one for every source. Frames reach it
  through one single-slot mailbox per source (:class:`core.io.mailbox.FrameMailboxes`): a newer frame
  replaces one not yet started, so a live camera never builds a backlog when the model is slower than
  the camera (the newest frame wins). The worker takes the newest frame of every source that has one
  and runs them through the model together, one ``detect`` call (one forward pass) for all the tiles.
  For files in real time the same happens at the file's rate; with real time off a reader waits until
  the worker is idle, so every frame is detected and playback slows to the model's pace.

Unlike :class:`ssd_gui.jobs.Job` these workers serve many requests, so they have their own
signals. Their slots are defined once, never overridden (PySide6 would call an overriding slot on
the sender's thread). Payloads are the immutable dataclasses of :mod:`ssd_gui.state.detect`.
"""
from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from core.io.mailbox import FrameMailboxes, Letter
from core.io.video import Frame, FrameSource, SourceReadError, open_source
from core.types import Detections
from ssd_gui.jobs import lower_thread_priority
from ssd_gui.state.detect import RUN_SCORE_THRESH, DetectionResult, DetectorLike, SourceInfo


class DetectionWorker(QObject):
    """Runs the current detector on the newest submitted frame of each source, in its own thread.

    :meth:`submit`, :meth:`submit_many`, :meth:`forget` and :meth:`set_detector` are thread-safe and may be
    called from any thread. Without a detector, frames pass through with no detections so that a video plays
    before (or without) a model.
    """

    progress = Signal(object)   # DetectionResult, one per processed frame (several per forward pass)
    finished = Signal()         # emitted by stop()
    failed = Signal(str)        # a detect() call raised; the worker keeps serving frames
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._boxes = FrameMailboxes()
        self._detector: DetectorLike | None = None
        self._wake.connect(self._drain)

    # Called from any thread -----------------------------------------------------------
    def set_detector(self, detector: DetectorLike | None) -> None:
        with self._lock:
            self._detector = detector

    @property
    def detector(self) -> DetectorLike | None:
        with self._lock:
            return self._detector

    def submit(self, frame: Frame, read_time: float | None = None, generation: int | None = None,
               slot: int = 0) -> None:
        """Queue ``frame`` of the source in ``slot`` for detection, replacing a frame of that source still waiting
        (counted as dropped). ``generation`` names the source; its dropped count starts over with each new one."""
        t = time.perf_counter() if read_time is None else read_time
        if self._boxes.put(slot, frame, t, generation):
            self._wake.emit()

    def submit_many(self, frames: list[tuple[int, Frame, int | None]]) -> None:
        """Queue (slot, frame, generation) of several sources at once: they go through the model together."""
        t = time.perf_counter()
        if self._boxes.put_many([(slot, frame, t, gen) for slot, frame, gen in frames]):
            self._wake.emit()

    def forget(self, slot: int) -> None:
        """Drop what waits from ``slot`` (its tile was closed)."""
        self._boxes.forget(slot)

    def is_idle(self) -> bool:
        """True when no frame is waiting or being processed."""
        return self._boxes.is_idle()

    def stop(self) -> None:
        self._boxes.close()
        self.finished.emit()

    # Runs in the worker's thread ------------------------------------------------------
    @Slot()
    def _drain(self) -> None:
        while True:
            letters = self._boxes.take()
            if not letters:
                return
            self._detect(letters, self.detector)

    def _detect(self, letters: list[Letter], detector: DetectorLike | None) -> None:
        """One forward pass for the newest frame of every source; one result per frame."""
        names: tuple[str, ...] = ("__background__",)
        found = [Detections.empty() for _ in letters]
        t0 = time.perf_counter()
        if detector is not None:
            names = tuple(detector.class_names)
            try:
                found = detector.detect([letter.frame.image for letter in letters], score_thresh=RUN_SCORE_THRESH)
            except Exception as exc:  # noqa: BLE001 - reported, next frames still served
                frames = ", ".join(str(letter.frame.index) for letter in letters)
                self.failed.emit(f"detection failed on frame {frames}: {type(exc).__name__}: {exc}")
        t1 = time.perf_counter()
        for letter, dets in zip(letters, found):
            self.progress.emit(DetectionResult(letter.frame, dets, names, t1 - t0 if detector else 0.0,
                                               t1 - letter.read_time, letter.dropped, letter.generation,
                                               letter.slot, len(letters)))


class FrameReader(QObject):
    """Owns the frame source and decodes frames in its own thread.

    Control it through its slots from the GUI thread with queued signals (see
    :class:`LivePipeline`). Decoded frames go straight to the :class:`DetectionWorker` given at
    construction; ``progress`` announces each one.
    """

    progress = Signal(object)   # Frame, after each decode (for the source-rate meter and real-time drawing)
    opened = Signal(object)     # SourceInfo
    count_corrected = Signal(int)  # a video ended before the frame count its header gave
    ended = Signal()            # the end of a file source was reached
    lost = Signal(str)          # the open source failed mid-stream (camera unplugged) and was closed
    playing_changed = Signal(bool)
    finished = Signal()         # the reader has shut down
    failed = Signal(str)        # a source could not be opened; the previous one stays open

    def __init__(self, sink: DetectionWorker, slot: int = 0) -> None:
        super().__init__()
        self._sink = sink
        self.slot = slot
        self._source: FrameSource | None = None
        self._spec = ""
        self._generation = 0
        self._count: int | None = None
        self._shown = 0  # index of the frame shown last
        self._playing = False
        self.loop = False
        self.realtime = True
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)

    # Slots (run in the reader's thread) -------------------------------------------------
    @Slot(object)
    def open(self, spec: object) -> None:
        """Open ``spec``; if it cannot be opened the current source stays open."""
        try:
            src = open_source(spec)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - a bad file is a message, not a crash
            self.failed.emit(str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}")
            return
        self._close_source()
        self._source, self._spec, self._count = src, str(spec), src.frame_count
        self._generation += 1
        # Files tick at their frame rate; cameras block in read() until a frame arrives.
        interval = 0 if src.is_live else int(round(1000.0 / (src.fps or 10.0)))
        self._timer.setInterval(max(0, interval))
        self.opened.emit(SourceInfo(str(spec), src.name, src.fps, src.frame_count, src.is_live, self._generation,
                                    tuple(getattr(src, "warnings", ()))))
        self._read_one()  # show the first frame at once

    @Slot()
    def play(self) -> None:
        if self._source is not None:
            self._set_playing(True)

    @Slot()
    def pause(self) -> None:
        self._set_playing(False)

    @Slot(int)
    def step(self, delta: int = 1) -> None:
        """Pause and show the frame ``delta`` after the one shown last (``-1``: the one before)."""
        self._set_playing(False)
        src = self._source
        if src is None:
            return
        if delta != 1 and not src.is_live:
            src.seek(max(0, self._shown + delta))
        self._read_one()

    @Slot(int)
    def seek(self, index: int) -> None:
        """Jump to frame ``index`` of a file (negative: from the end) and show it."""
        if self._source is None or self._source.is_live:
            return
        if index < 0 and self._count:
            index = self._count + index
        self._source.seek(max(0, index))
        if not self._read_one() and self._source is not None and self._count:
            # past the real end of a truncated video: show its last decodable frame instead
            self._source.seek(self._count - 1)
            self._read_one()

    @Slot(bool)
    def set_loop(self, loop: bool) -> None:
        self.loop = bool(loop)

    @Slot(bool)
    def set_realtime(self, realtime: bool) -> None:
        self.realtime = bool(realtime)

    @Slot()
    def stop(self) -> None:
        """Close the source and stop the timer; the owner then quits the thread."""
        self._close_source()
        self.finished.emit()

    # Internals --------------------------------------------------------------------------
    def _set_playing(self, playing: bool) -> None:
        if playing == self._playing:
            return
        self._playing = playing
        if playing:
            self._timer.start()
        else:
            self._timer.stop()
        self.playing_changed.emit(playing)

    def _close_source(self) -> None:
        self._set_playing(False)
        if self._source is not None:
            self._source.close()
            self._source = None

    @Slot()
    def _tick(self) -> None:
        src = self._source
        if src is None or not self._playing:
            self._set_playing(False)
            return
        # Outside real time, files never drop frames: they wait for the model and slow to its pace.
        if not src.is_live and not self.realtime and not self._sink.is_idle():
            return
        self._read_one()

    def _read_one(self) -> bool:
        """Decode, announce and submit the next frame; False at the end or on a failure."""
        src = self._source
        if src is None:
            return False
        try:
            frame = src.read()
        except SourceReadError as exc:
            self._close_source()
            self.lost.emit(str(exc))
            return False
        except Exception as exc:  # noqa: BLE001
            self._close_source()
            self.lost.emit(f"reading '{self._spec}' failed: {type(exc).__name__}: {exc}")
            return False
        if frame is None:
            self._check_count()
            if self.loop and self._playing and not src.is_live and (self._count or 0) > 1:
                src.seek(0)
                frame = src.read()
            if frame is None:
                self._set_playing(False)
                self.ended.emit()
                return False
        self._shown = frame.index
        t = time.perf_counter()
        self.progress.emit(frame)
        self._sink.submit(frame, t, self._generation, self.slot)
        return True

    def _check_count(self) -> None:
        """At the end of a video: announce the real frame count when the header promised more."""
        src = self._source
        if src is None or src.is_live:
            return
        count = src.frame_count  # core lowers it when it finds the file truncated
        if src.position == self._shown + 1 and (count is None or count > self._shown + 1):
            count = self._shown + 1  # the frame after the last one shown does not decode
        if count is not None and count != self._count:
            self._count = count
            self.count_corrected.emit(count)


class ReaderHandle(QObject):
    """One source's :class:`FrameReader`, its thread, and the ``request_*`` signals that are the only way in
    from the GUI thread (queued to the reader's thread)."""

    request_open = Signal(object)
    request_play = Signal()
    request_pause = Signal()
    request_step = Signal(int)
    request_seek = Signal(int)
    request_loop = Signal(bool)
    request_realtime = Signal(bool)
    _stop_reader = Signal()

    def __init__(self, sink: DetectionWorker, slot: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.slot = slot
        self.reader = FrameReader(sink, slot)
        self.thread = QThread(self)
        self.thread.setObjectName(f"ssd-frame-reader-{slot}")
        self.reader.moveToThread(self.thread)
        self.thread.started.connect(lower_thread_priority, Qt.ConnectionType.DirectConnection)
        reader = self.reader
        for request, slot_fn in ((self.request_open, reader.open), (self.request_play, reader.play),
                                 (self.request_pause, reader.pause), (self.request_step, reader.step),
                                 (self.request_seek, reader.seek), (self.request_loop, reader.set_loop),
                                 (self.request_realtime, reader.set_realtime), (self._stop_reader, reader.stop)):
            request.connect(slot_fn)  # queued: the reader's source and timer belong to its thread
        reader.finished.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)
        self.thread.start()
        self._stopped = False

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Close the source and join the thread."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_reader.emit()
        if not self.thread.wait(timeout_ms):
            self.thread.quit()
            self.thread.wait(timeout_ms)


class LivePipeline(QObject):
    """The detection thread of a view and the reader threads of its sources, each joined when its source's tile
    closes; :meth:`shutdown` joins them all.

    One reader (slot 0) is made at once; :meth:`add_reader` makes more (one per tile of the grid). ``reader``
    and the ``request_*`` shortcuts are those of the first reader still open.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.detection = DetectionWorker()
        self.detection_thread = QThread(self)
        self.detection_thread.setObjectName("ssd-detection")
        self.detection.moveToThread(self.detection_thread)
        self.detection_thread.started.connect(lower_thread_priority, Qt.ConnectionType.DirectConnection)
        self.detection_thread.start()
        self.readers: dict[int, ReaderHandle] = {}
        self._next_slot = 0
        self._stopped = False
        self.add_reader()

    def add_reader(self) -> ReaderHandle:
        """A new reader thread with a slot never used before (a late result of a closed tile finds no tile)."""
        handle = ReaderHandle(self.detection, self._next_slot, self)
        self.readers[handle.slot] = handle
        self._next_slot += 1
        return handle

    def remove_reader(self, slot: int, timeout_ms: int = 5000) -> None:
        """Close ``slot``'s source and join its thread; what it left in the mailbox is dropped."""
        handle = self.readers.pop(slot, None)
        if handle is None:
            return
        handle.shutdown(timeout_ms)
        self.detection.forget(slot)
        handle.deleteLater()

    @property
    def first(self) -> ReaderHandle:
        return self.readers[min(self.readers)]

    @property
    def reader(self) -> FrameReader:
        return self.first.reader

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Stop reading and detecting and join every thread."""
        if self._stopped:
            return
        self._stopped = True
        self.detection.stop()
        for handle in self.readers.values():
            handle.shutdown(timeout_ms)
        self.detection_thread.quit()
        self.detection_thread.wait(timeout_ms)
