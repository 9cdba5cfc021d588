"""Which footage is which: a source is identified by more than its name.

Camera files repeat their names (``GOPR0001.MP4`` on every card), so two different videos can share a
file name, and one video can be moved or renamed. A source's *fingerprint* tells them apart:

- a file (a video, an image): its size and the SHA-256 of its first :data:`FINGERPRINT_BYTES` bytes
  (the container header and the first frames: two recordings differ there, and a copy or a move of the
  same recording does not);
- an image folder: its absolute path (images may be added to it between two runs).

A dataset built from footage (``ssd pseudo-label``) names its images ``<base>_<frame>`` (see
:mod:`core.data.frames`); :func:`plan_sources` gives each source its base: the file's stem (a folder's
name), or, when another source of the dataset with other content has that name already, the stem with
eight hex digits of the fingerprint (``GOPR0001-3fa2c1d0``), so the two are kept apart instead of the
second being taken for the first. The same footage again (moved, renamed or copied) gets the base it had.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

#: Bytes at the start of a file hashed, with its size, to identify it (4 MiB: a few milliseconds).
FINGERPRINT_BYTES = 4 << 20


def source_fingerprint(spec: str | Path) -> dict[str, Any]:
    """The fingerprint of a video, image or image folder (see the module docstring).

    Returns:
        ``{"kind": "file", "path", "size", "sha256_head"}`` or ``{"kind": "folder", "path"}``; ``path``
        absolute, symlinks resolved.

    Raises:
        ValueError: nothing at ``spec`` (names it).
    """
    p = Path(spec).expanduser().resolve()
    if p.is_dir():
        return {"kind": "folder", "path": str(p)}
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = hashlib.sha256(f.read(FINGERPRINT_BYTES)).hexdigest()
    except OSError as exc:
        raise ValueError(f"{spec}: cannot read it ({exc.strerror or exc})") from None
    return {"kind": "file", "path": str(p), "size": size, "sha256_head": head}


def same_source(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True when two fingerprints name the same footage (a file by its content, a folder by its path)."""
    if a.get("kind") != b.get("kind"):
        return False
    if a.get("kind") == "folder":
        return a.get("path") == b.get("path")
    if a.get("sha256_head") is None or b.get("sha256_head") is None:  # an old record: the path is all there is
        return a.get("path") == b.get("path")
    return a.get("size") == b.get("size") and a.get("sha256_head") == b.get("sha256_head")


def _tag(fp: dict[str, Any]) -> str:
    """Eight hex digits that differ between two fingerprints (the content hash, a folder's path hash)."""
    head = fp.get("sha256_head") or hashlib.sha256(str(fp.get("path", "")).encode("utf-8")).hexdigest()
    return str(head)[:8]


def base_name(spec: str | Path) -> str:
    """The plain id base of a source: a folder's name, a file's stem."""
    p = Path(spec)
    return p.name if p.is_dir() else p.stem


def _from_record(entry: Any) -> dict[str, Any]:
    """A recorded source as a fingerprint with its ``id``; an old record (just the path) is fingerprinted now
    when the file is still there, else kept as its path."""
    if isinstance(entry, dict) and "id" in entry:
        return dict(entry)
    path = str(entry)
    try:
        fp = source_fingerprint(path)
    except ValueError:
        fp = {"kind": "file", "path": path}
    return {**fp, "id": base_name(path)}


@dataclass
class SourcePlan:
    """The sources of a dataset and the id base of each source of this run.

    Attributes:
        records: every source the dataset holds (earlier runs' first), fingerprints with their ``id``.
        bases: this run's source (as given) -> its id base.
        notes: one line per source kept apart from another of the same name.
    """

    records: list[dict[str, Any]]
    bases: dict[str, str]
    notes: list[str] = field(default_factory=list)


def plan_sources(sources: Sequence[str], recorded: Sequence[Any] = ()) -> SourcePlan:
    """Give each of ``sources`` its id base, next to the sources a dataset already holds (``recorded``).

    Raises:
        ValueError: the same footage given twice in ``sources`` (names both), or a missing source.
    """
    records = [_from_record(r) for r in recorded]
    bases: dict[str, str] = {}
    notes: list[str] = []
    seen: list[tuple[dict[str, Any], str]] = []
    for spec in sources:
        fp = source_fingerprint(spec)
        twice = next((s for f, s in seen if same_source(f, fp)), None)
        if twice is not None:
            raise ValueError(f"{spec} and {twice} are the same footage (same size and content); give it once")
        seen.append((fp, str(spec)))
        match = next((r for r in records if same_source(r, fp)), None)
        if match is None:
            base = base_name(spec)
            other = next((r for r in records if r["id"] == base), None)
            if other is not None:
                base = f"{base}-{_tag(fp)}"
                notes.append(f"{spec} has the name of another source with other content ({other.get('path')}): its "
                             f"frames are kept apart, as {base}_...")
            match = {**fp, "id": base}
            records.append(match)
        bases[str(spec)] = str(match["id"])
    return SourcePlan(records, bases, notes)


def covers(recorded: Sequence[Any], sources: Sequence[str]) -> bool:
    """True when every one of ``sources`` is among the ``recorded`` sources of a dataset (by content)."""
    records = [_from_record(r) for r in recorded]
    for spec in sources:
        try:
            fp = source_fingerprint(spec)
        except ValueError:
            return False
        if not any(same_source(r, fp) for r in records):
            return False
    return True


__all__ = ["FINGERPRINT_BYTES", "SourcePlan", "base_name", "covers", "plan_sources", "same_source",
           "source_fingerprint"]
