"""The run folder: refuse to replace a run without being asked, clean what a kill left, never leave an
empty folder behind a failed start.

    check_run_dir("runs/a", resume=None, overwrite=False)   # the dialog calls this before Start
    # RunExistsError: runs/a already holds a run (last.pt, metrics.csv): continue it with
    # --resume runs/a/last.pt, choose a new output folder, or --overwrite to replace it
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from core.io.fileio import Inputs, check_not_input, remove_stale_temps

#: The files a run writes into its folder; any of them marks the folder as holding a run.
RUN_FILES: tuple[str, ...] = ("last.pt", "model.pt", "best.pt", "metrics.csv")


class RunExistsError(ValueError):
    """The output folder already holds a run and neither resume nor overwrite was asked for.

    Attributes:
        run_dir: the folder; ``files``: the run files found there; ``resume_path``: its ``last.pt``
        when there is one (what to pass as ``resume``), else None.
    """

    def __init__(self, run_dir: Path, files: list[str], resume_path: Path | None, message: str) -> None:
        super().__init__(message)
        self.run_dir, self.files, self.resume_path = run_dir, files, resume_path


def run_files(run_dir: str | Path) -> list[str]:
    """The :data:`RUN_FILES` present in ``run_dir`` (in that order)."""
    d = Path(run_dir)
    return [name for name in RUN_FILES if (d / name).is_file()]


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_run_dir(out_dir: str | Path, resume: str | Path | None = None, overwrite: bool = False) -> None:
    """Refuse a run that would replace another run's files.

    Fine: a folder without run files; resuming from the ``last.pt`` of this same folder; ``overwrite``.

    Raises:
        RunExistsError (a ValueError): ``out_dir`` holds a run; the message offers ``--resume
            <out_dir>/last.pt`` (when there is one), a new folder, and ``--overwrite``.
        ValueError: ``out_dir`` is a file.
    """
    d = Path(out_dir).expanduser()
    if d.exists() and not d.is_dir():
        raise ValueError(f"output folder {d} is a file, not a folder")
    found = run_files(d)
    if not found or overwrite or (resume is not None and _same_folder(Path(resume).expanduser().parent, d)):
        return
    last = d / "last.pt"
    has_last = "last.pt" in found
    offer = f"continue it with --resume {last}, " if has_last else ""
    raise RunExistsError(d, found, last if has_last else None,
                         f"{d} already holds a run ({', '.join(found)}): {offer}choose a new output folder "
                         "(--out), or add --overwrite to replace it")


def check_run_inputs(out_dir: str | Path, inputs: Inputs) -> None:
    """Refuse a run whose inputs (weights to start from, a teacher, ...) are files the run writes or, with
    ``overwrite``, removes (:data:`RUN_FILES` of ``out_dir``): the run would replace what it reads.

    ``inputs``: (what, model string or path) pairs; model strings are resolved to their files (an IR's
    ``.xml`` and ``.bin``). Raises ValueError naming the file and the option.
    """
    from core.model_spec import model_inputs

    files = [pair for role, spec in inputs for pair in model_inputs(spec, role)]
    d = Path(out_dir).expanduser()
    for name in RUN_FILES:
        check_not_input(d / name, files, "run file")


def prepare_run_dir(run_dir: Path, overwrite: bool, resumed: bool) -> list[str]:
    """Create ``run_dir``; remove the previous run's files (``overwrite`` of a new run) and the temp
    files of a write a kill interrupted. Returns what was removed, as report lines."""
    run_dir.mkdir(parents=True, exist_ok=True)
    notes = []
    temps = [p.name for p in remove_stale_temps(run_dir)]
    if temps:
        notes.append(f"removed {len(temps)} half-written file(s) left in {run_dir} by an interrupted write: "
                     f"{', '.join(temps)}")
    if overwrite and not resumed:
        # the TensorBoard event files too: the old curves would otherwise mix with the new run's
        removed = run_files(run_dir) + sorted(p.name for p in run_dir.glob("events.out.tfevents.*") if p.is_file())
        for name in removed:
            (run_dir / name).unlink()
        if removed:
            notes.append(f"overwrite: removed the previous run's {', '.join(removed)} from {run_dir}")
    return notes


def remove_if_empty(run_dir: Path) -> None:
    """Remove ``run_dir`` when it is an empty folder (a run that failed before writing anything)."""
    with contextlib.suppress(OSError):
        if run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()
