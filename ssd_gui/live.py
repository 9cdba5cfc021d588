"""The live frame pipeline of the Detect view: two long-lived workers in their own QThreads.

* :class:`FrameReader` owns the :class:`core.io.video.FrameSource` and decodes frames in its own
  thread, paced by a QTimer at the source's frame rate while playing.
* :class:`DetectionWorker` runs the model in another thread. Frames reach it through a one-slot
  mailbox: a newer frame replaces one not yet started, so a live camera never builds a backlog
  when the model is slower than the camera (the newest frame wins). For files in real time the
  same happens at the file's rate; with real time off the reader waits until the worker is idle,
  so every frame is detected and playback slows to the model's pace.

Unlike :class:`ssd_gui.jobs.Job` these workers serve many requests, so they have their own
signals. Their slots are defined once, never overridden (PySide6 would call an overriding slot on
the sender's thread). Payloads are the immutable dataclasses of :mod:`ssd_gui.state.detect`.
"""
from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from core.types import Detections
from core.io.video import Frame, FrameSource, SourceReadError, open_source
from ssd_gui.state.detect import RUN_SCORE_THRESH, DetectionResult, DetectorLike, SourceInfo


class DetectionWorker(QObject):
    """Runs the current detector on the newest submitted frame, in its own thread.

    :meth:`submit` and :meth:`set_detector` are thread-safe and may be called from any thread.
    Without a detector, frames pass through with no detections so that a video plays before (or
    without) a model.
    """

    progress = Signal(object)   # DetectionResult, one per processed frame
    finished = Signal()         # emitted by stop()
    failed = Signal(str)        # a detect() call raised; the worker keeps serving frames
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: tuple[Frame, float, int] | None = None
        self._scheduled = False
        self._detector: DetectorLike | None = None
        self._generation = 0
        self._dropped = 0
        self._stopped = False
        self._wake.connect(self._drain)

    # Called from any thread -----------------------------------------------------------
    def set_detector(self, detector: DetectorLike | None) -> None:
        with self._lock:
            self._detector = detector

    @property
    def detector(self) -> DetectorLike | None:
        with self._lock:
            return self._detector

    def submit(self, frame: Frame, read_time: float | None = None, generation: int | None = None) -> None:
        """Queue ``frame`` for detection, replacing a frame still waiting (counted as dropped).

        ``generation`` names the source; the dropped count starts over with each new one.
        """
        t = time.perf_counter() if read_time is None else read_time
        with self._lock:
            if self._stopped:
                return
            gen = self._generation if generation is None else generation
            if gen != self._generation:
                self._generation, self._dropped = gen, 0
            elif self._pending is not None:
                self._dropped += 1
            self._pending = (frame, t, gen)
            wake = not self._scheduled
            self._scheduled = True
        if wake:
            self._wake.emit()

    def is_idle(self) -> bool:
        """True when no frame is waiting or being processed."""
        with self._lock:
            return not self._scheduled

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._pending = None
        self.finished.emit()

    # Runs in the worker's thread ------------------------------------------------------
    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                if self._pending is None or self._stopped:
                    self._scheduled = False
                    return
                (frame, t_read, gen), self._pending = self._pending, None
                detector, dropped = self._detector, self._dropped
            names: tuple[str, ...] = ("__background__",)
            dets = Detections.empty()
            t0 = time.perf_counter()
            if detector is not None:
                names = tuple(detector.class_names)
                try:
                    dets = detector.detect([frame.image], score_thresh=RUN_SCORE_THRESH)[0]
                except Exception as exc:  # noqa: BLE001 - reported, next frame still served
                    self.failed.emit(f"detection failed on frame {frame.index}: {type(exc).__name__}: {exc}")
            t1 = time.perf_counter()
            self.progress.emit(DetectionResult(frame, dets, names, t1 - t0 if detector else 0.0,
                                               t1 - t_read, dropped, gen))


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

    def __init__(self, sink: DetectionWorker) -> None:
        super().__init__()
        self._sink = sink
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
        self._sink.submit(frame, t, self._generation)
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


class LivePipeline(QObject):
    """The reader and detection threads of one view, created together and joined together.

    The ``request_*`` signals are the only way in from the GUI thread (queued to the reader's).
    """

    request_open = Signal(object)
    request_play = Signal()
    request_pause = Signal()
    request_step = Signal(int)
    request_seek = Signal(int)
    request_loop = Signal(bool)
    request_realtime = Signal(bool)
    _stop_reader = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.detection = DetectionWorker()
        self.reader = FrameReader(self.detection)
        self.detection_thread = QThread(self)
        self.detection_thread.setObjectName("ssd-detection")
        self.reader_thread = QThread(self)
        self.reader_thread.setObjectName("ssd-frame-reader")
        self.detection.moveToThread(self.detection_thread)
        self.reader.moveToThread(self.reader_thread)
        reader = self.reader
        for request, slot in ((self.request_open, reader.open), (self.request_play, reader.play),
                              (self.request_pause, reader.pause), (self.request_step, reader.step),
                              (self.request_seek, reader.seek), (self.request_loop, reader.set_loop),
                              (self.request_realtime, reader.set_realtime), (self._stop_reader, reader.stop)):
            request.connect(slot)  # queued: the reader's source and timer belong to its thread
        reader.finished.connect(self.reader_thread.quit, Qt.ConnectionType.DirectConnection)
        self.detection_thread.start()
        self.reader_thread.start()
        self._stopped = False

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Stop reading and detecting and join both threads."""
        if self._stopped:
            return
        self._stopped = True
        self.detection.stop()
        self._stop_reader.emit()
        if not self.reader_thread.wait(timeout_ms):
            self.reader_thread.quit()
            self.reader_thread.wait(timeout_ms)
        self.detection_thread.quit()
        self.detection_thread.wait(timeout_ms)
