"""Python plug-in teachers: ``py:FILE.py:FACTORY``, ``py:package.module:FACTORY`` or ``py:NAME`` (an entry point).

    # my_teacher.py                                      ssd pseudo-label clip.mp4 --trust-code \\
    def build():                                             --teacher py:my_teacher.py:build --out data/clip
        return MyDetector()   # .class_names, .detect(images) -> [(boxes, scores, labels), ...]

``FACTORY()`` returns an object with ``class_names`` (a list of names, no background) and ``detect(images)``
(a list of HxWx3 uint8 RGB arrays) returning, per image, ``(boxes, scores, labels)``: float (N, 4) x1, y1, x2,
y2 in pixels, (N,) scores in [0, 1], (N,) integers indexing ``class_names`` (NumPy arrays, torch tensors or
lists). Installed packages register factories under the entry-point group :data:`ENTRY_POINT_GROUP`; the
entry point ``NAME`` is the teacher ``py:NAME``.

A plug-in is code: opening one needs the user's opt-in (``--trust-code``, a confirmation in the app;
core.model_spec). It runs in a child process (:mod:`core.teachers.plugin_worker`), so that a plug-in that
hangs is stopped after :func:`timeout_s` seconds (``$SSD_PLUGIN_TIMEOUT``, default 300) and one that crashes
takes nothing else down. Everything it returns is checked (:func:`core.teachers.protocol.check_detections`):
a wrong shape, NaN, a score outside [0, 1] or a label out of range is refused with a message naming the
plug-in, the image and the field, before anything is written.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from core.teachers.protocol import TeacherOutputError, check_class_names, check_detections
from core.teachers.spec import TeacherSpec
from core.types import Detections

ENTRY_POINT_GROUP = "ssd_desktop.teachers"
TIMEOUT_ENV = "SSD_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT_S = 300.0


class PluginError(ValueError):
    """A plug-in failed to load, raised, crashed or hung (the message names it)."""


def timeout_s() -> float:
    """Seconds a plug-in may take to load or to answer one ``detect`` call (``$SSD_PLUGIN_TIMEOUT``)."""
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(text) if text.strip() else DEFAULT_TIMEOUT_S
    except ValueError:
        raise ValueError(f"${TIMEOUT_ENV} must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise ValueError(f"${TIMEOUT_ENV} must be > 0 seconds, got {text!r}")
    return value


@dataclass(frozen=True)
class PluginTarget:
    """What a ``py:`` string names: a file or a module and its factory, or an installed entry point."""

    label: str
    file: Path | None = None
    module: str | None = None
    factory: str | None = None
    entry_point: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"file": None if self.file is None else str(self.file), "module": self.module, "factory": self.factory,
                "entry_point": self.entry_point, "group": ENTRY_POINT_GROUP}


def parse_target(spec: TeacherSpec) -> PluginTarget:
    """``FILE.py:FACTORY``, ``package.module:FACTORY`` or ``NAME``; ValueError naming what is wrong."""
    text = spec.argument
    where, sep, factory = text.rpartition(":")
    if not sep:
        names = [n for n, _ in installed_plugins()]
        if text not in names:
            shown = ", ".join(names) if names else "none is installed"
            raise ValueError(f"{spec.text!r}: no plug-in {text!r} in the entry-point group {ENTRY_POINT_GROUP} "
                             f"({shown}); a file or module is py:FILE.py:FACTORY or py:package.module:FACTORY")
        return PluginTarget(label=f"plug-in {text}", entry_point=text)
    if not factory.isidentifier():
        raise ValueError(f"{spec.text!r}: the factory after the last ':' must be a Python name, got {factory!r}")
    if where.endswith(".py"):
        path = Path(where).expanduser()
        if not path.is_file():
            raise ValueError(f"{spec.text!r}: plug-in file '{path}' not found")
        return PluginTarget(label=f"plug-in {path.name}:{factory}", file=path.resolve(), factory=factory)
    if not all(part.isidentifier() for part in where.split(".")):
        raise ValueError(f"{spec.text!r}: {where!r} is neither a .py file nor a module name (package.module)")
    return PluginTarget(label=f"plug-in {where}:{factory}", module=where, factory=factory)


def installed_plugins() -> list[tuple[str, str]]:
    """(name, "module:factory") of the entry points in :data:`ENTRY_POINT_GROUP` (nothing is imported)."""
    from importlib.metadata import entry_points

    return sorted((ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP))


def _module_file(module: str) -> Path | None:
    """The source file of ``module`` found on sys.path without importing it (or its packages)."""
    from importlib.machinery import PathFinder

    search: Any = None
    spec = None
    for i, part in enumerate(module.split(".")):
        spec = PathFinder.find_spec(".".join(module.split(".")[:i + 1]), search)
        if spec is None:
            return None
        search = spec.submodule_search_locations
    return Path(spec.origin) if spec is not None and spec.origin else None


def fingerprint(spec: TeacherSpec) -> dict[str, Any]:
    """The resume identity of a plug-in: what it names and the SHA-256 of its file (a module's source file; an
    entry point's distribution and version). Nothing of the plug-in runs."""
    from core.io.fileio import file_sha256

    target = parse_target(spec)
    out: dict[str, Any] = {"kind": "plugin", "target": target.label}
    if target.entry_point is not None:
        from importlib.metadata import entry_points

        ep = next(e for e in entry_points(group=ENTRY_POINT_GROUP) if e.name == target.entry_point)
        dist = getattr(ep, "dist", None)
        out.update(value=ep.value, distribution=None if dist is None else f"{dist.name} {dist.version}")
        return out
    source = target.file if target.file is not None else _module_file(str(target.module))
    if source is None:
        raise ValueError(f"{spec.text!r}: module {target.module!r} is not found on the Python path")
    out["sha256"] = file_sha256(source)
    return out


def build(spec: TeacherSpec) -> "PluginTeacher":
    """Start the plug-in's process and call its factory (the caller checked the opt-in)."""
    return PluginTeacher(parse_target(spec), fingerprint(spec), timeout_s())


class PluginTeacher:
    """A plug-in in its own process, as a :class:`core.teachers.protocol.Teacher` (see the module docstring)."""

    default_threshold = 0.5

    def __init__(self, target: PluginTarget, fingerprint: dict[str, Any], timeout: float) -> None:
        import multiprocessing

        from core.teachers.plugin_worker import serve

        self.target, self.timeout = target, timeout
        self._fingerprint = fingerprint
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no Qt, torch or threads inherited
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=serve, args=(child, target.as_dict()), daemon=True,
                                 name=f"ssd-plugin-{target.label}")
        self._proc.start()
        child.close()
        reply = self._receive("loading it")
        if reply[0] != "ready":
            self.close()
            raise PluginError(f"{target.label}: {reply[1]}")
        try:
            self.class_names = check_class_names(target.label, reply[1])
        except TeacherOutputError:
            self.close()
            raise
        self.description = f"{target.label}" + (f" ({reply[2]})" if reply[2] else "")

    def _receive(self, what: str) -> tuple[Any, ...]:
        """The child's next message, or PluginError when it hangs past the timeout or dies (it is stopped)."""
        if not self._conn.poll(self.timeout):
            self.close()
            raise PluginError(f"{self.target.label}: {what} took more than {self.timeout:g} s; its process was "
                              f"stopped (set ${TIMEOUT_ENV} to allow longer)")
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            self._proc.join(5)
            code = self._proc.exitcode
            self.close()
            raise PluginError(f"{self.target.label}: its process ended while {what} (exit code {code})") from None

    def detect(self, images: Sequence[Any]) -> list[Detections]:
        """The plug-in's detections, checked (module docstring); PluginError or TeacherOutputError naming it."""
        if self._proc is None or not self._proc.is_alive():
            raise PluginError(f"{self.target.label}: its process is no longer running (stopped after an earlier "
                              f"error); load the teacher again")
        images = list(images)
        self._conn.send(("detect", images))
        reply = self._receive(f"detect() on {len(images)} image(s)")
        if reply[0] != "ok":
            raise PluginError(f"{self.target.label}: {reply[1]}")
        results = reply[1]
        if len(results) != len(images):
            raise TeacherOutputError(f"{self.target.label}: detect() returned {len(results)} result(s) for "
                                     f"{len(images)} image(s); one (boxes, scores, labels) per image")
        return [check_detections(self.target.label, i, b, s, lab, len(self.class_names),
                                 (int(img.shape[1]), int(img.shape[0])))
                for i, (img, (b, s, lab)) in enumerate(zip(images, results))]

    def fingerprint(self) -> dict[str, Any]:
        return dict(self._fingerprint)

    def close(self) -> None:
        """Stop the child process (asked first, then killed)."""
        proc = getattr(self, "_proc", None)
        if proc is None:
            return
        if proc.is_alive():
            try:
                self._conn.send(("close",))
            except (OSError, ValueError):
                pass
            proc.join(2)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        self._conn.close()
        self._proc = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


__all__ = ["DEFAULT_TIMEOUT_S", "ENTRY_POINT_GROUP", "PluginError", "PluginTeacher", "TIMEOUT_ENV", "build",
           "fingerprint", "installed_plugins", "parse_target", "timeout_s"]
