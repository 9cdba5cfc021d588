"""The frame loop of a detection run (``ssd detect``, the Detect view's export) over one source or several.

Frames are taken from the sources in turn, one from each (round robin), and go through the model
``batch_size`` at a time: with four sources and ``batch_size`` 4, each forward pass holds the next frame
of every source. One source is the same loop with a single participant, so :func:`core.inference.run_inference`
and :func:`core.inference_many.run_inference_many` are one engine.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Protocol, Sequence

import numpy as np

from core.io.video import Frame, FrameSource
from core.jobs import ProgressFn, StopFn, report
from core.types import Detections


class Detector(Protocol):
    def detect(self, images: Sequence[np.ndarray], score_thresh: float | None = None) -> list[Detections]: ...


class FrameSink(Protocol):
    """Where one source's detections go (:class:`core.inference.RunOutputs`)."""

    source: FrameSource
    spec: str
    frames_done: int

    def add(self, frame: Frame, dets: Detections) -> None: ...

    def maybe_save(self) -> None: ...


def interleaved_batches(sources: Sequence[FrameSource], batch_size: int,
                        max_frames: int | None = None) -> Iterator[list[tuple[int, Frame]]]:
    """Batches of ``(source index, frame)``, at most ``batch_size`` long, taking one frame of each source in
    turn until every source has ended (or given ``max_frames`` frames: no frame past that is read, which
    matters for a camera). The last batch may be shorter."""
    iters = [iter(s) for s in sources]
    counts = [0] * len(sources)
    active = list(range(len(sources)))
    batch: list[tuple[int, Frame]] = []
    while active:
        for k in list(active):
            frame = None if max_frames is not None and counts[k] >= max_frames else next(iters[k], None)
            if frame is None:
                active.remove(k)
                continue
            counts[k] += 1
            batch.append((k, frame))
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def frames_expected(sources: Sequence[FrameSource], max_frames: int | None) -> int | None:
    """Frames a run will detect over ``sources`` (None when a camera has no end and no ``max_frames``)."""
    total = 0
    for src in sources:
        n = src.frame_count if max_frames is None else min(max_frames, src.frame_count or max_frames)
        if n is None:
            return None
        total += n
    return total


def detect_interleaved(detector: Detector, sinks: Sequence[FrameSink], score_thresh: float | None,
                       batch_size: int, max_frames: int | None, on_progress: ProgressFn | None,
                       should_stop: StopFn | None) -> bool:
    """Detect every frame of each sink's source, batched across the sources; True when ``should_stop`` ended
    it early (polled between batches). Progress: frames done over all sources (detail: the image file, or the
    source when there are several)."""
    total = frames_expected([s.source for s in sinks], max_frames)
    done = 0
    for batch in interleaved_batches([s.source for s in sinks], batch_size, max_frames):
        if should_stop is not None and should_stop():
            return True
        for (k, frame), dets in zip(batch, detector.detect([f.image for _, f in batch], score_thresh=score_thresh)):
            sinks[k].add(frame, dets)
            done += 1
            detail = Path(frame.file).name if frame.file else (Path(sinks[k].spec).name if len(sinks) > 1 else "")
            report(on_progress, done, total, "detect", detail)
        for k in sorted({k for k, _ in batch}):
            sinks[k].maybe_save()
    return False


__all__ = ["interleaved_batches", "frames_expected", "detect_interleaved", "FrameSink"]
