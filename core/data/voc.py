"""Pascal VOC reader: ``ImageSets/Main/<split>.txt`` + ``Annotations/<id>.xml`` -> DatasetIndex.

Layout accepted for each root:
    * a ``VOC20xx`` folder (it holds ``ImageSets/Main``), or
    * a ``VOCdevkit`` folder holding ``VOC2007``/``VOC2012``/... folders (all of them are read), or
    * a folder holding ``VOCdevkit`` itself.
Several roots join into one index (e.g. VOC07+12 trainval).

Class names: an explicit ``class_names`` wins. Otherwise a ``labels.txt`` (one class name per
line, as :func:`core.data.synthetic.write_dataset` writes it) found in a VOC20xx folder or its
parent gives the list; without one, the 20 Pascal classes (:data:`VOC_CLASSES`) are used.

Boxes: VOC stores 1-based inclusive pixel indices, converted to continuous pixels as
``(xmin - 1, ymin - 1, xmax, ymax)`` (see core/types.py). Difficult objects are kept with
their flag: the evaluation ignores them, the training loader drops them.

Bad input policy (each warning names its file and lands in ``DatasetIndex.warnings``):
    * missing, empty or non-UTF-8 split file, malformed XML, a ``<size>`` that is not a
      positive whole number of pixels (``inf``, ``nan``, ``-3``), an input that is not a
      regular file (a FIFO would hang), all records dropped -> ValueError;
    * annotation XML missing, image missing -> the record is dropped with a warning;
    * unknown class name, degenerate box or box outside the image -> the object is dropped
      with a warning; a box overshooting the border by more than 1 px is clipped with a warning.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence

import numpy as np

from core.config import BACKGROUND
from core.data._checks import check_box, check_input_file, read_text_file
from core.types import DatasetIndex, ImageRecord

VOC_CLASSES: tuple[str, ...] = (
    BACKGROUND,
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)

LABELS_FILE = "labels.txt"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")


def find_voc_roots(root: str | Path) -> list[Path]:
    """The ``VOC20xx``-style folders (those holding ``ImageSets/Main``) under one given root.

    Raises:
        ValueError: ``root`` does not exist or holds no VOC folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: VOC root folder does not exist")
    if (root / "ImageSets" / "Main").is_dir():
        return [root]
    for base in (root, root / "VOCdevkit"):
        if base.is_dir():
            found = sorted(p for p in base.iterdir() if (p / "ImageSets" / "Main").is_dir())
            if found:
                return found
    raise ValueError(f"{root}: no ImageSets/Main found (expected a VOC20xx folder or a VOCdevkit "
                     f"folder holding VOC2007/VOC2012)")


# The image set an evaluation reads when none is named: the held-out one that exists.
DEFAULT_SPLIT_ORDER: tuple[str, ...] = ("test", "val", "trainval")


def _split_names(voc_dir: Path) -> set[str]:
    """Image-set names in one ``ImageSets/Main``, without the devkit's per-class lists.

    VOC ships ``<class>_<split>.txt`` next to ``<split>.txt``; a stem ``a_b`` whose ``b`` is
    itself a split is such a per-class list.
    """
    stems = {p.stem for p in (voc_dir / "ImageSets" / "Main").glob("*.txt") if p.is_file()}
    return {s for s in stems if not ("_" in s and s.rsplit("_", 1)[1] in stems)}


def voc_splits(roots: Sequence[str | Path] | str | Path) -> tuple[str, ...]:
    """The image sets (``ImageSets/Main/<split>.txt``) that every given VOC root has.

    Args:
        roots: as for :func:`load_voc` (a ``VOC20xx`` or ``VOCdevkit`` folder, a list of them,
            or one string of comma-separated folders).

    Returns:
        Split names, the ones of :data:`DEFAULT_SPLIT_ORDER` first (in that order), then the
        others sorted; empty when the roots share none.

    Raises:
        ValueError: a root is not a VOC folder (see :func:`find_voc_roots`).
    """
    voc_dirs = [d for r in split_roots(roots) for d in find_voc_roots(r)]
    common = set.intersection(*(_split_names(d) for d in voc_dirs)) if voc_dirs else set()
    first = [s for s in DEFAULT_SPLIT_ORDER if s in common]
    return tuple(first + sorted(common - set(first)))


def default_voc_split(roots: Sequence[str | Path] | str | Path) -> str:
    """The split to evaluate on when none is named: ``test``, else ``val``, else ``trainval``,
    else the only one there is.

    Raises:
        ValueError: no split file, or several splits and none of those three (names them).
    """
    splits = voc_splits(roots)
    if splits and splits[0] in DEFAULT_SPLIT_ORDER:
        return splits[0]
    if len(splits) == 1:
        return splits[0]
    where = ", ".join(str(r) for r in split_roots(roots))
    if not splits:
        raise ValueError(f"{where}: no image set in ImageSets/Main (expected e.g. test.txt)")
    raise ValueError(f"{where}: none of {', '.join(DEFAULT_SPLIT_ORDER)} among the image sets "
                     f"{', '.join(splits)}; name one with the split")


