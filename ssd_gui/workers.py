"""Background work for the GUI: QObject workers that live in QThreads.

Every worker has the signals ``progress``, ``finished`` and ``failed`` (house style); an
exception inside a worker becomes a ``failed(str)`` signal that the window shows as a
message, never a dead thread. Long jobs stop when their ``cancel()`` flag is set.
Signal payloads are immutable dataclasses of NumPy arrays and plain numbers.

Live detection uses two long-lived workers:

* :class:`FrameReader` owns the :class:`core.video.FrameSource` and decodes frames in its
  own thread, paced by a QTimer at the source's frame rate while playing.
* :class:`DetectionWorker` runs the model in another thread. Frames reach it through a
  one-slot mailbox: a newer frame replaces one not yet started, so a live camera never
  builds a backlog when the model is slower than the camera (the newest frame wins). For
  files the reader waits until the worker is idle instead, so every frame is shown with
  its detections and playback simply slows to the model's pace.

One-shot jobs (:class:`ModelLoadWorker`, :class:`ExportWorker`, :class:`EvaluationWorker`,
:class:`ThumbnailWorker`) are started with :func:`start_worker`.
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from core.types import Detections
from core.video import Frame, FrameSource, SourceReadError, draw_detections, open_source

# The model runs at this low threshold; the confidence slider filters the kept detections
# on the GUI thread, so moving it never re-runs the model.
RUN_SCORE_THRESH = 0.05


class DetectorLike(Protocol):
    """What the GUI needs from :class:`core.detector.Detector`."""

    class_names: tuple[str, ...]
    device: Any
    weights_path: Any

    def detect(self, images: list, score_thresh: float | None = None) -> list[Detections]: ...


# ----------------------------------------------------------------------------- payloads

@dataclass(frozen=True)
class SourceInfo:
    """What the view needs to know about a newly opened source."""

    spec: str
    name: str
    fps: float | None
    frame_count: int | None
    is_live: bool


@dataclass(frozen=True)
class DetectionResult:
    """One frame and the model's detections on it.

    Attributes:
        frame: the decoded frame (image uint8 [H, W, 3] RGB).
        detections: boxes x1, y1, x2, y2 in pixels of ``frame.image``, kept at
            ``RUN_SCORE_THRESH``; empty when no model is loaded.
        class_names: the names the labels index (("__background__",) without a model).
        inference_s: seconds spent in ``Detector.detect`` (0 without a model).
        latency_s: seconds from the frame being decoded to the detections being ready.
        dropped: frames dropped so far by the mailbox because the model was busy.
    """

    frame: Frame
    detections: Detections
    class_names: tuple[str, ...]
    inference_s: float
    latency_s: float
    dropped: int


@dataclass(frozen=True)
class ExportResult:
    """Files written by :class:`ExportWorker` and the number of frames processed."""

    video_path: str | None
    json_path: str | None
    frames: int
    cancelled: bool


# ----------------------------------------------------------------------------- one-shot jobs

class ThreadedJobs(QObject):
    """Runs one-shot workers in their own QThreads and keeps them alive until they finish.

    Lives in the GUI thread, so the clean-up after a thread finishes runs there too.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: dict[QThread, QObject] = {}

    def start(self, worker: QObject, parent: QObject | None = None) -> QThread:
        """Move ``worker`` (with ``run``, ``finished``, ``failed``) to a new QThread and start it.

        The thread quits when the worker emits ``finished`` or ``failed``. ``parent`` is only
        the requester: the thread itself has no QObject parent, because a widget that is deleted
        would delete a running thread with it (a crash); this registry owns it until it ends.
        """
        thread = QThread()
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # Direct: QThread.quit is thread-safe, and a queued call would wait for the GUI loop.
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        worker.failed.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._reap)
        self._running[thread] = worker
        thread.start()
        return thread

    @Slot()
    def _reap(self) -> None:
        thread = self.sender()
        if isinstance(thread, QThread) and thread in self._running:
            thread.wait()
            del self._running[thread]
            thread.deleteLater()

    def wait_all(self, timeout_ms: int = 10_000) -> None:
        """Ask running jobs to cancel and wait for their threads (used on shutdown)."""
        for thread, worker in list(self._running.items()):
            cancel = getattr(worker, "cancel", None)
            if callable(cancel):
                cancel()
            thread.quit()
            thread.wait(timeout_ms)

    def __len__(self) -> int:
        return len(self._running)


