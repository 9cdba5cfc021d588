"""Reading ground truth and detection files; writing metrics.json, PR-point CSVs and PR plots.

Detection files understood by :func:`read_detections`:

* a COCO results JSON: ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...]``.
  Against a COCO ground truth the ids are the annotation file's; against a VOC folder
  ``image_id`` is the file stem and ``category_id`` the 1-based index into the dataset's
  class list (background excluded), i.e. the dataset label.
* the devkit's per-class files ``comp4_det_<split>_<class>.txt`` (a folder of them, or one
  file): lines ``<image id> <score> <xmin> <ymin> <xmax> <ymax>`` in VOC's 1-based inclusive
  pixels, converted to continuous pixels as ``(xmin - 1, ymin - 1, xmax, ymax)``.
* the JSON written by ``ssd detect`` (``{"class_names", "images": [{"file", "detections"}]}``),
  matched to the dataset by image file name.

Problems are handled as in :mod:`core.evaluation.evaluate`: a malformed entry, a NaN score
or a negative width is a ``ValueError`` naming the file and the entry; an empty detections
file is an error; detections of unknown classes are dropped and counted in the warnings.
"""
from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from core.evaluation.evaluate import EvaluationResult
from core.types import DatasetIndex, Detections


def load_ground_truth(path: str | Path, split: str = "test", check_images: bool = False) -> DatasetIndex:
    """A COCO annotation JSON (file) or a VOC folder, through the data readers.

    Args:
        path: ``*.json`` -> :func:`core.data.coco.load_coco`; a folder -> :func:`core.data.voc.load_voc`.
        split: VOC ``ImageSets/Main/<split>.txt``.
        check_images: drop records whose image file is missing (needed to run a model).
    """
    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".json":
        from core.data.coco import load_coco

        return load_coco(p, check_images=check_images)
    if p.is_dir():
        from core.data.voc import load_voc

        return load_voc(p, split=split, check_images=check_images)
    if not p.exists():
        raise FileNotFoundError(f"{p}: ground truth not found")
    raise ValueError(f"{p}: ground truth must be a COCO annotation .json file or a VOC folder")


def _stack(rows: list[tuple[list[float], float, int]]) -> Detections:
    return Detections(np.array([r[0] for r in rows], np.float64).reshape(-1, 4),
                      np.array([r[1] for r in rows], np.float64), np.array([r[2] for r in rows], np.int64))


def _numbers(values: Any, n: int) -> list[float] | None:
    if not isinstance(values, (list, tuple)) or len(values) != n:
        return None
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        return None


def _image_key(gt: DatasetIndex, raw: Any) -> Any:
    """An image id from a file, in the dataset's own type (VOC: str stem; COCO: int)."""
    if gt.records and isinstance(gt.records[0].image_id, str):
        return str(raw)
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw)
    return raw


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc


def read_coco_results(path: str | Path, gt: DatasetIndex) -> tuple[dict[Any, Detections], list[str]]:
    """A COCO results JSON -> ``{image_id: Detections}`` with dataset labels, and warnings."""
    p = Path(path)
    data = _read_json(p)
    return _coco_results(data, p, gt)


