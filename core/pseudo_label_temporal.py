"""``ssd pseudo-label --temporal``: the teacher runs on every frame of a video, its detections are linked
into tracks and refined (:mod:`core.tracking.refine`: short tracks dropped, gaps filled, boxes
smoothed), and the refined labels of every ``every``-th frame are what :mod:`core.pseudo_label` writes.

    frames = TemporalFrames(teacher, config, every=10, max_frames=None, batch_size=8, should_stop=stop)
    for sampled, detections, interpolated in frames.run(source, "clip.mp4"):
        ...   # the frame (image, id), its refined detections, which boxes were filled in
    frames.stopped   # should_stop ended it

The teacher costs ``every`` times more than per-frame labelling (it sees every frame, not one in
``every``). Only video files are refined this way; image folders and images are labelled frame by
frame. A frame comes out as soon as the refinement has decided it, a few times ``max_gap`` frames
after it was read, so only those frames' images are held.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from core.data.frames import SampledFrame, video_frame_path
from core.tracking.refine import RefinedFrame, TemporalConfig, TemporalRefiner
from core.types import Detections


def is_video(source: Any) -> bool:
    """Whether an open frame source is a video file (the only kind refined in time)."""
    from core.io.video import VideoFileSource

    return isinstance(source, VideoFileSource)


def video_image_ids(spec: str | Path, frame_count: int | None, every: int, max_frames: int | None,
                    id_prefix: str = "", name: str | None = None) -> list[str]:
    """The image ids :func:`core.data.frames.sample_frames` gives the kept frames of a video of ``frame_count``
    frames (empty when the count is unknown)."""
    if frame_count is None:
        return []
    stem = Path(str(spec)).stem if name is None else name
    ids = [f"{id_prefix}{stem}_{i:06d}" for i in range(0, frame_count, every)]
    return ids if max_frames is None else ids[:max_frames]


def split_filled(detections: Detections, interpolated: np.ndarray) -> tuple[Detections, Detections]:
    """(the teacher's detections, the boxes filled into gaps) of a refined frame."""
    keep = np.asarray(interpolated, bool)
    pick = [Detections(detections.boxes[m], detections.scores[m], detections.labels[m]) for m in (~keep, keep)]
    return pick[0], pick[1]


class TemporalFrames:
    """The refined labels of a video's kept frames (module docstring).

    Args:
        teacher: anything with ``detect(images, score_thresh)`` (a :class:`core.detector.Detector`).
        config: the refinement; the teacher runs at ``config.low_thresh``.
        every, max_frames: which frames are kept (frames 0, N, 2N, ...; at most ``max_frames``).
        batch_size: frames per forward pass of the teacher.
        should_stop: polled between batches; True ends :meth:`run` (``stopped`` is then True).
    """

    def __init__(self, teacher: Any, config: TemporalConfig, every: int, max_frames: int | None, batch_size: int,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.teacher, self.config, self.every, self.max_frames = teacher, config, every, max_frames
        self.batch_size, self.should_stop = batch_size, should_stop
        self.stopped = False

    def run(self, source: Any, spec: str | Path, id_prefix: str = "", name: str | None = None
            ) -> Iterator[tuple[SampledFrame, Detections, np.ndarray]]:
        """(kept frame, refined detections in the teacher's labels, interpolated bool [N]) for each kept
        frame of the open video ``source``, in frame order; ``name``: the video's id base instead of its stem
        (as :func:`core.data.frames.sample_frames` takes it)."""
        refiner = TemporalRefiner(self.config)
        waiting: dict[int, SampledFrame] = {}
        stem, kept, batch = (Path(str(spec)).stem if name is None else name), 0, []
        for frame in source:
            if self.max_frames is None or kept < self.max_frames:
                if frame.index % self.every == 0:
                    waiting[frame.index] = SampledFrame(frame.image, f"{id_prefix}{stem}_{frame.index:06d}",
                                                        video_frame_path(spec, frame.index), frame.index, str(spec))
                    kept += 1
            elif not waiting:
                break  # every kept frame is out: the rest of the video cannot change them
            batch.append(frame)
            if len(batch) >= self.batch_size:
                if self._stop():
                    return
                yield from self._push(refiner, batch, waiting)
        if batch:
            if self._stop():
                return
            yield from self._push(refiner, batch, waiting)
        yield from self._out(refiner.finish(), waiting)

    def _stop(self) -> bool:
        self.stopped = self.should_stop is not None and bool(self.should_stop())
        return self.stopped

    def _push(self, refiner: TemporalRefiner, batch: list, waiting: dict[int, SampledFrame]
              ) -> Iterator[tuple[SampledFrame, Detections, np.ndarray]]:
        dets = self.teacher.detect([f.image for f in batch], score_thresh=self.config.low_thresh)
        frames = [(f.index, d) for f, d in zip(batch, dets)]
        batch.clear()
        for index, d in frames:
            yield from self._out(refiner.push(index, d), waiting)

    @staticmethod
    def _out(refined: list[RefinedFrame], waiting: dict[int, SampledFrame]
             ) -> Iterator[tuple[SampledFrame, Detections, np.ndarray]]:
        for r in refined:
            frame = waiting.pop(r.index, None)
            if frame is not None:
                yield frame, r.detections, r.interpolated


def label_in_time(run: Any, spec: str, src: Any, prefix: str, name: str | None = None) -> bool:
    """The ``--temporal`` path of :mod:`core.pseudo_label`'s frame loop for one open source: a video's refined
    kept frames written through ``run`` (its ``_write``; a partly done video runs again from its start and only
    the frames not written yet are written, a finished one is skipped without the teacher). False, with a
    warning, for a source that is not a video (the caller labels it frame by frame).

    ``run`` is the loop's state (``core.pseudo_label._Run``): ``cfg``, ``teacher``, ``done``, ``should_stop``,
    ``skipped``, ``stopped``, ``source_warnings``, ``_write`` and ``_report``.
    """
    cfg = run.cfg
    if not is_video(src):
        run.source_warnings.append(f"{spec}: not a video; labelled frame by frame, without --temporal")
        return False
    ids = video_image_ids(spec, src.frame_count, cfg.every, cfg.max_frames, prefix, name)
    frames = TemporalFrames(run.teacher, cfg.temporal, cfg.every, cfg.max_frames, cfg.batch_size, run.should_stop)
    done_before = bool(ids) and all(i in run.done for i in ids)  # then the teacher need not run
    for frame, det, filled in ([] if done_before else frames.run(src, str(spec), prefix, name)):
        if frame.image_id in run.done:
            run.skipped += 1
            run._report(frame.image_id)
        else:
            run._write(frame, *split_filled(det, filled))
    for i in (ids if done_before else ()):
        run.skipped += 1
        run._report(i)
    run.source_warnings += list(getattr(src, "warnings", []))
    run.stopped = frames.stopped
    return True


__all__ = ["TemporalFrames", "is_video", "label_in_time", "split_filled", "video_image_ids"]
