"""YOLO (Ultralytics) datasets: ``data.yaml`` + ``images/`` + ``labels/`` -> DatasetIndex, and the lines
that write one (``ssd pseudo-label --format yolo``).

Layout (Ultralytics' detection format)::

    DIR/data.yaml            names (a list, or {index: name}), and per split (train, val, test) a folder
                             of images, a .txt list of image paths, or a list of those
    DIR/images/.../<id>.jpg  the images
    DIR/labels/.../<id>.txt  one line per object: ``class cx cy w h``, the class a 0-based index into
                             ``names``, the box centre and size normalised by the image's width and height

An image's label file is its path with the last ``images`` folder replaced by ``labels`` and the suffix
by ``.txt``; no label file (or an empty one) is an image without objects. Paths in ``data.yaml`` are
relative to ``path:`` when it is given (absolute, or relative to the YAML's folder), else to the YAML's
folder; lines of a ``.txt`` list that start with ``./`` are relative to the list's folder (as Ultralytics
reads them).

Labels: class ``k`` is this project's label ``k + 1`` (0 is the background); ``class_names =
("__background__", *names)``. Boxes: ``(cx - w/2) * W, (cy - h/2) * H, (cx + w/2) * W, (cy + h/2) * H`` in
continuous pixels of the image as it is displayed (EXIF rotation applied, as the image loader does).

Bad input policy (each warning names the file and line, and lands in ``DatasetIndex.warnings``):
    * no ``data.yaml``, YAML that is not a mapping, no ``names``, a split the file does not name, a split
      with no image, every record dropped -> ValueError;
    * an image missing or unreadable (its size is needed to read normalised boxes) -> record dropped;
    * a line without five numbers, a class outside ``names``, a non-finite or non-positive size, a box
      outside the image -> the object is dropped; a box overshooting the border by over 1 px is clipped.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.config import BACKGROUND
from core.data._checks import check_box, read_text_file
from core.types import DatasetIndex, ImageRecord

DATA_FILE = "data.yaml"
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: The split an evaluation reads when none is named: the held-out one that exists.
DEFAULT_SPLIT_ORDER: tuple[str, ...] = ("test", "val", "train")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def data_yaml_path(path: str | Path) -> Path:
    """The ``data.yaml`` of a YOLO dataset given as its folder or as the YAML file itself.

    Raises:
        ValueError: nothing there, or a folder without ``data.yaml`` (names it).
    """
    p = Path(path).expanduser()
    if p.is_dir():
        if not (p / DATA_FILE).is_file():
            raise ValueError(f"{p}: no {DATA_FILE} (a YOLO dataset folder holds data.yaml, images/ and labels/)")
        return p / DATA_FILE
    if not p.is_file():
        raise ValueError(f"{p}: YOLO dataset not found")
    return p


def read_data_yaml(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """``(yaml file, its mapping)`` of a YOLO dataset (folder or YAML file), parsed safely (no Python tags).

    Raises:
        ValueError: not YAML, not a mapping, or without ``names`` (names the file).
    """
    import yaml

    p = data_yaml_path(path)
    try:
        data = yaml.safe_load(read_text_file(p, "YOLO data file"))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        raise ValueError(f"{p}: malformed YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping with 'names' and the splits (train, val, test), got "
                         f"{type(data).__name__}")
    if "names" not in data:
        raise ValueError(f"{p}: no 'names' (the class names, a list or {{index: name}})")
    return p, data


def class_names_of(data: dict[str, Any], source: Path) -> tuple[str, ...]:
    """``("__background__", *names)`` from ``names`` (a list, or a mapping 0..K-1 -> name)."""
    names = data["names"]
    if isinstance(names, dict):
        keys = sorted(names, key=lambda k: int(k) if str(k).lstrip("-").isdigit() else -1)
        if [str(k) for k in keys] != [str(i) for i in range(len(keys))]:
            raise ValueError(f"{source}: 'names' must map 0..{len(keys) - 1} to class names, got keys {keys[:8]}")
        names = [names[k] for k in keys]
    if not isinstance(names, list) or not names or not all(isinstance(n, (str, int)) for n in names):
        raise ValueError(f"{source}: 'names' must be a non-empty list of class names, got {str(names)[:80]}")
    return (BACKGROUND, *(str(n) for n in names))


def yolo_splits(path: str | Path) -> tuple[str, ...]:
    """The splits a YOLO dataset names (``test``, ``val``, ``train`` first, in that order, then others)."""
    _, data = read_data_yaml(path)
    present = [k for k in DEFAULT_SPLIT_ORDER if data.get(k)]
    others = sorted(str(k) for k, v in data.items() if k not in SPLITS and k not in ("names", "nc", "path", "download")
                    and v and (isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))))
    return tuple(present + others)


def default_yolo_split(path: str | Path) -> str:
    """``test``, else ``val``, else ``train``: the first the dataset names.

    Raises:
        ValueError: it names none of them.
    """
    splits = [s for s in yolo_splits(path) if s in DEFAULT_SPLIT_ORDER]
    if not splits:
        raise ValueError(f"{data_yaml_path(path)}: names no split (train, val or test)")
    return splits[0]


def _root(yaml_file: Path, data: dict[str, Any]) -> Path:
    given = data.get("path")
    if not given:
        return yaml_file.parent
    p = Path(str(given)).expanduser()
    return p if p.is_absolute() else yaml_file.parent / p


def _images_of(entry: Any, root: Path, source: Path) -> list[Path]:
    """The image files one split entry names: a folder (searched recursively), a .txt list, or a list."""
    if isinstance(entry, list):
        return [f for item in entry for f in _images_of(item, root, source)]
    p = Path(str(entry)).expanduser()
    p = p if p.is_absolute() else root / p
    if p.is_dir():
        return sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    if p.suffix.lower() == ".txt" and p.is_file():
        files = []
        for line in read_text_file(p, "YOLO image list").splitlines():
            line = line.strip()
            if line:
                f = Path(line).expanduser()
                files.append(f if f.is_absolute() else (p.parent / f if line.startswith("./") else root / f))
        return files
    raise ValueError(f"{source}: split entry {entry!r} is neither a folder of images nor a .txt list ({p} not found)")


def yolo_image_count(path: str | Path) -> int:
    """How many distinct images the splits of a YOLO dataset name, all splits together."""
    yaml_file, data = read_data_yaml(path)
    root = _root(yaml_file, data)
    return len({f for split in yolo_splits(yaml_file) for f in _images_of(data[split], root, yaml_file)})


def label_path(image: Path) -> Path:
    """The label file of ``image``: the last ``images`` folder of its path replaced by ``labels``, suffix ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def image_size(file: Path) -> tuple[int, int]:
    """(width, height) of an image as displayed (EXIF rotations of 90 degrees swap them), from its header."""
    from PIL import Image

    with Image.open(file) as im:
        w, h = im.size
        orientation = im.getexif().get(0x0112, 1)
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _objects(lines: list[str], file: Path, w: int, h: int, nc: int, warnings: list[str]
             ) -> tuple[np.ndarray, np.ndarray]:
    """(boxes float32 [N, 4] x1, y1, x2, y2 px, labels int64 [N] 1-based) of one label file's lines."""
    boxes, labels = [], []
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        where = f"{file}:{n}"
        try:
            values = [float(v) for v in parts]
        except ValueError:
            warnings.append(f"{where}: not numbers: {line.strip()[:60]!r}; dropped")
            continue
        if len(values) != 5:
            warnings.append(f"{where}: {len(values)} values, expected 5 (class cx cy w h); dropped")
            continue
        k, cx, cy, bw, bh = values
        if not k.is_integer() or not 0 <= k < nc:
            warnings.append(f"{where}: class {parts[0]} is not one of 0..{nc - 1}; dropped")
            continue
        if not all(math.isfinite(v) for v in (cx, cy, bw, bh)) or bw <= 0 or bh <= 0:
            warnings.append(f"{where}: box ({', '.join(parts[1:])}) is not finite or has no size; dropped")
            continue
        box, problem = check_box((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h, w, h)
        if problem:
            warnings.append(f"{where}: {problem}" + ("" if box else "; dropped"))
        if box is not None:
            boxes.append(box)
            labels.append(int(k) + 1)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64)