def _coco_results(data: Any, p: Path, gt: DatasetIndex) -> tuple[dict[Any, Detections], list[str]]:
    if not isinstance(data, list):
        raise ValueError(f"{p}: a COCO results file is a JSON list of detections, got {type(data).__name__}")
    if not data:
        raise ValueError(f"{p}: the detections file is empty (no detections)")
    if gt.category_ids is not None:
        cat_to_label = {int(c): l for l, c in enumerate(gt.category_ids) if l > 0}
    else:  # VOC: category_id is the 1-based index into the class list, i.e. the label
        cat_to_label = {l: l for l in range(1, len(gt.class_names))}
    rows: dict[Any, list] = {}
    unknown: dict[Any, int] = {}
    for i, e in enumerate(data):
        if not isinstance(e, dict) or not all(k in e for k in ("image_id", "category_id", "bbox", "score")):
            raise ValueError(f"{p}: entry {i} must have image_id, category_id, bbox and score, got {e!r:.120}")
        bbox = _numbers(e["bbox"], 4)
        if bbox is None:
            raise ValueError(f"{p}: entry {i} has bbox {e['bbox']!r}, expected [x, y, w, h]")
        try:
            score = float(e["score"])
        except (TypeError, ValueError):
            raise ValueError(f"{p}: entry {i} has a non-numeric score {e['score']!r}") from None
        if not math.isfinite(score) or not all(math.isfinite(v) for v in bbox):
            raise ValueError(f"{p}: entry {i} has a non-finite score or box (score {score}, bbox {bbox})")
        if bbox[2] < 0 or bbox[3] < 0:
            raise ValueError(f"{p}: entry {i} has a negative width or height (bbox [x, y, w, h] = {bbox})")
        cat = e["category_id"]
        label = cat_to_label.get(int(cat)) if isinstance(cat, (int, float)) and float(cat).is_integer() else None
        if label is None:
            unknown[cat] = unknown.get(cat, 0) + 1
            continue
        x, y, w, h = bbox
        rows.setdefault(_image_key(gt, e["image_id"]), []).append(([x, y, x + w, y + h], score, label))
    warnings = []
    if unknown:
        warnings.append(f"{p}: {sum(unknown.values())} detection(s) with category_id(s) unknown to {gt.source} "
                        f"were ignored: {sorted(unknown, key=str)[:5]}")
    if not rows:
        raise ValueError(f"{p}: none of the {len(data)} detections has a category of {gt.source}; " + " ".join(warnings))
    return {k: _stack(v) for k, v in rows.items()}, warnings


def _class_of_file(name: str, class_names: Sequence[str]) -> str | None:
    stem = name[:-4] if name.lower().endswith(".txt") else name
    hits = [c for c in class_names[1:] if stem.endswith("_" + c)]
    return max(hits, key=len) if hits else None


def read_comp4_files(path: str | Path, gt: DatasetIndex) -> tuple[dict[Any, Detections], list[str]]:
    """The devkit's ``comp4_det_<split>_<class>.txt`` files (a folder, or one file).

    Boxes in the files are 1-based inclusive pixels; they become continuous pixels
    ``(xmin - 1, ymin - 1, xmax, ymax)``.
    """
    p = Path(path)
    files = sorted(p.glob("*_det_*.txt")) if p.is_dir() else [p]
    if not files:
        raise ValueError(f"{p}: no per-class detection files (*_det_<split>_<class>.txt) in this folder")
    label_of = {n: l for l, n in enumerate(gt.class_names) if l > 0}
    rows: dict[Any, list] = {}
    warnings, unknown_files, empty_files = [], [], []
    total = 0
    for f in files:
        cls = _class_of_file(f.name, gt.class_names)
        lines = [(n, ln.split()) for n, ln in enumerate(f.read_text().splitlines(), 1) if ln.strip()]
        if cls is None:
            unknown_files.append(f"{f.name} ({len(lines)} detections)")
            continue
        if not lines:
            empty_files.append(f.name)
            continue
        for n, parts in lines:
            if len(parts) != 6:
                raise ValueError(f"{f}:{n}: expected '<image id> <score> <xmin> <ymin> <xmax> <ymax>', "
                                 f"got {' '.join(parts)!r}")
            try:
                score, x1, y1, x2, y2 = (float(v) for v in parts[1:])
            except ValueError:
                raise ValueError(f"{f}:{n}: non-numeric value in {' '.join(parts)!r}") from None
            if not all(math.isfinite(v) for v in (score, x1, y1, x2, y2)):
                raise ValueError(f"{f}:{n}: non-finite score or box in {' '.join(parts)!r}")
            box = [x1 - 1.0, y1 - 1.0, x2, y2]
            if box[2] < box[0] or box[3] < box[1]:
                raise ValueError(f"{f}:{n}: box has a negative width or height "
                                 f"(xmin {x1:g}, ymin {y1:g}, xmax {x2:g}, ymax {y2:g})")
            rows.setdefault(_image_key(gt, parts[0]), []).append((box, score, label_of[cls]))
            total += 1
    if unknown_files:
        warnings.append(f"{p}: {len(unknown_files)} file(s) name no class of {gt.source} and were ignored: "
                        f"{', '.join(unknown_files[:5])}")
    if empty_files:
        warnings.append(f"{p}: {len(empty_files)} class file(s) hold no detections: {', '.join(empty_files[:5])}")
    if total == 0:
        raise ValueError(f"{p}: the detection files hold no detections of any class of {gt.source}"
                         + ("; " + " ".join(warnings) if warnings else ""))
    return {k: _stack(v) for k, v in rows.items()}, warnings


