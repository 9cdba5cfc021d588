"""A run's ``metrics.csv``: the writer the trainer uses and the reader the GUI's curves use.

One row per iteration, columns :data:`CSV_COLUMNS`; ``val_map`` is empty except on the rows of
iterations after which a validation ran. A resumed run keeps the rows up to the iteration it
resumes from (rows past it belong to steps that the checkpoint does not hold) and appends its own,
so the curves carry on.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from core.io.fileio import atomic_write

CSV_COLUMNS: tuple[str, ...] = ("iteration", "epoch", "loss", "loc_loss", "conf_loss", "lr", "images_per_s",
                                "data_wait_fraction", "val_map", "elapsed_s", "distill_loss")


def read_metrics_csv(path: str | Path) -> list[dict[str, float | None]]:
    """Rows of a run's ``metrics.csv`` as numbers (None for empty cells); [] if there is none.

    A last row cut short (the process was killed while writing it) is left out.

    Raises:
        ValueError: a cell is not a number (names the file and the line).
    """
    p = Path(path)
    if not p.is_file():
        return []
    rows = []
    with p.open(newline="") as fh:
        lines = list(csv.DictReader(fh))
    for i, row in enumerate(lines, start=2):
        if None in row.values() and i == len(lines) + 1:
            break  # a partial last line
        try:
            rows.append({k: (float(v) if v not in ("", None) else None) for k, v in row.items() if k is not None})
        except ValueError as exc:
            raise ValueError(f"{p}: line {i} is not numeric ({exc})") from None
    return rows


def _rows_up_to(path: Path, iteration: int) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [r for r in csv.DictReader(f) if (r.get("iteration") or "").isdigit()
                and int(r["iteration"]) <= iteration and None not in r.values()]


class MetricsCSV:
    """Writes ``metrics.csv`` one flushed row at a time.

    Args:
        path: the run's ``metrics.csv``.
        resume_iteration: the iteration a resumed run continues from (None for a new run).
        history: the ``metrics.csv`` holding the earlier rows when it is not ``path`` (a run resumed
            into another folder); defaults to ``path``.
    """

    def __init__(self, path: Path, resume_iteration: int | None, history: Path | None = None) -> None:
        self.path = path
        rows = _rows_up_to(history or path, resume_iteration) if resume_iteration is not None else []
        # The kept rows are written atomically, so a kill here never loses the earlier curve.
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        atomic_write(path, buf.getvalue(), "metrics file")
        self._f = path.open("a", newline="")
        self._w = csv.DictWriter(self._f, fieldnames=list(CSV_COLUMNS), extrasaction="ignore", lineterminator="\n")

    def write(self, row: dict[str, Any]) -> None:
        """Append one row (missing or None cells are left empty)."""
        self._w.writerow({k: ("" if row.get(k) is None else row[k]) for k in CSV_COLUMNS})
        self._f.flush()

    def close(self) -> None:
        self._f.close()


class Ema:
    """Exponential moving average (images/s, data-wait share, seconds per iteration)."""

    def __init__(self, alpha: float = 0.1) -> None:
        self.alpha = alpha
        self.value: float | None = None

    def update(self, x: float) -> float:
        self.value = x if self.value is None else (1 - self.alpha) * self.value + self.alpha * x
        return self.value