def _record(file: Path, image_id: str, nc: int, warnings: list[str]) -> ImageRecord | None:
    try:
        w, h = image_size(file)
    except (OSError, ValueError) as exc:
        what = "not found" if not file.exists() else f"unreadable ({exc})"
        warnings.append(f"{file}: image {what}; its size is needed to read the normalised boxes: record dropped")
        return None
    lab = label_path(file)
    lines = read_text_file(lab, "YOLO label file").splitlines() if lab.is_file() else []
    boxes, labels = _objects(lines, lab, w, h, nc, warnings)
    return ImageRecord(image_id=image_id, file=file, width=w, height=h, boxes=boxes, labels=labels,
                       difficult=np.zeros(len(labels), bool))


def load_yolo(path: str | Path, split: str | None = None, *, check_images: bool = True) -> DatasetIndex:
    """Read one split of a YOLO dataset (module docstring).

    Args:
        path: the dataset folder (holding ``data.yaml``) or the YAML file.
        split: ``train``, ``val``, ``test`` or another key of ``data.yaml``; None: :func:`default_yolo_split`.
        check_images: the readers' common option; a YOLO image is always opened (its size turns the
            normalised boxes into pixels), so a missing one is always dropped with a warning.

    Returns:
        One record per image in the split's order; ``image_id`` the image's stem (its path under the
        dataset folder when two share a stem); boxes float32 [N, 4] x1, y1, x2, y2 in pixels.

    Raises:
        ValueError: see the module docstring.
    """
    yaml_file, data = read_data_yaml(path)
    class_names = class_names_of(data, yaml_file)
    split = split or default_yolo_split(yaml_file)
    if not data.get(split):
        raise ValueError(f"{yaml_file}: no split {split!r} (it names {', '.join(yolo_splits(yaml_file)) or 'none'})")
    root = _root(yaml_file, data)
    files = _images_of(data[split], root, yaml_file)
    if not files:
        raise ValueError(f"{yaml_file}: split {split!r} lists no image")
    stems: dict[str, int] = {}
    for f in files:
        stems[f.stem] = stems.get(f.stem, 0) + 1
    warnings: list[str] = []
    records = []
    for f in files:
        image_id = f.stem
        if stems[f.stem] > 1:  # a.jpg in two folders: the path under the root tells them apart
            image_id = str((f.relative_to(root) if f.is_relative_to(root) else f).with_suffix(""))
        rec = _record(f, image_id, len(class_names) - 1, warnings)
        if rec is not None:
            records.append(rec)
    if not records:
        raise ValueError(f"{yaml_file}: no usable image in split {split!r} ({len(warnings)} problems, first: "
                         f"{warnings[0] if warnings else 'none'})")
    return DatasetIndex(name=f"{yaml_file.parent.name} {split}", source=str(yaml_file), class_names=class_names,
                        records=records, warnings=warnings)