def _ssd_detect_json(data: dict, p: Path, gt: DatasetIndex) -> tuple[dict[Any, Detections], list[str], tuple[str, ...]]:
    names = data.get("class_names")
    images = data.get("images")
    if not isinstance(names, list) or not isinstance(images, list):
        raise ValueError(f"{p}: expected 'class_names' and 'images' lists (the JSON of ssd detect)")
    by_name = {}
    for r in gt.records:
        by_name.setdefault(Path(r.file).name, r.image_id)
        by_name.setdefault(str(r.image_id), r.image_id)
    out: dict[Any, Detections] = {}
    unknown_files = []
    total = 0
    for i, entry in enumerate(images):
        f = Path(str(entry.get("file", "")))
        image_id = by_name.get(f.name, by_name.get(f.stem))
        dets = entry.get("detections", [])
        total += len(dets)
        if image_id is None:
            unknown_files.append(f.name)
            image_id = f"<{f.name}>"  # counted as an unknown image by evaluate()
        rows = []
        for j, d in enumerate(dets):
            box = _numbers(d.get("box"), 4)
            if box is None or "score" not in d or "label" not in d:
                raise ValueError(f"{p}: images[{i}].detections[{j}] needs box [x1, y1, x2, y2], score and label")
            rows.append((box, float(d["score"]), int(d["label"])))
        out[image_id] = _stack(rows)
    if total == 0:
        raise ValueError(f"{p}: the detections file holds no detections")
    return out, [], tuple(str(n) for n in names)


def read_detections(path: str | Path, gt: DatasetIndex
                    ) -> tuple[dict[Any, Detections], list[str], tuple[str, ...] | None]:
    """Any supported detections file (see module docstring).

    Returns:
        (detections, warnings, class_names): ``{image_id: Detections}``; ``class_names`` is
        None when the labels are already dataset labels, else the names they index (pass it to
        :func:`core.evaluation.evaluate` as ``detector_class_names``).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: detections not found")
    if p.is_dir() or p.suffix.lower() == ".txt":
        dets, warnings = read_comp4_files(p, gt)
        return dets, warnings, None
    data = _read_json(p)
    if isinstance(data, dict) and "images" in data and "class_names" in data:
        return _ssd_detect_json(data, p, gt)
    dets, warnings = _coco_results(data, p, gt)
    return dets, warnings, None


# ----------------------------------------------------------------------------------- writing

def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "class"


def write_metrics_json(path: str | Path, metrics: dict[str, Any]) -> Path:
    """``metrics.json`` (see :meth:`EvaluationResult.metrics_dict`)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(metrics, indent=2, allow_nan=False))
    return p


PR_CSV_COLUMNS: tuple[str, ...] = ("rank", "confidence", "image_id", "tp", "cum_tp", "cum_fp", "precision",
                                   "recall", "f1")


