"""Reading detection files for evaluation.

Formats understood by :func:`read_detections`:

* a COCO results JSON: ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...]``.
  Against a COCO ground truth the ids are the annotation file's; against a VOC folder
  ``image_id`` is the file stem and ``category_id`` the 1-based index into the dataset's
  class list (background excluded), i.e. the dataset label.
* the devkit's per-class files ``comp4_det_<split>_<class>.txt`` (a folder of them, or one
  file): lines ``<image id> <score> <xmin> <ymin> <xmax> <ymax>`` in VOC's 1-based inclusive
  pixels, converted to continuous pixels as ``(xmin - 1, ymin - 1, xmax, ymax)``.
* the JSON written by ``ssd detect`` (``{"class_names", "images": [{"file", "detections"}]}``),
  matched to the dataset by image file name (entries of a video, by video file name and ``frame``).

Every format is treated alike: each entry is one more detection, so an image that a file
lists twice (or a detection repeated exactly) keeps all its entries, and the repeats count as
false positives, as they do in COCO results and comp4 files; a warning says how many there
were. Scores outside [0, 1] are kept and warned about (a softmax confidence lies in [0, 1]).

Errors (``ValueError``, naming the file and the entry or field): not a regular file (a FIFO,
``/dev/zero``) or larger than :data:`~core.data._checks.MAX_TEXT_BYTES`, not UTF-8, malformed
JSON, an entry of the wrong type, a box that is not four numbers, a score that is not a number,
a NaN, a negative width, an empty file. Detections of unknown classes or images are dropped
and counted in the warnings (see :func:`core.evaluation.evaluate.prepare_detections`).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.data._checks import check_input_file, read_json_file, read_text_file
from core.types import DatasetIndex, Detections

Rows = dict[Any, list[tuple[list[float], float, int]]]


def _stack(rows: list[tuple[list[float], float, int]]) -> Detections:
    return Detections(np.array([r[0] for r in rows], np.float64).reshape(-1, 4),
                      np.array([r[1] for r in rows], np.float64), np.array([r[2] for r in rows], np.int64))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _numbers(values: Any, n: int) -> list[float] | None:
    if not isinstance(values, (list, tuple)) or len(values) != n or not all(_is_number(v) for v in values):
        return None
    return [float(v) for v in values]


def _image_key(gt: DatasetIndex, raw: Any) -> Any:
    """An image id from a file, in the dataset's own type (VOC: str stem; COCO: int)."""
    if gt.records and isinstance(gt.records[0].image_id, str):
        return str(raw)
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw)
    return raw


def _score(value: Any, where: str) -> float:
    if not _is_number(value):
        raise ValueError(f"{where}: score must be a number, got {value!r:.40}")
    return float(value)


def read_coco_results(path: str | Path, gt: DatasetIndex) -> tuple[dict[Any, Detections], list[str]]:
    """A COCO results JSON -> ``{image_id: Detections}`` with dataset labels, and warnings."""
    p = Path(path)
    rows, warnings = _coco_results(read_json_file(p, "detections file"), p, gt)
    return _finish(rows, p, warnings)


