"""Writing the user's files without ever losing one.

Every file this project writes for a user (detections JSON, metrics, PR curves, datasets,
checkpoints, exported models) goes through here:

- :func:`check_output_file` / :func:`check_output_dir` run *before* the work, so a bad ``--out``
  fails in a second instead of after an hour of frames; :func:`check_not_input` refuses an output
  that is one of the command's inputs (symlinks and hard links included);
- :func:`atomic_write` / :func:`atomic_path` write to a temporary file in the same folder and
  ``os.replace`` it over the target, so a crash, a kill or a full disk leaves the previous file
  intact and never half a file;
- :func:`dumps_json` refuses NaN and infinity (``json.dumps`` would write bare ``NaN``, which
  is not JSON), naming where the bad number sits;
- :func:`describe_os_error` turns ``ENOSPC`` and friends into a sentence that says what was
  kept, and :func:`free_space_note` how much room the disk has left;
- every file and folder written here gets the user's umask (``0o666 & ~umask``, ``0o777 & ~umask``):
  ``tempfile`` creates its temporaries private (0600, 0700), and renaming one into place would keep
  that mode, so an exported model, a checkpoint or a JSON file would differ from a plain ``open()``'s.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

TMP_SUFFIX = ".tmp"


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}."


def check_output_file(path: str | Path, what: str = "output file", *, overwrite: bool = True,
                      inputs: "Inputs" = ()) -> Path:
    """Check that ``path`` can be written as a file, before any work is done.

    The parent folder is created when missing. Raises ``ValueError`` when ``path`` is one of
    ``inputs`` (:func:`check_not_input`), an existing folder, or exists and ``overwrite`` is False;
    ``OSError`` (``PermissionError``) when the folder cannot be written. Returns ``path`` as a ``Path``.
    """
    p = check_not_input(path, inputs, what)
    if p.is_dir():
        raise ValueError(f"{what} {p} is a folder; give a file name")
    if p.exists() and not overwrite:
        raise ValueError(f"{what} {p} exists; choose another name or allow overwriting")
    parent = p.parent if str(p.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ValueError(f"{what} {p}: {parent} is a file, not a folder") from None
    except OSError as exc:
        raise OSError(exc.errno, f"{what} {p}: cannot create folder {parent}: {describe_os_error(exc)}") from None
    probe_fd, probe = _mkstemp(parent, p, what)
    os.close(probe_fd)
    os.unlink(probe)
    return p


#: The inputs of a command, as (what it is, path) pairs: ``[("source video", "v.mp4"), ("weights", "w.pt")]``;
#: a None path (an input not given, a camera) is skipped.
Inputs = Sequence[tuple[str, "str | Path | None"]]


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file ``path`` names (symlinks followed), None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name one file: the same path once symlinks and ``..`` are resolved, or
    (both existing) the same inode, as a hard link or a bind mount gives."""
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    with contextlib.suppress(OSError, RuntimeError):
        if pa.resolve() == pb.resolve():
            return True
    ia = _file_identity(pa)
    return ia is not None and ia == _file_identity(pb)


def check_not_input(output: str | Path, inputs: Inputs, what: str = "output file") -> Path:
    """Refuse an output that is one of the inputs of the same command, before any work.

    ``ssd detect v.mp4 --out v.mp4`` would replace the video by its detections; ``ssd export w.pt --out
    w.pt`` the weights by their network. Symlinks and hard links count: the file behind the name is
    compared. Returns ``output`` as a ``Path``.

    Raises:
        ValueError: naming the output, the input it would destroy, and what to do.
    """
    out = Path(output).expanduser()
    for role, path in inputs:
        if path is None or str(path) == "":
            continue
        if same_file(out, path):
            shown = f"{path}" if Path(path).expanduser() == out else f"{path} (the same file under another name)"
            raise ValueError(f"{what} {out} is the {role} {shown}: writing it would destroy its own input; "
                             f"choose another name")
    return out


