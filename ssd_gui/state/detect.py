"""The state of one source of the Detect tab (a tile of its grid), without Qt: the open source, the frame
shown, playback options, the display filters, tracking and counting, and the performance counters; the model
is the tab's :class:`ssd_gui.state.model.ModelState`, shared by every tile and read through here.

Widgets change it through its setters and redraw from its events; none of them reads another
widget back to know what is shown. Everything here runs on the GUI thread.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from core.inference import VIDEO_SCORE_THRESH
from core.tracking import CountingLine, CountingZone, LiveTracks
from core.types import Detections
from core.io.video import Frame
from ssd_gui.state.events import Event, Events
from ssd_gui.state.model import DetectorLike, ModelState, RuntimeChoice, runtime_options

# The model runs at this low threshold; the confidence control filters the kept detections on
# the GUI thread, so moving it never re-runs the model.
RUN_SCORE_THRESH = 0.05
MAX_MIN_SCORE = 0.99
#: The confidence the view starts at: the threshold `ssd detect` draws its annotated videos at.
DEFAULT_MIN_SCORE = VIDEO_SCORE_THRESH


@dataclass(frozen=True)
class SourceInfo:
    """A newly opened source, as the reader thread announces it.

    Attributes:
        spec: what was opened (a path, or ``camera:N``).
        name: a short name for labels.
        fps: frames per second of a video, else None.
        frame_count: frames (images of a folder) in the source; None for a camera. Lowered when a
            video turns out to end early (a truncated file).
        is_live: a camera.
        generation: the reader's count of opened sources; results carry it, so an answer about
            the previous source is recognised and dropped.
        warnings: what the source found wrong when it opened (a truncated video, skipped images).
    """

    spec: str
    name: str
    fps: float | None
    frame_count: int | None
    is_live: bool
    generation: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """"camera", "video", "images" (a folder) or "image"."""
        if self.is_live:
            return "camera"
        if self.fps:
            return "video"
        return "images" if (self.frame_count or 1) > 1 else "image"

    @property
    def seekable(self) -> bool:
        """A file source with more than one frame."""
        return not self.is_live and (self.frame_count or 2) > 1


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
        dropped: frames of this source dropped so far by the mailbox because the model was busy.
        generation: the source it belongs to (see :attr:`SourceInfo.generation`).
        slot: the reader (the tile of the grid) whose frame it is; ``batch`` the frames of all the sources that
            went through the model with it in one forward pass (``inference_s`` is that pass's).
    """

    frame: Frame
    detections: Detections
    class_names: tuple[str, ...]
    inference_s: float
    latency_s: float
    dropped: int
    generation: int = 0
    slot: int = 0
    batch: int = 1


class Meter:
    """Exponential moving average of a rate or a duration (smooths the on-screen numbers)."""

    def __init__(self, alpha: float = 0.2) -> None:
        self.alpha = alpha
        self.value: float | None = None

    def add(self, x: float) -> None:
        self.value = x if self.value is None else (1 - self.alpha) * self.value + self.alpha * x

    def reset(self) -> None:
        self.value = None