def _coco_results(data: Any, p: Path, gt: DatasetIndex) -> tuple[Rows, list[str]]:
    if not isinstance(data, list):
        raise ValueError(f"{p}: a COCO results file is a JSON list of detections, got {type(data).__name__}")
    if not data:  # a model that finds nothing is a result: AP 0, said in a warning
        return {}, [no_detections_warning(p)]
    if gt.category_ids is not None:
        cat_to_label = {int(c): l for l, c in enumerate(gt.category_ids) if l > 0}
    else:  # VOC: category_id is the 1-based index into the class list, i.e. the label
        cat_to_label = {l: l for l in range(1, len(gt.class_names))}
    rows: Rows = {}
    unknown: dict[Any, int] = {}
    for i, e in enumerate(data):
        where = f"{p}: entry {i}"
        if not isinstance(e, dict) or not all(k in e for k in ("image_id", "category_id", "bbox", "score")):
            raise ValueError(f"{where} must have image_id, category_id, bbox and score, got {e!r:.120}")
        bbox = _numbers(e["bbox"], 4)
        if bbox is None:
            raise ValueError(f"{where}: bbox must be four numbers [x, y, w, h], got {e['bbox']!r:.80}")
        score = _score(e["score"], where)
        if not math.isfinite(score) or not all(math.isfinite(v) for v in bbox):
            raise ValueError(f"{where} has a non-finite score or box (score {score}, bbox {bbox})")
        if bbox[2] < 0 or bbox[3] < 0:
            raise ValueError(f"{where} has a negative width or height (bbox [x, y, w, h] = {bbox})")
        if not isinstance(e["image_id"], (int, str)) or isinstance(e["image_id"], bool):
            raise ValueError(f"{where}: image_id must be an integer or a string, got {e['image_id']!r:.40}")
        cat = e["category_id"]
        label = cat_to_label.get(int(cat)) if _is_number(cat) and float(cat).is_integer() else None
        if label is None:
            unknown[repr(cat)] = unknown.get(repr(cat), 0) + 1
            continue
        x, y, w, h = bbox
        rows.setdefault(_image_key(gt, e["image_id"]), []).append(([x, y, x + w, y + h], score, label))
    warnings = []
    if unknown:
        warnings.append(f"{p}: {sum(unknown.values())} detection(s) with category_id(s) unknown to {gt.source} "
                        f"were ignored: {', '.join(sorted(unknown)[:5])}")
    if not rows:
        raise ValueError(f"{p}: none of the {len(data)} detections has a category of {gt.source}; " + " ".join(warnings))
    return rows, warnings


def _class_of_file(name: str, class_names: Sequence[str]) -> str | None:
    stem = name[:-4] if name.lower().endswith(".txt") else name
    hits = [c for c in class_names[1:] if stem.endswith("_" + c)]
    return max(hits, key=len) if hits else None


def _comp4_line(f: Path, n: int, parts: list[str]) -> tuple[list[float], float]:
    """One devkit line -> (box x1, y1, x2, y2 in continuous pixels, score)."""
    if len(parts) != 6:
        raise ValueError(f"{f}:{n}: expected '<image id> <score> <xmin> <ymin> <xmax> <ymax>', got {' '.join(parts)!r}")
    try:
        score, x1, y1, x2, y2 = (float(v) for v in parts[1:])
    except ValueError:
        raise ValueError(f"{f}:{n}: non-numeric value in {' '.join(parts)!r}") from None
    if not all(math.isfinite(v) for v in (score, x1, y1, x2, y2)):
        raise ValueError(f"{f}:{n}: non-finite score or box in {' '.join(parts)!r}")
    box = [x1 - 1.0, y1 - 1.0, x2, y2]
    if box[2] < box[0] or box[3] < box[1]:
        raise ValueError(f"{f}:{n}: box has a negative width or height (xmin {x1:g}, ymin {y1:g}, xmax {x2:g}, "
                         f"ymax {y2:g})")
    return box, score


def read_comp4_files(path: str | Path, gt: DatasetIndex) -> tuple[dict[Any, Detections], list[str]]:
    """The devkit's ``comp4_det_<split>_<class>.txt`` files (a folder, or one file).

    Boxes in the files are 1-based inclusive pixels; they become continuous pixels
    ``(xmin - 1, ymin - 1, xmax, ymax)``.
    """
    p = Path(path)
    files = sorted(p.glob("*_det_*.txt")) if p.is_dir() else [check_input_file(p, "detections file")]
    if not files:
        raise ValueError(f"{p}: no per-class detection files (*_det_<split>_<class>.txt) in this folder")
    label_of = {n: l for l, n in enumerate(gt.class_names) if l > 0}
    rows: Rows = {}
    warnings, unknown_files, empty_files = [], [], []
    total = 0
    for f in files:
        cls = _class_of_file(f.name, gt.class_names)
        text = read_text_file(f, "detections file")
        lines = [(n, ln.split()) for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]
        if cls is None:
            unknown_files.append(f"{f.name} ({len(lines)} detections)")
            continue
        if not lines:
            empty_files.append(f.name)
            continue
        for n, parts in lines:
            box, score = _comp4_line(f, n, parts)
            rows.setdefault(_image_key(gt, parts[0]), []).append((box, score, label_of[cls]))
            total += 1
    if unknown_files:
        warnings.append(f"{p}: {len(unknown_files)} file(s) name no class of {gt.source} and were ignored: "
                        f"{', '.join(unknown_files[:5])}")
    if empty_files:
        warnings.append(f"{p}: {len(empty_files)} class file(s) hold no detections: {', '.join(empty_files[:5])}")
    if total == 0:
        warnings.append(no_detections_warning(p))
    return _finish(rows, p, warnings)


