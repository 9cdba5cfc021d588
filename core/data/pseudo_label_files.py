"""The files of a pseudo-labelled dataset: a VOC or COCO tree whose labels are a teacher model's
detections, with each box's score kept and the teacher named in the metadata.

VOC layout (``load_voc`` reads it; ``ssd train --format voc --data DIR``)::

    DIR/JPEGImages/<id>.jpg   DIR/Annotations/<id>.xml   DIR/labels.txt
    DIR/ImageSets/Main/{trainval,train,val}.txt           DIR/pseudo_label.json

COCO layout (``load_coco`` reads it; ``ssd train --format coco --data DIR/annotations.json``)::

    DIR/images/<id>.jpg   DIR/annotations.json   DIR/pseudo_label.json

Each VOC ``<object>`` carries a ``<score>`` element, each COCO annotation a ``"score"`` field (both
readers ignore them); a box the temporal refinement filled into a gap (``--temporal``: no detection of
the teacher there, its score interpolated) also ``<interpolated>1</interpolated>`` or
``"interpolated": true``; ``pseudo_label.json`` records the teacher, its threshold, the sampling, the
class subset and renaming, the sources and whether the run finished.

Every file goes through :mod:`core.io.fileio` (temporary file, then rename). A frame is *done* when its
annotation exists: the VOC XML, written after the image, or (COCO) its entry in
``annotations.json``, rewritten with every image written so far at each :meth:`save`. That is what a
resumed run skips.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence
from xml.sax.saxutils import escape

import cv2
import numpy as np

from core.data._checks import read_json_file
from core.io.fileio import atomic_write, write_json

JPEG_QUALITY = 95
STATE_FILE = "pseudo_label.json"
FORMATS: tuple[str, ...] = ("voc", "coco")


def _jpeg(image: np.ndarray, path: Path) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError(f"{path}: could not encode the image")
    return data.tobytes()


def voc_xml(image_id: str, filename: str, width: int, height: int, boxes: np.ndarray, scores: np.ndarray,
            names: Sequence[str], note: str, interpolated: np.ndarray | None = None) -> str:
    """One VOC annotation; boxes float [N, 4] x1, y1, x2, y2 in pixels, stored as VOC's 1-based
    inclusive integers ``(round(x1) + 1, round(y1) + 1, round(x2), round(y2))``; ``interpolated`` bool [N]
    marks boxes filled in by the temporal refinement."""
    objs = []
    flags = np.zeros(len(scores), bool) if interpolated is None else np.asarray(interpolated, bool)
    for (x1, y1, x2, y2), score, name, filled in zip(np.asarray(boxes, np.float64).tolist(), scores.tolist(), names,
                                                     flags.tolist()):
        mark = "    <interpolated>1</interpolated>\n" if filled else ""
        objs.append(
            f"  <object>\n    <name>{escape(name)}</name>\n    <pose>Unspecified</pose>\n"
            f"    <truncated>0</truncated>\n    <difficult>0</difficult>\n    <score>{score:.6f}</score>\n{mark}"
            f"    <bndbox>\n      <xmin>{int(round(x1)) + 1}</xmin>\n      <ymin>{int(round(y1)) + 1}</ymin>\n"
            f"      <xmax>{int(round(x2))}</xmax>\n      <ymax>{int(round(y2))}</ymax>\n    </bndbox>\n  </object>\n")
    return (f"<annotation>\n  <folder>pseudo-labels</folder>\n  <filename>{escape(filename)}</filename>\n"
            f"  <source><database>{escape(note)}</database></source>\n"
            f"  <size>\n    <width>{width}</width>\n    <height>{height}</height>\n    <depth>3</depth>\n  </size>\n"
            f"  <segmented>0</segmented>\n{''.join(objs)}</annotation>\n")


class PseudoLabelWriter:
    """Writes frames and their labels into ``out`` (VOC or COCO), and the index files on :meth:`save`.

    Args:
        out: the dataset folder (exists).
        fmt: ``voc`` or ``coco``.
        class_names: the dataset's classes, entry 0 ``"__background__"``.
        note: one line naming the teacher and threshold (in every VOC annotation and the COCO ``info``).
        state: the content of ``pseudo_label.json`` (updated by the caller, written on :meth:`save`).
    """

    def __init__(self, out: Path, fmt: str, class_names: Sequence[str], note: str, state: dict[str, Any]) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"pseudo-label format must be one of {FORMATS}, got {fmt!r}")
        self.out, self.fmt, self.class_names, self.note, self.state = out, fmt, tuple(class_names), note, state
        self.image_dir = out / ("JPEGImages" if fmt == "voc" else "images")
        self.image_dir.mkdir(parents=True, exist_ok=True)
        if fmt == "voc":
            (out / "Annotations").mkdir(exist_ok=True)
            (out / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        self.ids: list[str] = []
        self._coco_images: list[dict[str, Any]] = []
        self._coco_anns: list[dict[str, Any]] = []
        self._load_done()
        self._next_number = max((img["id"] for img in self._coco_images), default=0) + 1

    @property
    def dataset_path(self) -> Path:
        """What to hand to the reader: the folder (VOC) or ``annotations.json`` (COCO)."""
        return self.out if self.fmt == "voc" else self.out / "annotations.json"

    def _load_done(self) -> None:
        """The frames an earlier run finished (see the module docstring), in the order they were written."""
        if self.fmt == "voc":
            listed = self.out / "ImageSets" / "Main" / "trainval.txt"
            order = listed.read_text(encoding="utf-8").split() if listed.is_file() else []
            on_disk = {p.stem for p in (self.out / "Annotations").glob("*.xml")
                       if (self.image_dir / f"{p.stem}.jpg").is_file()}
            self.ids = [i for i in order if i in on_disk] + sorted(on_disk - set(order))
            return
        path = self.out / "annotations.json"
        if not path.is_file():
            return
        data = read_json_file(path, "annotation file")
        kept = {img["id"] for img in data["images"] if (self.image_dir / img["file_name"]).is_file()}
        self._coco_images = [img for img in data["images"] if img["id"] in kept]
        self._coco_anns = [a for a in data["annotations"] if a["image_id"] in kept]
        self.ids = [Path(img["file_name"]).stem for img in self._coco_images]

    def done(self) -> set[str]:
        return set(self.ids)

    def add(self, image_id: str, image: np.ndarray, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
            interpolated: np.ndarray | None = None) -> None:
        """One frame: the image, then its labels (boxes float [N, 4] x1, y1, x2, y2 px, labels into class_names;
        ``interpolated`` bool [N]: boxes the temporal refinement filled in)."""
        flags = np.zeros(len(labels), bool) if interpolated is None else np.asarray(interpolated, bool)
        h, w = image.shape[:2]
        filename = f"{image_id}.jpg"
        atomic_write(self.image_dir / filename, _jpeg(image, self.image_dir / filename), "pseudo-labelled image")
        if self.fmt == "voc":
            names = [self.class_names[int(k)] for k in labels]
            atomic_write(self.out / "Annotations" / f"{image_id}.xml",
                         voc_xml(image_id, filename, w, h, boxes, scores, names, self.note, flags), "annotation")
        else:
            number, self._next_number = self._next_number, self._next_number + 1
            self._coco_images.append({"id": number, "file_name": filename, "width": int(w), "height": int(h)})
            for (x1, y1, x2, y2), score, label, filled in zip(np.asarray(boxes, np.float64).tolist(), scores.tolist(),
                                                              labels.tolist(), flags.tolist()):
                bw, bh = x2 - x1, y2 - y1
                ann = {"id": len(self._coco_anns) + 1, "image_id": number, "category_id": int(label),
                       "bbox": [round(x1, 3), round(y1, 3), round(bw, 3), round(bh, 3)],
                       "area": round(bw * bh, 3), "iscrowd": 0, "score": round(float(score), 6)}
                self._coco_anns.append({**ann, "interpolated": True} if filled else ann)
        self.ids.append(image_id)

    def save(self) -> None:
        """The index files for the frames done so far, then ``pseudo_label.json`` (a readable dataset at every save)."""
        if self.ids and self.fmt == "voc":
            main = self.out / "ImageSets" / "Main"
            # The last tenth (at least one frame) is "val"; frames in source order keep it apart in time.
            n_val = max(1, len(self.ids) // 10)
            train, val = (self.ids[:-n_val], self.ids[-n_val:]) if len(self.ids) > 1 else (self.ids, self.ids)
            for name, ids in (("trainval", self.ids), ("train", train), ("val", val)):
                atomic_write(main / f"{name}.txt", "".join(f"{i}\n" for i in ids), "image set")
            atomic_write(self.out / "labels.txt", "".join(f"{n}\n" for n in self.class_names[1:]), "class list")
        elif self.ids:
            categories = [{"id": k, "name": n} for k, n in enumerate(self.class_names) if k > 0]
            write_json(self.out / "annotations.json", {
                "info": {"description": self.note, "pseudo_label": {k: self.state[k] for k in
                                                                    ("teacher", "score_thresh", "every")}},
                "images": self._coco_images, "annotations": self._coco_anns, "categories": categories},
                "annotation file", indent=None)
        write_json(self.out / STATE_FILE, dict(self.state, frames=len(self.ids)), "pseudo-label record", indent=2)


__all__ = ["PseudoLabelWriter", "voc_xml", "STATE_FILE", "FORMATS", "JPEG_QUALITY"]
