"""Files of an evaluation: the ground truth and detections in (re-exported from
:mod:`core.data.index` and :mod:`core.evaluation.detection_files`), ``metrics.json``, the
PR-point CSVs and the PR plots out.

Every file is written through :mod:`core.io.fileio`: the output folder is checked (and created)
before anything is written, each file is written to a temporary name and renamed, and JSON
never holds NaN (an AP that does not exist is ``null``; in a CSV an empty cell).

Per-class files are named ``pr_<class>.csv`` / ``pr_<class>.png`` after the class name made
safe for any file system; class names that end up the same (``a/b`` and ``a b`` both give
``a_b``; ``Cat`` and ``cat`` on a case-insensitive disk) get ``_2``, ``_3``, ... in label
order, and ``metrics.json`` records which file holds which class (``"pr_files"``).
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

from core.evaluation.detection_files import read_coco_results, read_comp4_files, read_detections
from core.evaluation.evaluate import EvaluationResult
from core.io.fileio import atomic_write, check_output_dir, write_json
from core.types import DatasetIndex


def load_ground_truth(path: str | Path, split: str | None = None, check_images: bool = False) -> DatasetIndex:
    """A COCO annotation JSON or a VOC folder: :func:`core.data.index.build_index` with kind ``auto``."""
    from core.data.index import build_index

    return build_index("auto", path, split, check_images=check_images)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip(".") or "class"


def pr_file_stems(class_names: Sequence[str]) -> list[str]:
    """``pr_<safe name>`` per label (entry 0, the background, is ""), unique even on a
    case-insensitive file system: a name already taken gets ``_2``, ``_3``, ... in label order."""
    stems, taken = [""], set()
    for name in class_names[1:]:
        base = f"pr_{_safe_name(str(name))}"
        stem, k = base, 1
        while stem.lower() in taken:
            k += 1
            stem = f"{base}_{k}"
        taken.add(stem.lower())
        stems.append(stem)
    return stems


def write_metrics_json(path: str | Path, metrics: dict[str, Any]) -> Path:
    """``metrics.json`` (see :meth:`EvaluationResult.metrics_dict`), atomically; NaN is refused."""
    return write_json(path, metrics, "metrics file", indent=2)


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]], what: str = "CSV file") -> Path:
    """One CSV file written atomically (the previous version stays whole if anything fails)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return atomic_write(path, buf.getvalue(), what)


PR_CSV_COLUMNS: tuple[str, ...] = ("rank", "confidence", "image_id", "tp", "cum_tp", "cum_fp", "precision",
                                   "recall", "f1")


def _cell(v: float) -> str:
    return "" if np.isnan(v) else repr(float(v))


def write_pr_csvs(out_dir: str | Path, result: EvaluationResult) -> list[Path]:
    """One ``pr_<class>.csv`` per class (names: :func:`pr_file_stems`): the raw PR point of
    every counted detection. The folder is created when missing.

    Columns :data:`PR_CSV_COLUMNS`; row ``rank`` (1-based) is the state after accepting the
    ``rank`` highest-scored detections. Detections on difficult objects are not listed
    (the devkit counts them neither as TP nor FP). Recall is empty for a class without objects.
    """
    out = check_output_dir(out_dir, "evaluation output folder")
    paths = []
    ids = result.match.image_ids
    stems = pr_file_stems(result.class_names)
    for label in range(1, len(result.class_names)):
        c = result.pr_curve(label)
        rows = ([k + 1, repr(float(c.confidence[k])), ids[c.image_index[k]], int(c.is_tp[k]), int(c.cum_tp[k]),
                 int(c.cum_fp[k]), repr(float(c.precision[k])), _cell(c.recall[k]), _cell(c.f1[k])]
                for k in range(c.confidence.shape[0]))
        paths.append(write_csv(out / f"{stems[label]}.csv", PR_CSV_COLUMNS, rows, "PR points file"))
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
    """``pr_<class>.png`` per class with objects (names: :func:`pr_file_stems`); ``ap`` (by
    label) goes into the titles. The folder is created when missing."""
    out = check_output_dir(out_dir, "evaluation output folder")
    stems = pr_file_stems(result.class_names)
    paths = []
    for label in np.flatnonzero(result.sweep.evaluated):
        c = result.pr_curve(int(label))
        title = c.name + (f"  AP {ap[label]:.3f}" if ap is not None and not np.isnan(ap[label]) else "")
        ok, png = cv2.imencode(".png", draw_pr_curve(c.recall, c.precision, title))
        path = out / f"{stems[int(label)]}.png"
        if not ok:
            raise OSError(f"{path}: could not encode the PR plot")
        paths.append(atomic_write(path, png.tobytes(), "PR plot"))
    return paths


def write_evaluation(out_dir: str | Path, metrics: dict[str, Any], result: EvaluationResult,
                     plots: bool = True) -> list[Path]:
    """Everything ``ssd eval`` writes: ``metrics.json`` (``metrics`` plus ``"pr_files"``: class
    name -> file stem), ``pr_<class>.csv`` and, with ``plots``, ``pr_<class>.png``.

    Returns:
        The files written, ``metrics.json`` last (so its presence means the rest is there).
    """
    out = check_output_dir(out_dir, "evaluation output folder")
    paths = write_pr_csvs(out, result)
    if plots:
        ap = np.array([np.nan] + [np.nan if v["ap"] is None else v["ap"] for v in metrics["per_class"].values()])
        paths += write_pr_plots(out, result, ap)
    stems = pr_file_stems(result.class_names)
    full = dict(metrics, pr_files={name: stems[label] for label, name in enumerate(result.class_names) if label})
    paths.append(write_metrics_json(out / "metrics.json", full))
    return paths


__all__ = ["load_ground_truth", "read_detections", "read_coco_results", "read_comp4_files", "pr_file_stems",
           "write_metrics_json", "write_csv", "write_pr_csvs", "write_pr_plots", "write_evaluation",
           "draw_pr_curve", "PR_CSV_COLUMNS"]