def _detect_entry(entry: Any, i: int, p: Path) -> tuple[str, list[tuple[list[float], float, int]]]:
    """One ``images[i]`` of an ``ssd detect`` JSON -> (file, rows)."""
    where = f"{p}: images[{i}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object with 'file' and 'detections', got {type(entry).__name__} "
                         f"{entry!r:.60}")
    file, dets = entry.get("file"), entry.get("detections", [])
    if not isinstance(file, str) or not file:
        raise ValueError(f"{where}.file must be the image's file name, got {file!r:.60}")
    if not isinstance(dets, list):
        raise ValueError(f"{where}.detections must be a list, got {type(dets).__name__}")
    rows = []
    for j, d in enumerate(dets):
        at = f"{where}.detections[{j}]"
        if not isinstance(d, dict) or not all(k in d for k in ("box", "score", "label")):
            raise ValueError(f"{at} needs box [x1, y1, x2, y2], score and label, got {d!r:.80}")
        box = _numbers(d["box"], 4)
        if box is None:
            raise ValueError(f"{at}.box must be four numbers [x1, y1, x2, y2], got {d['box']!r:.80}")
        label = d["label"]
        if not _is_number(label) or not float(label).is_integer():
            raise ValueError(f"{at}.label must be a whole number, got {label!r:.40}")
        rows.append((box, _score(d["score"], at), int(label)))
    return file, rows


def _ssd_detect_json(data: dict, p: Path, gt: DatasetIndex) -> tuple[Rows, list[str], tuple[str, ...]]:
    names, images = data.get("class_names"), data.get("images")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{p}: 'class_names' must be a list of names (the JSON of ssd detect)")
    if not isinstance(images, list):
        raise ValueError(f"{p}: 'images' must be a list (the JSON of ssd detect), got {type(images).__name__}")
    by_name = {}
    for r in gt.records:
        by_name.setdefault(Path(r.file).name, r.image_id)
        by_name.setdefault(str(r.image_id), r.image_id)
    out: Rows = {}
    listed: dict[Any, int] = {}
    total = 0
    for i, entry in enumerate(images):
        file, rows = _detect_entry(entry, i, p)
        f = Path(file)
        # a video's frames: records named videoframe:<video>#<frame> (core.data.frames) have the name "<video>#<frame>"
        frame = entry.get("frame")
        image_id = by_name.get(f"{f.name}#{frame}") if isinstance(frame, int) else None
        if image_id is None:
            image_id = by_name.get(f.name, by_name.get(f.stem))
        if image_id is None:
            image_id = f"<{f.name}>"  # counted as an unknown image by evaluate()
        else:
            listed[image_id] = listed.get(image_id, 0) + 1
        out.setdefault(image_id, []).extend(rows)
        total += len(rows)
    twice = {k: n for k, n in listed.items() if n > 1}
    warnings = [_partial_warning(data, p)] if data.get("partial") is True else []
    if total == 0:
        warnings.append(no_detections_warning(p))
    if twice:
        shown = ", ".join(f"{k!r} ({n}x)" for k, n in list(twice.items())[:5])
        warnings.append(f"{p}: {len(twice)} image(s) listed more than once; every entry is kept, so repeated "
                        f"detections count as false positives: {shown}")
    return out, warnings, tuple(names)


def no_detections_warning(p: Path) -> str:
    """What a detections file without a single detection means for the figures."""
    return (f"{p}: the detections file holds no detections: every object counts as missed, so every AP is 0 (a "
            f"model that finds nothing above its threshold, or a file for other images?)")


