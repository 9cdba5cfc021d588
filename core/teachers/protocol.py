"""The teacher protocol: what every detector that labels footage offers, whatever it is built on.

    teacher = build_teacher("owlv2:forklift=forklift,fork lift truck;pallet")   # core.teachers.registry
    teacher.class_names          # ("forklift", "pallet"): no background entry
    [dets] = teacher.detect([rgb])   # rgb: HxWx3 uint8 RGB; dets.labels index class_names (0 is a real class)
    teacher.fingerprint()        # {"kind": "owlv2", "model": ..., "ontology": ..., ...}: the resume identity

Every kind (this project's SSD files, torchvision's zoo, OWLv2, Grounding DINO, plug-ins) fulfils
:class:`Teacher`; :class:`core.teachers.adapter.TeacherDetector` turns any of them into the detector API
the commands and views use (background at 0, a score threshold). What a teacher returns is checked by
:func:`check_detections` before anything uses it, so a broken model or plug-in is named, with the field,
instead of writing wrong labels.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from core.types import Detections


@runtime_checkable
class Teacher(Protocol):
    """A detector that labels frames.

    Attributes:
        class_names: the classes it detects, without a background entry; ``labels`` index this tuple.
        description: one line for messages and dataset metadata ("torchvision fasterrcnn_resnet50_fpn_v2 (COCO)").
    """

    class_names: tuple[str, ...]
    description: str

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """One :class:`Detections` per image (HxWx3 uint8 RGB, any sizes): boxes float32 [N, 4] x1, y1, x2, y2 in
        pixels of that image, scores float32 [N] in [0, 1], labels int64 [N] indexing ``class_names``."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """Plain values (JSON) that decide whether two runs labelled alike: kind, model id, weights SHA-256,
        ontology, thresholds, tiling. Equal fingerprints, equal labels."""
        ...


class TeacherOutputError(ValueError):
    """A teacher returned something that is not detections (wrong shape, NaN, a label out of range, ...)."""


def check_detections(who: str, image_index: int, boxes: Any, scores: Any, labels: Any, n_classes: int,
                     size: tuple[int, int] | None = None) -> Detections:
    """Check one image's ``(boxes, scores, labels)`` from a teacher and return them as :class:`Detections`.

    Args:
        who: the teacher, for messages (a plug-in's name and file).
        image_index: the image's position in the batch, for messages.
        boxes: (N, 4) x1, y1, x2, y2 in pixels; scores: (N,) in [0, 1]; labels: (N,) integers in [0, n_classes).
        size: (width, height) of the image; boxes may reach past it (they are clipped later), but not by more
            than the image's own size (a box in other units, e.g. relative 0-1 when pixels were expected, passes;
            a box at 10x the image does not).

    Returns:
        Detections sorted by descending score (boxes float32, scores float32, labels int64).

    Raises:
        TeacherOutputError naming ``who``, the image and the field.
    """
    where = f"{who}: image {image_index}"
    try:
        b = np.asarray(boxes, dtype=np.float64)
        s = np.asarray(scores, dtype=np.float64)
        lab = np.asarray(labels)
    except (TypeError, ValueError) as exc:
        raise TeacherOutputError(f"{where}: boxes, scores and labels must be numeric arrays ({exc})") from None
    if b.size == 0 and s.size == 0 and lab.size == 0:
        return Detections.empty()
    if b.ndim != 2 or b.shape[1] != 4:
        raise TeacherOutputError(f"{where}: boxes must have shape (N, 4) (x1, y1, x2, y2 in pixels), got {b.shape}")
    n = b.shape[0]
    if s.shape != (n,):
        raise TeacherOutputError(f"{where}: scores must have shape ({n},) like the boxes, got {s.shape}")
    if lab.shape != (n,):
        raise TeacherOutputError(f"{where}: labels must have shape ({n},) like the boxes, got {lab.shape}")
    if not np.isfinite(b).all():
        raise TeacherOutputError(f"{where}: boxes hold NaN or infinity (box {int(np.argmin(np.isfinite(b).all(1)))})")
    if not np.isfinite(s).all() or (s < 0).any() or (s > 1).any():
        bad = s[~(np.isfinite(s) & (s >= 0) & (s <= 1))][0]
        raise TeacherOutputError(f"{where}: scores must be finite and in [0, 1], got {float(bad)!r}")
    if lab.dtype.kind not in "iu" and not (lab.dtype.kind == "f" and np.all(lab == np.round(lab))):
        raise TeacherOutputError(f"{where}: labels must be integers (indexes into class_names), got dtype {lab.dtype}")
    lab = lab.astype(np.int64)
    if (lab < 0).any() or (lab >= n_classes).any():
        bad_label = int(lab[(lab < 0) | (lab >= n_classes)][0])
        raise TeacherOutputError(f"{where}: label {bad_label} is out of range: class_names has {n_classes} "
                                 f"entries (labels 0..{n_classes - 1})")
    if (b[:, 2] < b[:, 0]).any() or (b[:, 3] < b[:, 1]).any():
        raise TeacherOutputError(f"{where}: boxes must be x1, y1, x2, y2 with x2 >= x1 and y2 >= y1")
    if size is not None:
        w, h = size
        limit = np.array([-w, -h, 2 * w, 2 * h], np.float64)
        if (b[:, :2] < limit[:2]).any() or (b[:, 2:] > limit[2:]).any():
            raise TeacherOutputError(f"{where}: boxes lie far outside the {w}x{h} image (max {b.max():.4g}): "
                                     f"boxes are x1, y1, x2, y2 in pixels of the image")
    order = np.argsort(-s, kind="stable")
    return Detections(b[order].astype(np.float32), s[order].astype(np.float32), lab[order])


def check_class_names(who: str, names: Any) -> tuple[str, ...]:
    """``names`` as a tuple of non-empty strings (a teacher's ``class_names``), else TeacherOutputError naming ``who``."""
    if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
        raise TeacherOutputError(f"{who}: class_names must be a list of names, got {type(names).__name__}")
    out = tuple(names)
    if not out:
        raise TeacherOutputError(f"{who}: class_names is empty: a teacher needs at least one class")
    for i, n in enumerate(out):
        if not isinstance(n, str) or not n.strip():
            raise TeacherOutputError(f"{who}: class_names[{i}] must be a non-empty string, got {n!r}")
    return out


__all__ = ["Teacher", "TeacherOutputError", "check_detections", "check_class_names"]