class DetectState:
    """What one source of the Detect tab shows.

    Events (``state.events.<name>.connect(callback)``):
        source(SourceInfo | None): a source opened, was lost, or its frame count was corrected.
        position(int, str | None): the frame shown changed (index, its file for images).
        playing(bool), options(): real time or loop changed.
        filters(): the confidence threshold or the shown classes changed.
        model(detector | None), loading(str): a model was applied; a load started ("" when none runs).
        device(): the runtime choice (device, runtime, precision) changed.
        nms(): the NMS method changed (already applied to the detector).
        result(DetectionResult): new detections to show.
        stats(): the performance counters changed.
        tracking(): tracking was turned on or off, or the counting line or zone changed.

    ``model`` (default: a new one of its own) is the shared :class:`ModelState`; its events reach this state's
    listeners as this state's ``model``, ``loading``, ``device`` and ``nms`` until :meth:`close`.
    """

    def __init__(self, devices: list[str] | None = None, model: ModelState | None = None) -> None:
        self.events = Events("source", "position", "playing", "options", "filters", "model", "loading",
                             "device", "nms", "result", "stats", "tracking")
        self.model = model if model is not None else ModelState(devices)
        self.source: SourceInfo | None = None
        self.position = 0
        self.position_file: str | None = None
        self.playing = False
        self.realtime = True
        self.loop = True
        self.min_score = DEFAULT_MIN_SCORE
        self.shown_labels: frozenset[int] | None = None   # None: every class
        self.result: DetectionResult | None = None
        self.source_rate, self.model_time, self.latency = Meter(), Meter(), Meter()
        self.dropped = 0
        self.tracking = False
        self.tracks = LiveTracks()
        self.tracks.set_threshold(self.min_score)
        self.track_ids: np.ndarray | None = None  # int64 [N] of ``result``'s detections while tracking
        self._names = self._class_names(self.model.detector)
        m, e = self.model.events, self.events
        self._links: list[tuple[Event, Callable[..., None]]] = [
            (m.model, self._on_model), (m.loading, e.loading.emit), (m.device, e.device.emit), (m.nms, e.nms.emit)]
        for event, callback in self._links:
            event.connect(callback)

    def close(self) -> None:
        """Stop listening to the shared model (a tile closed); the state is not used afterwards."""
        for event, callback in self._links:
            event.disconnect(callback)
        self._links = []

    # ---------------------------------------------------------------- source and position
    def set_source(self, info: SourceInfo | None) -> None:
        """A new source (or none): position, result and counters start afresh."""
        self.source = info
        self.result = None
        self.track_ids = None
        self.tracks.reset()
        self.position, self.position_file = 0, None
        self.reset_counters()
        self.events.source.emit(info)

    def correct_frame_count(self, count: int) -> None:
        """The video ended after ``count`` frames although its header promised more."""
        if self.source is not None and self.source.frame_count != count:
            self.source = replace(self.source, frame_count=count)
            self.events.source.emit(self.source)

    def set_position(self, index: int, file: str | None = None) -> None:
        if (index, file) != (self.position, self.position_file):
            self.position, self.position_file = int(index), file
            self.events.position.emit(self.position, file)

    def set_playing(self, playing: bool) -> None:
        if playing != self.playing:
            self.playing = playing
            self.events.playing.emit(playing)

    def set_realtime(self, on: bool) -> None:
        if on != self.realtime:
            self.realtime = bool(on)
            self.events.options.emit()

    def set_loop(self, on: bool) -> None:
        if on != self.loop:
            self.loop = bool(on)
            self.events.options.emit()

    @property
    def shows_every_frame(self) -> bool:
        """Playing in real time: every decoded frame is drawn with the newest boxes."""
        return self.playing and self.realtime

    # ---------------------------------------------------------------- filters
    def set_min_score(self, score: float) -> None:
        """Show detections with ``score >= min_score`` (clamped to what the model keeps)."""
        score = round(min(MAX_MIN_SCORE, max(RUN_SCORE_THRESH, float(score))), 2)
        if score != self.min_score:
            self.min_score = score
            self.tracks.set_threshold(score)
            self.events.filters.emit()

    def set_shown_labels(self, labels: set[int] | frozenset[int] | None) -> None:
        """Show only these labels (None: all classes)."""
        value = None if labels is None else frozenset(int(v) for v in labels)
        if value != self.shown_labels:
            self.shown_labels = value
            self.events.filters.emit()

    def visible(self, result: DetectionResult | None = None) -> Detections:
        """The detections of ``result`` (default: the current one) that pass the filters."""
        result = result if result is not None else self.result
        if result is None:
            return Detections.empty()
        return result.detections.filter(self.min_score, None if self.shown_labels is None else set(self.shown_labels))

    def visible_tracked(self) -> tuple[Detections, np.ndarray | None]:
        """The current detections that pass the filters and their track ids (int64 [N], -1: none; None when not
        tracking). While tracking, a detection under the threshold that extends a track (ByteTrack's low-score
        pass) is shown too."""
        if not self.tracking or self.result is None or self.track_ids is None:
            return self.visible(), None
        d, ids = self.result.detections, self.track_ids
        keep = (d.scores >= self.min_score) | (ids >= 0)
        if self.shown_labels is not None:
            keep &= np.isin(d.labels, np.fromiter(self.shown_labels, np.int64, len(self.shown_labels)))
        return Detections(d.boxes[keep], d.scores[keep], d.labels[keep]), ids[keep]

    # ---------------------------------------------------------------- tracking
    def set_tracking(self, on: bool) -> None:
        """Track the objects from the next detections on (their tracks and counts start at zero)."""
        if bool(on) != self.tracking:
            self.tracking = bool(on)
            self.tracks.reset()
            self.track_ids = None
            self.events.tracking.emit()

    def set_counting_line(self, line: CountingLine | None) -> None:
        """Count the tracks crossing ``line`` (x, y in pixels of the frame), per class and direction; None: no line."""
        self.tracks.set_line(line)
        self.events.tracking.emit()

    def set_counting_zone(self, zone: CountingZone | None) -> None:
        """Count the tracks inside ``zone`` (a polygon in pixels of the frame), per class: now and distinct seen; None:
        no zone."""
        self.tracks.set_zone(zone)
        self.events.tracking.emit()

    # ---------------------------------------------------------------- model (the shared ModelState's)
    @staticmethod
    def _class_names(detector: DetectorLike | None) -> tuple[str, ...] | None:
        return None if detector is None else tuple(detector.class_names)

    def _on_model(self, detector: DetectorLike | None) -> None:
        """A model was applied: the class filter starts over when its classes differ."""
        names = self._class_names(detector)
        if names is None or names != self._names:
            self.shown_labels = None
            self.tracks.reset()  # a label of the old model's tracks names another class in the new one
        self._names = names
        self.model_time.reset()
        self.events.model.emit(detector)

    @property
    def detector(self) -> DetectorLike | None:
        return self.model.detector

    @property
    def loading(self) -> str:
        return self.model.loading

    @property
    def devices(self) -> list[str]:
        return self.model.devices

    @property
    def choices(self) -> list[RuntimeChoice]:
        return self.model.choices

    @property
    def runtime_choice(self) -> RuntimeChoice:
        return self.model.runtime_choice

    @property
    def nms(self) -> str:
        return self.model.nms

    @property
    def device(self) -> str:
        return self.model.device

    @property
    def precision(self) -> str:
        return self.model.precision

    @property
    def runtime(self) -> str:
        return self.model.runtime

    def choices_on(self, device: str) -> list[RuntimeChoice]:
        return self.model.choices_on(device)

    def set_loading(self, what: str) -> None:
        self.model.set_loading(what)

    def set_detector(self, detector: DetectorLike | None) -> None:
        """Apply a loaded model to every tile (:meth:`ModelState.set_detector`)."""
        self.model.set_detector(detector)

    def set_runtime_choice(self, choice: RuntimeChoice) -> None:
        self.model.set_runtime_choice(choice)

    def set_nms(self, method: str) -> None:
        self.model.set_nms(method)

    # ---------------------------------------------------------------- results and counters
    def accepts(self, generation: int) -> bool:
        """True when a result of source ``generation`` belongs to the source open now."""
        return self.source is not None and generation == self.source.generation

    def set_result(self, result: DetectionResult) -> None:
        self.result = result
        # the model's detections, not the filtered ones: the tracker has its own thresholds (set_min_score)
        self.track_ids = self.tracks.update(result.frame.index, result.detections) if self.tracking else None
        self.dropped = result.dropped
        if result.inference_s > 0:
            self.model_time.add(result.inference_s)
        self.latency.add(result.latency_s)
        self.events.result.emit(result)
        self.set_position(result.frame.index, result.frame.file)

    def reset_counters(self) -> None:
        for meter in (self.source_rate, self.model_time, self.latency):
            meter.reset()
        self.dropped = 0
        self.events.stats.emit()


__all__ = ["DetectState", "DetectionResult", "SourceInfo", "Meter", "DetectorLike", "ModelState", "RuntimeChoice",
           "runtime_options", "RUN_SCORE_THRESH", "MAX_MIN_SCORE", "DEFAULT_MIN_SCORE"]