def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """Check that ``path`` is (or can be created as) a writable folder; create it. Returns the path."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise ValueError(f"{what} {p} is a file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(exc.errno, f"{what} {p}: cannot create it: {describe_os_error(exc)}") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"{what} {p} is not writable")
    return p


def user_umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux: /proc/self/status).

    Elsewhere the classic ``os.umask`` round trip, which sets it for an instant: a file another thread
    creates in that instant would get the mode 0o000 mask.
    """
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | Path) -> None:
    """Give ``path`` the mode a plain ``open()`` or ``mkdir()`` would (0o666 or 0o777 less the umask)."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~user_umask())


def make_temp_dir(parent: str | Path, target_name: str) -> Path:
    """A new hidden folder ``.<target_name>.<random>.tmp`` in ``parent`` with the user's umask, to be
    renamed over (or emptied into) ``target_name``; :func:`remove_stale_temps` finds it after a kill."""
    folder = Path(tempfile.mkdtemp(prefix=_tmp_prefix(Path(target_name)), suffix=TMP_SUFFIX, dir=parent))
    apply_umask(folder)
    return folder


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's content in hex, read every time: a file rewritten with the same size and
    modification time is a different file (nothing is remembered between calls)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def human_size(n: float) -> str:
    """``n`` bytes as '0 bytes', '48 kB', '1.2 MB', '3.4 GB' (powers of 1000)."""
    if n < 1000:
        return f"{int(n)} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if n >= 100 else f"{n:.1f} {unit}"
    return f"{n:.1f} TB"  # pragma: no cover - the loop returns


def free_space_note(folder: str | Path) -> str:
    """'48 kB free in /data' for the disk that holds ``folder`` (or its nearest existing parent)."""
    p = Path(folder).expanduser()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return f"{human_size(shutil.disk_usage(p).free)} free in {p}"
    except OSError:
        return f"free space in {p} unknown"


def _mkstemp(folder: Path, target: Path, what: str) -> tuple[int, str]:
    try:
        return tempfile.mkstemp(prefix=_tmp_prefix(target), suffix=TMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise OSError(exc.errno, f"{what} {target}: cannot write in {folder}: {describe_os_error(exc)}") from None


def write_error(what: str, target: Path, exc: OSError) -> str:
    """'could not write {what} {target}: no space left on device (the previous version is intact); 48 kB
    free in /data': one line that names the file, the cause, what was kept and, for a full disk, the room left."""
    kept = "the previous version is intact" if target.exists() else "nothing was written"
    room = f"; {free_space_note(target.parent)}" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    return f"could not write {what} {target}: {describe_os_error(exc)} ({kept}){room}"


def describe_os_error(exc: OSError) -> str:
    """A short sentence for an ``OSError``: 'no space left on device', 'permission denied', ..."""
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    if exc.errno == errno.EDQUOT:
        return "disk quota exceeded"
    return exc.strerror or str(exc)


@contextlib.contextmanager
def atomic_path(path: str | Path, what: str = "file") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is fsynced and renamed over ``path``.

    On any exception (including ``KeyboardInterrupt``) the temporary file is removed and ``path``
    is left as it was. An ``OSError`` from the write is re-raised with a message that names the
    file and says that the previous version is intact.
    """
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp(target.parent, target, what)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        apply_umask(tmp_path)  # mkstemp made it 0600; the file the user gets has their umask
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, target)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise OSError(exc.errno, write_error(what, target, exc)) from exc
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, data: str | bytes, what: str = "file") -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically. Returns the path."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path, what) as tmp:
        with open(tmp, "wb") as f:
            f.write(raw)
            f.flush()
    return Path(path)


def _first_non_finite(obj: Any, where: str = "") -> str | None:
    if isinstance(obj, float):
        return None if math.isfinite(obj) else f"{where or '<top>'} = {obj}"
    if isinstance(obj, dict):
        for k, v in obj.items():
            found = _first_non_finite(v, f"{where}.{k}" if where else str(k))
            if found:
                return found
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            found = _first_non_finite(v, f"{where}[{i}]")
            if found:
                return found
    return None


def dumps_json(obj: Any, what: str = "JSON", indent: int | None = 1) -> str:
    """``json.dumps`` that refuses NaN and infinity with a ``ValueError`` naming the field."""
    try:
        return json.dumps(obj, indent=indent, allow_nan=False)
    except ValueError:
        found = _first_non_finite(obj)
        raise ValueError(f"{what}: refusing to write a non-finite number ({found}); JSON has no NaN or "
                         "infinity") from None


def write_json(path: str | Path, obj: Any, what: str = "JSON file", indent: int | None = 1) -> Path:
    """:func:`dumps_json` then :func:`atomic_write`: a valid JSON file or the previous one, never half."""
    return atomic_write(path, dumps_json(obj, f"{what} {path}", indent) + "\n", what)


def is_stale_temp(name: str) -> bool:
    """True when ``name`` is the name of a temporary file of this module (``.<target>.<random>.tmp[.ext]``)."""
    return _stale_re(None).fullmatch(name) is not None


def _stale_re(name: str | None) -> re.Pattern[str]:
    prefix = re.escape(_tmp_prefix(Path(name))) if name else r"\..+\."
    # tempfile.mkstemp's random characters, then our suffix, then at most one short extension
    return re.compile(prefix + r"[a-z0-9_]+" + re.escape(TMP_SUFFIX) + r"(\.[A-Za-z0-9]{1,8})?")


def remove_stale_temps(folder: str | Path, name: str | None = None) -> list[Path]:
    """Delete temporary files this module left behind in ``folder`` (after a kill mid-write).

    These are ``atomic_path``'s ``.<name>.<random>.tmp``, the files written beside them under that
    name plus an extension (``core.io.video_writer`` encodes into ``.<name>.<random>.tmp.mp4``: OpenCV
    picks the container from the extension) and :func:`make_temp_dir`'s folders of that form (an
    OpenVINO IR's .xml and .bin are written in one, a cache entry is built in one). With ``name``, only
    the temporaries of that target. Returns the files and folders removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = _stale_re(name)
    removed = []
    for p in folder.iterdir():
        if not stale.fullmatch(p.name):
            continue
        with contextlib.suppress(OSError):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
    return removed