_JOBS: ThreadedJobs | None = None


def _jobs() -> ThreadedJobs:
    global _JOBS
    if _JOBS is None:
        _JOBS = ThreadedJobs()
    return _JOBS


def start_worker(worker: QObject, parent: QObject | None = None) -> QThread:
    """Run a one-shot worker (``run`` slot, ``finished``/``failed`` signals) in its own QThread.

    Connect the worker's signals to bound methods of GUI-thread QObjects before calling
    this, so that they are delivered on the GUI thread.
    """
    return _jobs().start(worker, parent)


def wait_for_workers(timeout_ms: int = 10_000) -> None:
    """Cancel and join every one-shot worker started with :func:`start_worker`."""
    if _JOBS is not None:
        _JOBS.wait_all(timeout_ms)


def running_workers() -> int:
    """Number of one-shot workers whose thread has not been cleaned up yet."""
    return 0 if _JOBS is None else len(_JOBS)


class ModelLoadWorker(QObject):
    """Loads a detector with ``core.load_detector`` off the GUI thread.

    ``finished`` carries the Detector; ``failed`` a message naming the file and the reason.
    """

    progress = Signal(object)   # (done_bytes, total_bytes) while downloading
    finished = Signal(object)   # core.detector.Detector
    failed = Signal(str)

    def __init__(self, weights: str | Path | None, device: str = "cpu", precision: str = "fp32") -> None:
        super().__init__()
        self.weights = weights
        self.device = device
        self.precision = precision
        self._cancel = False

    def cancel(self) -> None:
        self._cancel = True

    # Subclasses override _load, never run: with PySide6 a slot overridden in a subclass is called
    # on the sender's thread (the GUI thread) instead of the worker's (a test checks where it runs).
    @Slot()
    def run(self) -> None:
        try:
            self.finished.emit(self._load())
        except Exception as exc:  # noqa: BLE001 - shown in the window, the previous model keeps running
            self.failed.emit(self._failure(exc))

    def _load(self) -> Any:
        from core import load_detector

        # optimize: a frozen graph on CPU fp32 (a no-op elsewhere), paid once here off the GUI thread.
        return load_detector(self.weights, device=self.device, precision=self.precision, optimize=True)

    def _failure(self, exc: Exception) -> str:
        return f"cannot load model '{self.weights}': {type(exc).__name__}: {exc}"


class CocoModelLoadWorker(ModelLoadWorker):
    """torchvision's COCO SSD300: taken from torchvision's cache, else downloaded with progress.

    Offline, ``failed`` carries core's message that says where to put the file.
    """

    def __init__(self, device: str = "cpu", precision: str = "fp32", allow_download: bool = True) -> None:
        super().__init__(None, device, precision)
        from core.weights import TORCHVISION_COCO_SPEC

        self.weights = TORCHVISION_COCO_SPEC
        self.allow_download = allow_download

    def _load(self) -> Any:
        from core import load_detector
        from core.weights import fetch_torchvision_coco

        dest = fetch_torchvision_coco(allow_download=self.allow_download,
                                      on_progress=lambda d, t: self.progress.emit((d, t)),
                                      should_stop=lambda: self._cancel)
        return load_detector(dest, device=self.device, precision=self.precision, optimize=True)

    def _failure(self, exc: Exception) -> str:
        return f"cannot load torchvision COCO SSD300: {type(exc).__name__}: {exc}"