def write_pr_csvs(out_dir: str | Path, result: EvaluationResult) -> list[Path]:
    """One ``pr_<class>.csv`` per class: the raw PR point of every counted detection.

    Columns :data:`PR_CSV_COLUMNS`; row ``rank`` (1-based) is the state after accepting the
    ``rank`` highest-scored detections. Detections on difficult objects are not listed
    (the devkit counts them neither as TP nor FP). Recall is empty for a class without objects.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    ids = result.match.image_ids
    for label in range(1, len(result.class_names)):
        c = result.pr_curve(label)
        path = out / f"pr_{_safe_name(c.name)}.csv"
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(PR_CSV_COLUMNS)
            for k in range(c.confidence.shape[0]):
                rec = "" if np.isnan(c.recall[k]) else repr(float(c.recall[k]))
                f1 = "" if np.isnan(c.f1[k]) else repr(float(c.f1[k]))
                w.writerow([k + 1, repr(float(c.confidence[k])), ids[c.image_index[k]], int(c.is_tp[k]),
                            int(c.cum_tp[k]), int(c.cum_fp[k]), repr(float(c.precision[k])), rec, f1])
        paths.append(path)
    return paths


def draw_pr_curve(recall: np.ndarray, precision: np.ndarray, title: str, size: tuple[int, int] = (480, 400)
                  ) -> np.ndarray:
    """A PR plot as an image: uint8 [H, W, 3] BGR (OpenCV, no plotting library needed).

    Args:
        recall, precision: float [N] raw points; the monotone envelope the VOC AP integrates
            is drawn too.
        title: text on top.
    """
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    left, right, top, bottom = 50, w - 15, 35, h - 40
    font = cv2.FONT_HERSHEY_SIMPLEX

    def pt(r: float, p: float) -> tuple[int, int]:
        return int(round(left + r * (right - left))), int(round(bottom - p * (bottom - top)))

    for v in np.linspace(0, 1, 6):
        cv2.line(img, pt(v, 0), pt(v, 1), (225, 225, 225), 1)
        cv2.line(img, pt(0, v), pt(1, v), (225, 225, 225), 1)
        cv2.putText(img, f"{v:.1f}", (pt(v, 0)[0] - 10, bottom + 16), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
        cv2.putText(img, f"{v:.1f}", (left - 32, pt(0, v)[1] + 4), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.rectangle(img, pt(0, 1), pt(1, 0), (0, 0, 0), 1)
    cv2.putText(img, "recall", ((left + right) // 2 - 20, h - 8), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "precision", (4, top - 12), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, title, (left + 60, 20), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    r = np.nan_to_num(np.asarray(recall, np.float64))
    p = np.nan_to_num(np.asarray(precision, np.float64))
    if r.size:
        env = np.maximum.accumulate(p[::-1])[::-1]
        # the envelope as steps, as the VOC2010+ AP integrates it
        steps = [pt(0.0, env[0])]
        for k in range(r.size):
            steps.append(pt(r[k], env[k]))
            if k + 1 < r.size:
                steps.append(pt(r[k], env[k + 1]))
        cv2.polylines(img, [np.array(steps, np.int32)], False, (80, 160, 255), 2, cv2.LINE_AA)
        raw = np.array([pt(a, b) for a, b in zip(r, p)], np.int32)
        cv2.polylines(img, [raw], False, (180, 60, 0), 1, cv2.LINE_AA)
    return img


def write_pr_plots(out_dir: str | Path, result: EvaluationResult, ap: np.ndarray | None = None) -> list[Path]:
    """``pr_<class>.png`` per class with objects; ``ap`` (by label) goes into the titles."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for label in np.flatnonzero(result.sweep.evaluated):
        c = result.pr_curve(int(label))
        title = c.name + (f"  AP {ap[label]:.3f}" if ap is not None and not np.isnan(ap[label]) else "")
        path = out / f"pr_{_safe_name(c.name)}.png"
        if not cv2.imwrite(str(path), draw_pr_curve(c.recall, c.precision, title)):
            raise OSError(f"{path}: could not write the PR plot")
        paths.append(path)
    return paths