def yolo_lines(boxes: np.ndarray, labels: np.ndarray, width: int, height: int) -> str:
    """Label-file text of one image: boxes float [N, 4] x1, y1, x2, y2 px, labels [N] 1-based -> lines
    ``class cx cy w h`` (0-based class, six decimals of the normalised centre and size)."""
    out = []
    for (x1, y1, x2, y2), k in zip(np.asarray(boxes, np.float64).reshape(-1, 4).tolist(), np.asarray(labels).tolist()):
        out.append(f"{int(k) - 1} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
                   f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}\n")
    return "".join(out)


def data_yaml_text(class_names: Sequence[str], splits: dict[str, str], note: str = "") -> str:
    """``data.yaml`` for ``class_names`` (entry 0 the background, left out) and ``splits`` (name -> list file or
    folder, relative to the YAML's folder). No ``path:``: Ultralytics then takes the YAML's folder as the root."""
    import yaml

    body = {**splits, "nc": len(class_names) - 1, "names": {i: n for i, n in enumerate(class_names[1:])}}
    head = f"# {note}\n" if note else ""
    return head + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


__all__ = ["DATA_FILE", "DEFAULT_SPLIT_ORDER", "data_yaml_path", "data_yaml_text", "default_yolo_split",
           "image_size", "label_path", "load_yolo", "read_data_yaml", "yolo_image_count", "yolo_lines", "yolo_splits"]