class ExportWorker(QObject):
    """Runs the detector over a whole file source and writes the annotated video and/or JSON.

    The video shows the detections with ``score >= min_score`` and a label in ``labels``
    (what the view shows); the JSON keeps every detection the model returned at
    ``RUN_SCORE_THRESH`` filtered the same way, in the schema of ``ssd detect``.
    """

    progress = Signal(object)   # (frames_done, frame_count or None)
    finished = Signal(object)   # ExportResult
    failed = Signal(str)

    def __init__(self, spec: str, detector: DetectorLike, video_path: str | Path | None,
                 json_path: str | Path | None, min_score: float, labels: set[int] | None,
                 fps: float | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.detector = detector
        self.video_path = Path(video_path) if video_path else None
        self.json_path = Path(json_path) if json_path else None
        self.min_score = float(min_score)
        self.labels = set(labels) if labels is not None else None
        self.fps = fps
        self._cancel = False

    def cancel(self) -> None:
        self._cancel = True

    @Slot()
    def run(self) -> None:
        writer = None
        try:
            from core.detector import detections_json, detections_json_entry
            from core.video import VideoFileSource, VideoWriter

            names = tuple(self.detector.class_names)
            entries: list[dict[str, Any]] = []
            done = 0
            with open_source(self.spec) as src:
                if src.is_live:
                    raise ValueError(f"cannot export '{self.spec}': live sources are not exported")
                fps = self.fps or src.fps or 10.0
                is_video = isinstance(src, VideoFileSource)
                for frame in src:
                    if self._cancel:
                        break
                    dets = self.detector.detect([frame.image], score_thresh=RUN_SCORE_THRESH)[0]
                    dets = dets.filter(self.min_score, self.labels)
                    if self.video_path is not None:
                        if writer is None:
                            h, w = frame.image.shape[:2]
                            writer = VideoWriter(self.video_path, fps, (w, h))
                        if (frame.image.shape[1], frame.image.shape[0]) == writer.size:
                            writer.write(draw_detections(frame.image, dets, names))
                    if self.json_path is not None:
                        h, w = frame.image.shape[:2]
                        # As `ssd detect`: "frame" only for videos, images are named by their file.
                        entries.append(detections_json_entry(dets, names, frame.file or self.spec, w, h,
                                                             frame=frame.index if is_video else None))
                    done += 1
                    self.progress.emit((done, src.frame_count))
            if writer is not None:
                writer.close()
            if self.json_path is not None:
                doc = detections_json(getattr(self.detector, "weights_path", None), names, entries)
                self.json_path.parent.mkdir(parents=True, exist_ok=True)
                self.json_path.write_text(json.dumps(doc, indent=1))
            self.finished.emit(ExportResult(str(self.video_path) if self.video_path else None,
                                            str(self.json_path) if self.json_path else None,
                                            done, self._cancel))
        except Exception as exc:  # noqa: BLE001 - shown in the window
            self.failed.emit(f"export of '{self.spec}' failed: {type(exc).__name__}: {exc}")
        finally:
            if writer is not None:
                writer.close()


# ----------------------------------------------------------------------------- live detection

class DetectionWorker(QObject):
    """Runs the current detector on the newest submitted frame, in its own thread.

    :meth:`submit` and :meth:`set_detector` are thread-safe and may be called from any
    thread. Without a detector, frames pass through with no detections so that a video
    plays before (or without) a model.
    """

    progress = Signal(object)   # DetectionResult, one per processed frame
    finished = Signal()         # emitted by stop()
    failed = Signal(str)        # a detect() call raised; the worker keeps serving frames
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: tuple[Frame, float] | None = None
        self._scheduled = False
        self._detector: DetectorLike | None = None
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

    def submit(self, frame: Frame, read_time: float | None = None) -> None:
        """Queue ``frame`` for detection, replacing a frame still waiting (counted as dropped)."""
        t = time.perf_counter() if read_time is None else read_time
        with self._lock:
            if self._stopped:
                return
            if self._pending is not None:
                self._dropped += 1
            self._pending = (frame, t)
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
                (frame, t_read), self._pending = self._pending, None
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
                                               t1 - t_read, dropped))


