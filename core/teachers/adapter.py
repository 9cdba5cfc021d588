"""From the teacher protocol to the detector API every command and view uses, and back.

    det = TeacherDetector(build_teacher("torchvision:fasterrcnn_resnet50_fpn_v2"), "torchvision:...")
    det.class_names[0]        # "__background__": labels >= 1, as core.detector.Detector
    [d] = det.detect([rgb], score_thresh=0.5)

:class:`TeacherDetector` is what :func:`core.resolve.load_detector` returns for a teacher string, so
``ssd detect``, ``ssd eval``, ``ssd pseudo-label``, the reference model of an evaluation and the Detect view
take any teacher through the same code as an SSD. The small interface it keeps of
:class:`core.detector.Detector`: ``class_names`` (background at 0), ``detect(images, score_thresh, nms)``,
``set_postprocess(score_thresh=..)``, ``device``, ``precision`` ("fp32"), ``runtime`` ("torch"),
``weights_path`` (the teacher string: what reloads it), ``weights_format`` (the kind), ``config`` (None: no
SSD settings), ``supports_nms`` (False: the teacher does its own suppression, so views hide the NMS choice)
and ``runtime_text`` (for the model line). :class:`SSDTeacher` goes the other way: this project's own
detector as a :class:`~core.teachers.protocol.Teacher`, for tiling.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.config import BACKGROUND
from core.teachers.protocol import check_detections
from core.types import Detections


class TeacherDetector:
    """A :class:`~core.teachers.protocol.Teacher` with the detector API (see the module docstring).

    Args:
        teacher: the teacher.
        name: the string that names it (``weights_path``), e.g. ``"owlv2:person;car"``.
        kind: its kind (``weights_format``), e.g. ``"owlv2"``.
        device: where it runs (for display).
    """

    runtime = "torch"
    precision = "fp32"
    optimized = False
    supports_nms = False
    config = None

    def __init__(self, teacher: Any, name: str, kind: str, device: str = "cpu") -> None:
        self.teacher = teacher
        self.class_names: tuple[str, ...] = (BACKGROUND,) + tuple(teacher.class_names)
        self.weights_path = name
        self.weights_format = kind
        self.device = device
        self.meta: dict[str, Any] = {}
        self.runtime_info: dict[str, Any] = {"notes": []}
        default = getattr(teacher, "default_threshold", None)
        self.score_thresh = 0.01 if default is None else float(default)
        thresholds = getattr(teacher, "class_thresholds", None)
        self._class_thresh = None if thresholds is None else [None] + list(thresholds)

    @property
    def description(self) -> str:
        return str(self.teacher.description)

    @property
    def runtime_text(self) -> str:
        where = "its own process" if self.weights_format == "plugin" else f"PyTorch, {self.device}"
        return f"{self.description} ({where})"

    def fingerprint(self) -> dict[str, Any]:
        return dict(self.teacher.fingerprint())

    def set_postprocess(self, **changes: Any) -> None:
        """``score_thresh=T`` sets the default threshold; ``nms="hard"`` is accepted (the teacher's own
        suppression is greedy), any other change is refused with a ValueError naming the teacher."""
        for key, value in changes.items():
            if key == "score_thresh" and value is not None and 0.0 <= float(value) <= 1.0:
                self.score_thresh = float(value)
            elif key == "nms" and value in (None, "hard"):
                continue
            else:
                raise ValueError(f"{self.weights_path}: {key}={value!r} applies to SSD models only; this "
                                 f"{self.weights_format} teacher does its own suppression and thresholds")

    def detect(self, images: Sequence[np.ndarray], score_thresh: float | None = None,
               nms: str | None = None) -> list[Detections]:
        """Detections above ``score_thresh`` (default :attr:`score_thresh`; a class of an ontology with its own
        threshold keeps that one), boxes x1, y1, x2, y2 in pixels, labels >= 1 indexing :attr:`class_names`.

        Raises:
            ValueError: ``nms`` other than None / "hard"; TeacherOutputError: the teacher returned garbage.
        """
        if nms not in (None, "hard"):
            raise ValueError(f"{self.weights_path}: --nms {nms} applies to SSD models; this {self.weights_format} "
                             f"teacher does its own suppression")
        if len(images) == 0:
            return []
        thresh = self.score_thresh if score_thresh is None else float(score_thresh)
        n = len(self.class_names) - 1
        out = []
        for i, (img, det) in enumerate(zip(images, self._detect_all(images))):
            size = (int(img.shape[1]), int(img.shape[0]))
            d = check_detections(self.description, i, det.boxes, det.scores, det.labels, n, size)
            labels = d.labels + 1
            keep = d.scores > self._limits(thresh)[labels]
            out.append(Detections(d.boxes[keep], d.scores[keep], labels[keep]))
        return out

    def _limits(self, thresh: float) -> np.ndarray:
        """float64 [C + 1]: the score each label must exceed (the class's own threshold, else ``thresh``)."""
        if self._class_thresh is None:
            return np.full(len(self.class_names), thresh, np.float64)
        return np.array([thresh if t is None else t for t in self._class_thresh], np.float64)

    def _detect_all(self, images: Sequence[np.ndarray]) -> list[Detections]:
        dets = self.teacher.detect(list(images))
        if not isinstance(dets, list) or len(dets) != len(images):
            got = len(dets) if hasattr(dets, "__len__") else type(dets).__name__
            raise ValueError(f"{self.description}: detect() must return one result per image: {len(images)} "
                             f"image(s), got {got}")
        return dets

    def close(self) -> None:
        """Release what the teacher holds (a plug-in's process)."""
        close = getattr(self.teacher, "close", None)
        if close is not None:
            close()


class SSDTeacher:
    """This project's :class:`core.detector.Detector` (or an exported network) as a Teacher: labels shifted
    down by one (no background), the file's SHA-256 in the fingerprint."""

    default_threshold = None

    def __init__(self, detector: Any, kind: str, sha256: str) -> None:
        self.detector = detector
        self.class_names = tuple(detector.class_names[1:])
        self.description = Path(str(detector.weights_path)).name
        self._fingerprint = {"kind": kind, "sha256": sha256}

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        return [Detections(d.boxes, d.scores, d.labels - 1) for d in self.detector.detect(list(images))]

    def fingerprint(self) -> dict[str, Any]:
        return dict(self._fingerprint)


__all__ = ["SSDTeacher", "TeacherDetector"]