def _partial_warning(data: dict, p: Path) -> str:
    """What a detections file marked ``"partial": true`` (a stopped, interrupted or crashed ``ssd detect``)
    means for the figures: the frames it never reached have no detections, so their objects count as missed."""
    done, total = data.get("frames_done"), data.get("frames_total")
    how_far = (f" after {done} of {total} frames" if isinstance(done, int) and isinstance(total, int)
               else f" after {done} frames" if isinstance(done, int) else "")
    return (f"{p}: this detections file is partial (\"partial\": true): ssd detect stopped{how_far}; the "
            f"objects of the images it never reached count as missed, so recall and AP are lower than the "
            f"model's. Run ssd detect to the end for a full evaluation")


def _finish(rows: Rows, p: Path, warnings: list[str]) -> tuple[dict[Any, Detections], list[str]]:
    """Stack the rows and add the warnings every format shares (repeats, scores outside [0, 1])."""
    dets = {k: _stack(v) for k, v in rows.items()}
    repeats = 0
    low, high, outside = math.inf, -math.inf, 0
    for d in dets.values():
        if len(d) > 1:
            key = np.concatenate([d.boxes, d.scores[:, None], d.labels[:, None].astype(np.float64)], axis=1)
            repeats += len(d) - np.unique(key, axis=0).shape[0]
        bad = (d.scores < 0) | (d.scores > 1)
        if bad.any():
            outside += int(bad.sum())
            low, high = min(low, float(d.scores[bad].min())), max(high, float(d.scores[bad].max()))
    warnings = list(warnings)
    if repeats:
        warnings.append(f"{p}: {repeats} detection(s) repeat another exactly (same image, class, box and score); "
                        f"each is kept and counts, so the repeats are false positives")
    if outside:
        warnings.append(f"{p}: {outside} score(s) outside [0, 1] (from {low:g} to {high:g}); kept as given, "
                        f"but a detector's confidence lies in [0, 1]: is this file's score another quantity?")
    return dets, warnings


def source_warning(data: dict, p: Path, images: str | Path) -> str | None:
    """A warning when an ``ssd detect`` JSON's ``source`` is another file than ``images``, the footage it is
    matched with frame by frame (by file name and frame number): two videos of one name (``GOPR0001.MP4``)
    would otherwise be compared as one. A file is the same when its content is (a copy or a move is fine)."""
    from core.data.source_ids import same_source, source_fingerprint

    made_on = data.get("source")
    if not isinstance(made_on, str) or not made_on:
        return None
    try:
        theirs, ours = source_fingerprint(made_on), source_fingerprint(images)
    except ValueError:  # the detections' footage is gone: only its name is left to compare
        return None if Path(made_on).name == Path(images).name else (
            f"{p}: these detections were made on {made_on}, not on {images}: frames are matched by name and number, "
            f"so check that they are the same footage")
    if same_source(theirs, ours):
        return None
    return (f"{p}: these detections were made on {made_on}, not on {images} (another file: other size or content); "
            f"frames are matched by name and number, so the figures compare two different pieces of footage")


def read_detections(path: str | Path, gt: DatasetIndex, images: str | Path | None = None
                    ) -> tuple[dict[Any, Detections], list[str], tuple[str, ...] | None]:
    """Any supported detections file (see module docstring).

    ``images``: the footage ``gt`` comes from (a reference model's video, image folder or image); an
    ``ssd detect`` JSON made on another file gets a warning (:func:`source_warning`).

    Returns:
        (detections, warnings, class_names): ``{image_id: Detections}``; ``class_names`` is
        None when the labels are already dataset labels, else the names they index (pass it to
        :func:`core.evaluation.evaluate` as ``detector_class_names``).

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: see the module docstring.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: detections not found")
    if p.is_dir() or p.suffix.lower() == ".txt":
        dets, warnings = read_comp4_files(p, gt)
        return dets, warnings, None
    data = read_json_file(p, "detections file")
    if isinstance(data, dict) and "images" in data and "class_names" in data:
        rows, warnings, names = _ssd_detect_json(data, p, gt)
        other = source_warning(data, p, images) if images is not None else None
        dets, warnings = _finish(rows, p, warnings + ([other] if other else []))
        return dets, warnings, names
    rows, warnings = _coco_results(data, p, gt)
    dets, warnings = _finish(rows, p, warnings)
    return dets, warnings, None


__all__ = ["read_detections", "read_coco_results", "read_comp4_files"]