class FrameReader(QObject):
    """Owns the frame source and decodes frames in its own thread.

    Control it through its slots from the GUI thread with queued signals (see
    :class:`ssd_gui.views.detect_view.DetectView`). Decoded frames go straight to the
    :class:`DetectionWorker` given at construction and are counted in ``frame_read``.
    """

    progress = Signal(object)   # Frame, after each decode (for the source-FPS meter)
    opened = Signal(object)     # SourceInfo
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
        self._playing = False
        self.loop = False
        # Real time: files keep their own frame rate and the model takes the newest frame when
        # it is free (stale frames are dropped). Off: every frame waits for the model.
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
        self._source, self._spec = src, str(spec)
        # Files tick at their frame rate; cameras block in read() until a frame arrives.
        interval = 0 if src.is_live else int(round(1000.0 / (src.fps or 10.0)))
        self._timer.setInterval(max(0, interval))
        self.opened.emit(SourceInfo(str(spec), src.name, src.fps, src.frame_count, src.is_live))
        self._read_one()  # show the first frame at once

    @Slot()
    def play(self) -> None:
        if self._source is None:
            return
        self._set_playing(True)

    @Slot()
    def pause(self) -> None:
        self._set_playing(False)

    @Slot()
    def step(self) -> None:
        """Pause and show the next frame."""
        self._set_playing(False)
        if self._source is not None:
            self._read_one()

    @Slot(int)
    def seek(self, index: int) -> None:
        """Jump to frame ``index`` of a file and show it."""
        if self._source is None or self._source.is_live:
            return
        self._source.seek(index)
        self._read_one()

    @Slot(bool)
    def set_loop(self, loop: bool) -> None:
        self.loop = bool(loop)

    @Slot(bool)
    def set_realtime(self, realtime: bool) -> None:
        self.realtime = bool(realtime)

    @Slot()
    def close_source(self) -> None:
        self._close_source()

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

    def _read_one(self) -> None:
        src = self._source
        if src is None:
            return
        try:
            frame = src.read()
        except SourceReadError as exc:
            self._close_source()
            self.lost.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001
            self._close_source()
            self.lost.emit(f"reading '{self._spec}' failed: {type(exc).__name__}: {exc}")
            return
        if frame is None:
            if self.loop and self._playing and not src.is_live and (src.frame_count or 0) > 1:
                src.seek(0)
                frame = src.read()
            if frame is None:
                self._set_playing(False)
                self.ended.emit()
                return
        t = time.perf_counter()
        self.progress.emit(frame)
        self._sink.submit(frame, t)


class LivePipeline(QObject):
    """The reader and detection threads of one view, created together and joined together."""

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
        # Queued: the reader's source and timer belong to its thread and are closed there.
        self._stop_reader.connect(self.reader.stop)
        self.reader.finished.connect(self.reader_thread.quit, Qt.ConnectionType.DirectConnection)
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


# ----------------------------------------------------------------------------- training and evaluation

