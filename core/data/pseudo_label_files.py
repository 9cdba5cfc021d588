"""The files of a pseudo-labelled dataset: a VOC or COCO tree whose labels are a teacher model's
detections, with each box's score kept and the teacher named in the metadata.

VOC layout (``load_voc`` reads it; ``ssd train --format voc --data DIR``)::

    DIR/JPEGImages/<id>.jpg   DIR/Annotations/<id>.xml   DIR/labels.txt
    DIR/ImageSets/Main/{trainval,train,val}.txt           DIR/pseudo_label.json

COCO layout (``load_coco`` reads it; ``ssd train --format coco --data DIR/annotations.json``)::

    DIR/images/<id>.jpg   DIR/annotations.json   DIR/pseudo_label.json

YOLO layout (Ultralytics'; ``load_yolo`` reads it, and so does ``yolo train data=DIR/data.yaml``)::

    DIR/images/<id>.jpg   DIR/labels/<id>.txt   DIR/scores/<id>.txt   DIR/{train,val}.txt
    DIR/data.yaml         DIR/pseudo_label.json

Each VOC ``<object>`` carries a ``<score>`` element, each COCO annotation a ``"score"`` field (both
readers ignore them); a box the temporal refinement filled into a gap (``--temporal``: no detection of
the teacher there, its score interpolated) also ``<interpolated>1</interpolated>`` or
``"interpolated": true``. A YOLO label line has no room for either (Ultralytics reads exactly five
numbers), so ``scores/<id>.txt`` holds the scores, one per line in the order of ``labels/<id>.txt``.
``pseudo_label.json`` records the teacher, its threshold, the sampling, the class subset and renaming,
the sources and whether the run finished; it is written before the first frame, so a run killed at any
point leaves a folder the same command resumes.

The ``train`` split is the first nine tenths of the frames in source order, ``val`` the last tenth (at
least one frame), so validation frames lie apart in time from the training frames (VOC:
``ImageSets/Main/{train,val,trainval}.txt``; YOLO: ``train.txt``, ``val.txt``).

Every file goes through :mod:`core.io.fileio` (temporary file, then rename). A frame is *done* when its
annotation exists: the VOC XML or the YOLO label file, written after the image (and the scores), or
(COCO) its entry in ``annotations.json``, rewritten with every image written so far at each
:meth:`save`. That is what a resumed run skips. Only the frame ids are kept in memory (and, for COCO,
the annotations), never the frames.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence
from xml.sax.saxutils import escape

import cv2
import numpy as np

from core.data._checks import read_json_file
from core.data.yolo import DATA_FILE, data_yaml_text, yolo_lines
from core.io.fileio import atomic_write, write_json

JPEG_QUALITY = 95
STATE_FILE = "pseudo_label.json"
FORMATS: tuple[str, ...] = ("voc", "coco", "yolo")


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
    """Writes frames and their labels into ``out`` (VOC, COCO or YOLO), and the index files on :meth:`save`.

    Opening it writes ``pseudo_label.json`` (the run's record) before anything else.

    Args:
        out: the dataset folder (exists).
        fmt: ``voc``, ``coco`` or ``yolo``.
        class_names: the dataset's classes, entry 0 ``"__background__"``.
        note: one line naming the teacher and threshold (in every VOC annotation and the COCO ``info``).
        state: the content of ``pseudo_label.json`` (updated by the caller, written on :meth:`save`).
    """

    def __init__(self, out: Path, fmt: str, class_names: Sequence[str], note: str, state: dict[str, Any]) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"pseudo-label format must be one of {FORMATS}, got {fmt!r}")
        self.out, self.fmt, self.class_names, self.note, self.state = out, fmt, tuple(class_names), note, state
        self.image_dir = out / ("JPEGImages" if fmt == "voc" else "images")
        self.label_dir = out / {"voc": "Annotations", "yolo": "labels"}.get(fmt, "")
        self.ids: list[str] = []
        self._coco_images: list[dict[str, Any]] = []
        self._coco_anns: list[dict[str, Any]] = []
        self._load_done()
        self._next_number = max((img["id"] for img in self._coco_images), default=0) + 1
        # annotation ids go on after the largest kept: a frame deleted since (its annotations dropped) frees none
        self._next_ann = max((a["id"] for a in self._coco_anns), default=0) + 1
        # The record first, before any folder or frame: a run killed (SIGKILL, a full disk) at any point after
        # this is a folder the same command resumes; before it, the folder is still empty.
        self.save()
        self.image_dir.mkdir(parents=True, exist_ok=True)
        if fmt == "voc":
            (out / "Annotations").mkdir(exist_ok=True)
            (out / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        if fmt == "yolo":
            (out / "labels").mkdir(exist_ok=True)
            (out / "scores").mkdir(exist_ok=True)

    @property
    def dataset_path(self) -> Path:
        """What to hand to the reader: the folder (VOC, YOLO) or ``annotations.json`` (COCO)."""
        return self.out / "annotations.json" if self.fmt == "coco" else self.out

    def _listed(self) -> list[str]:
        """The frame ids of the last saved index, in order (VOC ``trainval.txt``; YOLO ``train.txt`` + ``val.txt``)."""
        if self.fmt == "voc":
            files = [self.out / "ImageSets" / "Main" / "trainval.txt"]
        else:
            files = [self.out / "train.txt", self.out / "val.txt"]
        ids = [Path(line).stem for f in files if f.is_file() for line in f.read_text(encoding="utf-8").split()]
        return list(dict.fromkeys(ids))

    def _load_done(self) -> None:
        """The frames an earlier run finished (see the module docstring), in the order they were written."""
        if self.fmt in ("voc", "yolo"):
            suffix = ".xml" if self.fmt == "voc" else ".txt"
            on_disk = {p.stem for p in self.label_dir.glob(f"*{suffix}") if (self.image_dir / f"{p.stem}.jpg").is_file()}
            self.ids = [i for i in self._listed() if i in on_disk]
            self.ids += sorted(on_disk - set(self.ids))
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
        elif self.fmt == "yolo":  # the scores first: the label file marks the frame done
            atomic_write(self.out / "scores" / f"{image_id}.txt", "".join(f"{v:.6f}\n" for v in scores.tolist()),
                         "score file")
            atomic_write(self.label_dir / f"{image_id}.txt", yolo_lines(boxes, labels, w, h), "label file")
        else:
            number, self._next_number = self._next_number, self._next_number + 1
            self._coco_images.append({"id": number, "file_name": filename, "width": int(w), "height": int(h)})
            for (x1, y1, x2, y2), score, label, filled in zip(np.asarray(boxes, np.float64).tolist(), scores.tolist(),
                                                              labels.tolist(), flags.tolist()):
                bw, bh = x2 - x1, y2 - y1
                self._next_ann += 1
                ann = {"id": self._next_ann - 1, "image_id": number, "category_id": int(label),
                       "bbox": [round(x1, 3), round(y1, 3), round(bw, 3), round(bh, 3)],
                       "area": round(bw * bh, 3), "iscrowd": 0, "score": round(float(score), 6)}
                self._coco_anns.append({**ann, "interpolated": True} if filled else ann)
        self.ids.append(image_id)

    def split(self) -> tuple[list[str], list[str]]:
        """(train, val) frame ids: the last tenth (at least one frame) is val; source order keeps it apart in time."""
        n_val = max(1, len(self.ids) // 10)
        return (self.ids[:-n_val], self.ids[-n_val:]) if len(self.ids) > 1 else (self.ids, self.ids)

    def save(self) -> None:
        """The index files for the frames done so far, then ``pseudo_label.json`` (a readable dataset at every save)."""
        train, val = self.split()
        if self.ids and self.fmt == "voc":
            main = self.out / "ImageSets" / "Main"
            for name, ids in (("trainval", self.ids), ("train", train), ("val", val)):
                atomic_write(main / f"{name}.txt", "".join(f"{i}\n" for i in ids), "image set")
            atomic_write(self.out / "labels.txt", "".join(f"{n}\n" for n in self.class_names[1:]), "class list")
        elif self.ids and self.fmt == "yolo":
            for name, ids in (("train", train), ("val", val)):  # ./ : relative to the list's folder (Ultralytics)
                atomic_write(self.out / f"{name}.txt", "".join(f"./images/{i}.jpg\n" for i in ids), "image list")
            atomic_write(self.out / DATA_FILE, data_yaml_text(self.class_names, {"train": "train.txt",
                                                                                  "val": "val.txt"}, self.note),
                         "YOLO data file")
        elif self.ids:
            categories = [{"id": k, "name": n} for k, n in enumerate(self.class_names) if k > 0]
            write_json(self.out / "annotations.json", {
                "info": {"description": self.note, "pseudo_label": {k: self.state[k] for k in
                                                                    ("teacher", "score_thresh", "every")}},
                "images": self._coco_images, "annotations": self._coco_anns, "categories": categories},
                "annotation file", indent=None)
        write_json(self.out / STATE_FILE, dict(self.state, frames=len(self.ids)), "pseudo-label record", indent=2)


def pseudo_label_splits(path: str | Path) -> tuple[str, str] | None:
    """``("train", "val")`` when ``path`` is a pseudo-labelled VOC or YOLO folder (its ``pseudo_label.json``
    says so), the splits to train and validate on; else None."""
    p = Path(path).expanduser()
    if not (p / STATE_FILE).is_file():
        return None
    try:
        fmt = read_json_file(p / STATE_FILE, "pseudo-label record").get("settings", {}).get("format")
    except (ValueError, AttributeError):
        return None
    return ("train", "val") if fmt in ("voc", "yolo") else None


__all__ = ["PseudoLabelWriter", "voc_xml", "pseudo_label_splits", "STATE_FILE", "FORMATS", "JPEG_QUALITY"]