def split_roots(roots: Sequence[str | Path] | str | Path) -> list[Path]:
    """One root, a list of roots, or one string of comma-separated roots -> a list of paths."""
    if isinstance(roots, Path):
        return [roots]
    if isinstance(roots, str):
        return [Path(r.strip()) for r in roots.split(",") if r.strip()]
    return [Path(r) for r in roots]


def voc_image_count(roots: Sequence[str | Path] | str | Path) -> int:
    """How many distinct images the image sets of the given VOC roots list, all splits together."""
    total = 0
    for d in (d for r in split_roots(roots) for d in find_voc_roots(r)):
        ids: set[str] = set()
        for name in _split_names(d):
            ids.update(read_text_file(d / "ImageSets" / "Main" / f"{name}.txt", "image set").split())
        total += len(ids)
    return total


def read_class_list(path: str | Path) -> tuple[str, ...]:
    """Read a class list (one name per line, blank lines and ``#`` comments ignored).

    ``"__background__"`` is prepended unless the file already starts with it.
    """
    path = Path(path)
    names = [ln.strip() for ln in read_text_file(path, "class list").splitlines()]
    names = [n for n in names if n and not n.startswith("#")]
    if not names:
        raise ValueError(f"{path}: class list is empty")
    if names[0] != BACKGROUND:
        names.insert(0, BACKGROUND)
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: class list has duplicate names {names}")
    return tuple(names)


def _default_class_names(voc_dirs: Sequence[Path]) -> tuple[str, ...]:
    lists: dict[Path, tuple[str, ...]] = {}
    for d in voc_dirs:
        for cand in (d / LABELS_FILE, d.parent / LABELS_FILE):
            if cand.is_file():
                lists[cand] = read_class_list(cand)
                break
    if not lists:
        return VOC_CLASSES
    distinct = set(lists.values())
    if len(distinct) > 1:
        raise ValueError("class lists disagree: " + "; ".join(f"{p}: {n[1:]}" for p, n in lists.items()))
    return distinct.pop()


def _text(elem: ET.Element, tag: str, xml_path: Path) -> str:
    child = elem.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise ValueError(f"{xml_path}: missing <{tag}> in <{elem.tag}>")
    return child.text.strip()


def _number(elem: ET.Element, tag: str, xml_path: Path) -> float:
    s = _text(elem, tag, xml_path)
    try:
        return float(s)
    except ValueError:
        raise ValueError(f"{xml_path}: <{tag}> is not a number: {s!r}") from None


def _side(size: ET.Element, tag: str, xml_path: Path) -> int:
    s = _text(size, tag, xml_path)
    try:
        v = float(s)
    except ValueError:
        v = float("nan")
    if not (math.isfinite(v) and v > 0 and v == int(v)):
        raise ValueError(f"{xml_path}: <size><{tag}> must be a positive whole number of pixels, got {s!r}")
    return int(v)


def _find_image(voc_dir: Path, image_id: str, filename: str | None) -> Path | None:
    images = voc_dir / "JPEGImages"
    if filename:
        p = images / filename
        if p.is_file():
            return p
    for suffix in _IMAGE_SUFFIXES:
        p = images / f"{image_id}{suffix}"
        if p.is_file():
            return p
    return None


