"""Where a pseudo-labelling may write: a new or empty folder, or one holding this same labelling to resume.

:func:`check_target` runs before the teacher loads (:func:`core.pseudo_label.pseudo_label` and the
labelling stage of ``ssd train --unlabelled``); a folder holding anything else, a folder that is or holds
a source, or a labelling made with other settings is refused, so two labellings are never mixed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from core.data.pseudo_label_files import STATE_FILE


class DatasetExistsError(ValueError):
    """The output folder holds files that are not this pseudo-labelling (never replaced or mixed)."""


#: The settings a record of an earlier version lacks, and the value it was made with by default.
_UNRECORDED: dict[str, Any] = {"precision": "fp32", "runtime": "torch", "calibration": None, "temporal": None}


def check_target(out_dir: str | Path, settings: dict[str, Any], sources: Sequence[str] = ()
                 ) -> tuple[Path, dict[str, Any] | None]:
    """Check, before the teacher loads, that the labels may be written to ``out_dir``.

    Temporary files a killed write left (:func:`core.io.fileio.remove_stale_temps`) do not count as
    content, and are removed when the run resumes.

    Returns:
        (folder, the earlier run's record when this run resumes it, else None).

    Raises:
        DatasetExistsError: the folder holds anything but this same pseudo-labelling (says what differs).
        ValueError, OSError: ``out_dir`` is a file, one of ``sources`` or holds one, or cannot be created or written.
    """
    from core.data._checks import read_json_file
    from core.io.fileio import check_output_dir, is_stale_temp, remove_stale_temps, same_file

    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder")
    for spec in sources:
        src = Path(spec).expanduser().resolve()
        if out.exists() and any(same_file(folder, out) for folder in (src, *src.parents)):
            raise ValueError(f"the dataset folder {out} is, or holds, the source {spec}: the labels would be written "
                             f"into the footage being labelled; give a folder outside it")
    entries = sorted(p.name for p in out.iterdir() if not is_stale_temp(p.name)) if out.is_dir() else []
    if entries and not (out / STATE_FILE).is_file():
        shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        raise DatasetExistsError(f"{out} is not empty ({len(entries)} entries: {shown}) and holds no pseudo-labels "
                                 f"to resume; pseudo-labels are never mixed into another dataset: give a new folder")
    previous = read_json_file(out / STATE_FILE, "pseudo-label record") if entries else None
    if previous is not None:
        # A record from before the teacher's precision, runtime and calibration were recorded was made with the
        # defaults unless the command said otherwise: it resumes with the defaults only.
        recorded = {**{k: v for k, v in _UNRECORDED.items() if k in settings}, **previous.get("settings", {})}
        differ = [k for k, v in settings.items() if recorded.get(k) != v]
        if differ:
            was = ", ".join(f"{k}={recorded[k]!r}" if k in recorded else f"{k} not recorded" for k in differ)
            now = ", ".join(f"{k}={settings[k]!r}" for k in differ)
            raise DatasetExistsError(f"{out} holds pseudo-labels made with other settings ({was}; now {now}); "
                                     f"resuming would mix two labellings: give a new folder, or the same settings "
                                     f"to resume")
        for folder in (out, *(p for p in out.iterdir() if p.is_dir())):
            remove_stale_temps(folder)  # what a killed write left; never counted as a frame done
    check_output_dir(out, "pseudo-label dataset folder")
    return out, previous


__all__ = ["DatasetExistsError", "check_target"]