class TrainWorker(QObject):
    """Runs :func:`core.engine.train` in its own thread (start it with :func:`start_worker`).

    ``cancel()`` (also called by :func:`wait_for_workers` on shutdown) asks the loop to stop
    between iterations; the engine then saves ``last.pt`` before returning ``stopped=True``.
    ``done`` is set when :meth:`run` has returned, whatever the outcome, so a view can wait
    for the run without touching the QThread.
    """

    progress = Signal(object)   # core.engine.TrainProgress
    finished = Signal(object)   # core.engine.TrainResult
    failed = Signal(str)

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self._stop = threading.Event()
        self.done = threading.Event()

    def cancel(self) -> None:
        """Stop after the current iteration (a checkpoint is written first)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @Slot()
    def run(self) -> None:
        try:
            from core.engine import train

            result = train(self.config, on_progress=self.progress.emit, should_stop=self._stop.is_set)
            self.finished.emit(result)
        except Exception as exc:  # noqa: BLE001 - shown in the window; the app keeps running
            self.failed.emit(f"training failed: {type(exc).__name__}: {exc}")
        finally:
            self.done.set()


@dataclass(frozen=True)
class EvaluationRequest:
    """What to evaluate against which dataset.

    Exactly one of ``weights`` (a model file, run over the dataset's images) and
    ``detections`` (a file read by :func:`core.evaluation.io.read_detections`) is set.

    Attributes:
        dataset_kind: "synthetic", "voc" (``dataset_path`` a VOC folder, ``split`` its image
            set) or "coco" (``dataset_path`` the annotation JSON).
        synthetic_count, synthetic_seed, synthetic_size: the synthetic scenes (square side in px).
        device, batch_size, score_thresh: how the model runs (``score_thresh`` None = the model's).
        iou_threshold: the VOC overlap criterion.
        with_coco: also compute pycocotools' metrics (AP@[.5:.95]).
    """

    dataset_kind: str
    dataset_path: str | None = None
    split: str = "test"
    synthetic_count: int = 20
    synthetic_seed: int = 1_000_003
    synthetic_size: int = 300
    weights: str | None = None
    detections: str | None = None
    device: str = "cpu"
    batch_size: int = 8
    score_thresh: float | None = None
    iou_threshold: float = 0.5
    with_coco: bool = True

    @property
    def source(self) -> str:
        """The model or detections file, for titles and messages."""
        return str(self.weights if self.weights is not None else self.detections)


@dataclass(frozen=True)
class EvaluationOutput:
    """An evaluation ready to be shown; everything the threshold slider needs is precomputed.

    Attributes:
        request: what was asked.
        result: the matching pass (``result.sweep`` answers every threshold question).
        coco: pycocotools' metrics, or None when they were not computed or failed.
        coco_error: why ``coco`` is None ("" when it was not asked for).
        thresholds: float64 [T], confidence thresholds of the mAP-by-threshold curves.
        map_voc07, map_voc12: float64 [T], mAP keeping detections with ``score >= threshold``.
    """

    request: EvaluationRequest
    result: Any
    coco: Any
    coco_error: str
    thresholds: np.ndarray
    map_voc07: np.ndarray
    map_voc12: np.ndarray


def load_evaluation_dataset(request: EvaluationRequest, need_images: bool) -> Any:
    """The ground truth of ``request`` as a :class:`core.types.DatasetIndex`.

    Raises:
        ValueError: unknown kind, missing path, or a dataset without images (names the source).
    """
    kind = request.dataset_kind
    if kind == "synthetic":
        from core.data.synthetic import synthetic_index

        size = int(request.synthetic_size)
        gt = synthetic_index(request.synthetic_count, request.synthetic_seed, (size, size))
    elif kind in ("voc", "coco"):
        if not request.dataset_path:
            raise ValueError(f"a {kind.upper()} dataset needs a path (got {request.dataset_path!r})")
        from core.evaluation.io import load_ground_truth

        gt = load_ground_truth(request.dataset_path, split=request.split, check_images=need_images)
    else:
        raise ValueError(f"unknown dataset kind {kind!r}; choose 'synthetic', 'voc' or 'coco'")
    if len(gt.records) == 0:
        raise ValueError(f"{gt.source}: the dataset has no images to evaluate on")
    return gt


class EvaluationWorker(QObject):
    """Loads the dataset, runs the model (or reads detections), matches once, precomputes curves.

    ``progress`` carries ``(done, total, text)``; ``total`` is 0 while the step has no count.
    ``cancel()`` stops between batches; the partial detections are dropped and ``failed``
    carries a message starting with "evaluation cancelled".
    """

    progress = Signal(object)   # (done, total, text)
    finished = Signal(object)   # EvaluationOutput
    failed = Signal(str)

    THRESHOLD_STEPS = 101

    def __init__(self, request: EvaluationRequest) -> None:
        super().__init__()
        self.request = request
        self._stop = threading.Event()
        self.done = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    @Slot()
    def run(self) -> None:
        try:
            self.finished.emit(self._evaluate())
        except Exception as exc:  # noqa: BLE001 - shown in the window; the app keeps running
            from core.evaluation.run import EvaluationCancelled

            if isinstance(exc, EvaluationCancelled):
                self.failed.emit(f"evaluation cancelled: {exc}")
            else:
                self.failed.emit(f"evaluation failed: {type(exc).__name__}: {exc}")
        finally:
            self.done.set()

    def _evaluate(self) -> EvaluationOutput:
        import numpy as np  # local: the rest of this module does not need NumPy at import time

        from core.evaluation import evaluate

        req = self.request
        if (req.weights is None) == (req.detections is None):
            raise ValueError("choose either a model file or a detections file to evaluate")
        self.progress.emit((0, 0, "reading the dataset"))
        gt = load_evaluation_dataset(req, need_images=req.weights is not None)
        if req.weights is not None:
            from core.detector import load_detector
            from core.evaluation.run import run_detector

            self.progress.emit((0, len(gt.records), f"loading model {Path(req.weights).name}"))
            detector = load_detector(req.weights, device=req.device)
            dets = run_detector(detector, gt, batch_size=req.batch_size, score_thresh=req.score_thresh,
                                on_progress=lambda d, t: self.progress.emit((d, t, f"detecting {d}/{t} images")),
                                should_stop=self._stop.is_set)
            result = evaluate(gt, dets, detector_class_names=detector.class_names,
                              iou_threshold=req.iou_threshold, source=str(req.weights))
        else:
            from core.evaluation.io import read_detections

            self.progress.emit((0, 0, f"reading {Path(str(req.detections)).name}"))
            dets, read_warnings, names = read_detections(str(req.detections), gt)
            result = evaluate(gt, dets, detector_class_names=names, iou_threshold=req.iou_threshold,
                              source=str(req.detections), extra_warnings=read_warnings)
        if self._stop.is_set():
            from core.evaluation.run import EvaluationCancelled

            raise EvaluationCancelled("stopped after matching")
        coco, coco_error = None, ""
        if req.with_coco:
            self.progress.emit((0, 0, "COCO metrics (pycocotools)"))
            try:
                coco = result.coco()
            except Exception as exc:  # noqa: BLE001 - the VOC figures stay usable; the table says why
                coco_error = f"{type(exc).__name__}: {exc}"
        self.progress.emit((0, 0, "mAP by threshold"))
        thresholds = np.linspace(0.0, 1.0, self.THRESHOLD_STEPS)
        return EvaluationOutput(request=req, result=result, coco=coco, coco_error=coco_error,
                                thresholds=thresholds,
                                map_voc07=result.map_by_threshold(thresholds, use_07_metric=True),
                                map_voc12=result.map_by_threshold(thresholds, use_07_metric=False))


class ImageCache:
    """A small thread-safe LRU of decoded dataset images (uint8 [H, W, 3] RGB) keyed by record index."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._images: OrderedDict[int, Any] = OrderedDict()

    def get(self, index: int, record: Any) -> Any:
        """The pixels of ``record`` (a :class:`core.types.ImageRecord`), decoded on first use.

        Raises:
            ValueError: the image is missing or cannot be decoded (names the file).
        """
        with self._lock:
            img = self._images.get(index)
            if img is not None:
                self._images.move_to_end(index)
                return img
        from core.data.loader import read_image_rgb

        img = read_image_rgb(record)
        with self._lock:
            self._images[index] = img
            while len(self._images) > self.size:
                self._images.popitem(last=False)
        return img

    def clear(self) -> None:
        with self._lock:
            self._images.clear()

    def __len__(self) -> int:
        return len(self._images)


@dataclass(frozen=True)
class Thumbnails:
    """What a :class:`ThumbnailWorker` made.

    Attributes:
        generation: the request number it answers (older answers are dropped by the view).
        entries: ``ssd_gui.widgets.image_strip.StripEntry`` per image that could be drawn, in request order.
        errors: one message per image that could not be read (the others are still shown).
    """

    generation: int
    entries: list[Any]
    errors: list[str]


class ThumbnailWorker(QObject):
    """Decodes dataset images and draws their threshold breakdowns off the GUI thread.

    ``jobs`` are ``(record_index, record, breakdown)`` triples; ``finished`` carries a
    :class:`Thumbnails`. ``cancel()`` stops between images (a newer request supersedes this one).
    """

    progress = Signal(object)   # unused: a strip is a few dozen small images
    finished = Signal(object)   # Thumbnails
    failed = Signal(str)

    def __init__(self, generation: int, jobs: Sequence[tuple[int, Any, Any]], class_names: Sequence[str],
                 height: int, show_names: bool, cache: ImageCache) -> None:
        super().__init__()
        self.generation = generation
        self.jobs = list(jobs)
        self.class_names = list(class_names)
        self.height = height
        self.show_names = show_names
        self.cache = cache
        self._stop = threading.Event()
        self.done = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    @Slot()
    def run(self) -> None:
        from ssd_gui.widgets.image_strip import StripEntry, draw_breakdown

        entries: list[Any] = []
        errors: list[str] = []
        try:
            for index, record, bd in self.jobs:
                if self._stop.is_set():
                    break
                try:
                    thumb = draw_breakdown(self.cache.get(index, record), bd, self.class_names,
                                           height=self.height, show_names=self.show_names)
                except ValueError as exc:  # an image vanished or cannot be decoded: say so, keep the rest
                    errors.append(str(exc))
                    continue
                entries.append(StripEntry(bd.image_id, thumb, len(bd.tp_scores), len(bd.fp_scores),
                                          len(bd.missed_labels)))
            self.finished.emit(Thumbnails(self.generation, entries, errors))
        except Exception as exc:  # noqa: BLE001 - shown in the window; the app keeps running
            self.failed.emit(f"image strip: {type(exc).__name__}: {exc}")
        finally:
            self.done.set()