def parse_voc_xml(xml_path: str | Path, class_to_label: dict[str, int], warnings: list[str]
                  ) -> tuple[int, int, str | None, np.ndarray, np.ndarray, np.ndarray]:
    """Parse one VOC annotation file.

    Args:
        xml_path: the ``Annotations/<id>.xml`` file.
        class_to_label: class name -> label (>= 1).
        warnings: problems that drop or clip one object are appended here.

    Returns:
        (width, height, filename, boxes float32 [N, 4] x1y1x2y2 continuous pixels,
        labels int64 [N], difficult bool [N]).

    Raises:
        ValueError: the XML is not well-formed or lacks ``<size>`` (names the file and line).
    """
    xml_path = check_input_file(xml_path, "annotation file")
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        line, col = exc.position
        raise ValueError(f"{xml_path}: not well-formed XML (line {line}, column {col})") from None
    size = root.find("size")
    if size is None:
        raise ValueError(f"{xml_path}: missing <size>")
    width, height = _side(size, "width", xml_path), _side(size, "height", xml_path)
    fn = root.find("filename")
    filename = fn.text.strip() if fn is not None and fn.text else None

    boxes: list[tuple[float, float, float, float]] = []
    labels: list[int] = []
    difficult: list[bool] = []
    for k, obj in enumerate(root.iter("object")):
        name = _text(obj, "name", xml_path)
        if name not in class_to_label:
            warnings.append(f"{xml_path}: object {k}: unknown class {name!r}; dropped")
            continue
        bb = obj.find("bndbox")
        if bb is None:
            warnings.append(f"{xml_path}: object {k} ({name}): no <bndbox>; dropped")
            continue
        try:
            xmin, ymin, xmax, ymax = (_number(bb, t, xml_path) for t in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError as exc:
            warnings.append(f"{exc}; object {k} dropped")
            continue
        box, problem = check_box(xmin - 1.0, ymin - 1.0, xmax, ymax, width, height)
        if problem:
            warnings.append(f"{xml_path}: object {k} ({name}): {problem}" + ("" if box else "; dropped"))
        if box is None:
            continue
        d = obj.find("difficult")
        boxes.append(box)
        labels.append(class_to_label[name])
        difficult.append(d is not None and (d.text or "0").strip() == "1")
    return (width, height, filename,
            np.asarray(boxes, np.float32).reshape(-1, 4),
            np.asarray(labels, np.int64),
            np.asarray(difficult, bool))


def _split_ids(voc_dir: Path, split: str) -> tuple[Path, list[str]]:
    """The split file of ``voc_dir`` and the image ids it lists; a ValueError naming it when it is
    missing (with the image sets there are) or empty."""
    split_file = voc_dir / "ImageSets" / "Main" / f"{split}.txt"
    if not split_file.exists():
        have = ", ".join(sorted(_split_names(voc_dir))) or "none"
        raise ValueError(f"{split_file}: split file not found (image sets there: {have})")
    ids = [ln.split()[0] for ln in read_text_file(split_file, "split file").splitlines() if ln.strip()]
    if not ids:
        raise ValueError(f"{split_file}: split file is empty")
    return split_file, ids


def load_voc(roots: Sequence[str | Path] | str | Path, split: str = "trainval",
             class_names: Sequence[str] | None = None, *, check_images: bool = True) -> DatasetIndex:
    """Read one or more Pascal VOC folders into a :class:`DatasetIndex`.

    Args:
        roots: a ``VOC20xx`` folder, a ``VOCdevkit`` folder, or a list of them (joined in order);
            a string may name several, comma-separated.
        split: the ``ImageSets/Main/<split>.txt`` list to read, e.g. "trainval" or "test".
        class_names: entry 0 must be ``"__background__"``; default: a ``labels.txt`` next to the
            data, else :data:`VOC_CLASSES` (see module docstring).
        check_images: drop (with a warning) records whose image file is missing. Pass False to
            evaluate against annotations alone; ``file`` then falls back to ``JPEGImages/<id>.jpg``.

    Returns:
        Records in split-file order; boxes float32 [N, 4] x1y1x2y2 continuous pixels, all
        objects including difficult ones (``difficult`` flags them).

    Raises:
        ValueError: missing/empty split file, malformed XML, or no record left.
    """
    root_list = split_roots(roots)
    if not root_list:
        raise ValueError("load_voc: no root folder given")
    voc_dirs = [d for r in root_list for d in find_voc_roots(r)]
    names = tuple(class_names) if class_names is not None else _default_class_names(voc_dirs)
    if not names or names[0] != BACKGROUND:
        raise ValueError(f"class_names must start with {BACKGROUND!r}, got {names[:3]}...")
    class_to_label = {n: i for i, n in enumerate(names) if i > 0}

    records: list[ImageRecord] = []
    warnings: list[str] = []
    for voc_dir in voc_dirs:
        split_file, ids = _split_ids(voc_dir, split)
        for image_id in ids:
            xml_path = voc_dir / "Annotations" / f"{image_id}.xml"
            if not xml_path.exists():
                warnings.append(f"{xml_path}: annotation file missing (listed in {split_file}); image dropped")
                continue
            w, h, filename, boxes, labels, difficult = parse_voc_xml(xml_path, class_to_label, warnings)
            image = _find_image(voc_dir, image_id, filename)
            if image is None:
                if check_images:
                    warnings.append(f"{xml_path}: image {voc_dir / 'JPEGImages' / (image_id + '.jpg')} "
                                    f"not found; record dropped")
                    continue
                image = voc_dir / "JPEGImages" / f"{image_id}.jpg"
            records.append(ImageRecord(image_id=image_id, file=image, width=w, height=h, boxes=boxes,
                                       labels=labels, difficult=difficult,
                                       iscrowd=np.zeros(len(labels), bool)))
    source = ", ".join(str(d) for d in voc_dirs)
    if not records:
        raise ValueError(f"{source}: no usable image in split {split!r} "
                         f"({len(warnings)} problems, first: {warnings[0] if warnings else 'none'})")
    name = " + ".join(f"{d.name} {split}" for d in voc_dirs)
    return DatasetIndex(name=name, source=source, class_names=names, records=records, warnings=warnings)
