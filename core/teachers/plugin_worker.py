"""The child process of a Python plug-in teacher (see core.teachers.plugin): it imports the plug-in, calls
its factory once and answers ``detect`` requests over a pipe. Only NumPy is imported here; a plug-in that
raises is reported to the parent as text, and a plug-in that hangs or crashes is stopped by the parent.

Messages, parent -> child: ``("detect", [HxWx3 uint8, ...])``, ``("close",)``.
Child -> parent: ``("ready", class_names, description)``, ``("ok", [(boxes, scores, labels), ...])``,
``("error", text)``.
"""
from __future__ import annotations

import importlib
import importlib.util
import signal
import sys
from pathlib import Path
from typing import Any, Callable


def load_factory(target: dict[str, Any]) -> Callable[[], Any]:
    """The factory a target names: ``{"file", "factory"}``, ``{"module", "factory"}`` or ``{"entry_point"}``."""
    if target.get("entry_point"):
        from importlib.metadata import entry_points

        for ep in entry_points(group=target["group"]):
            if ep.name == target["entry_point"]:
                return ep.load()
        raise LookupError(f"no entry point {target['entry_point']!r} in group {target['group']!r}")
    if target.get("file"):
        path = Path(target["file"])
        name = f"ssd_plugin_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        sys.path.insert(0, str(path.parent))  # the plug-in may import files beside it
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target["module"])
    factory = getattr(module, target["factory"], None)
    if factory is None or not callable(factory):
        raise AttributeError(f"{target.get('file') or target.get('module')} has no callable {target['factory']!r}")
    return factory


def _as_arrays(result: Any) -> tuple[Any, Any, Any]:
    """One image's result as three NumPy arrays: a (boxes, scores, labels) tuple or an object with those fields."""
    import numpy as np

    if all(hasattr(result, k) for k in ("boxes", "scores", "labels")):
        parts = (result.boxes, result.scores, result.labels)
    elif isinstance(result, (tuple, list)) and len(result) == 3:
        parts = tuple(result)
    else:
        raise TypeError(f"each image's result must be a (boxes, scores, labels) tuple, got {type(result).__name__}")
    out = []
    for p in parts:
        if hasattr(p, "detach"):  # a torch tensor
            p = p.detach().cpu().numpy()
        out.append(np.asarray(p))
    return out[0], out[1], out[2]


def _describe(exc: BaseException) -> str:
    import traceback

    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" (at {Path(where[0].filename).name}:{where[0].lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"


def serve(conn: Any, target: dict[str, Any]) -> None:
    """The child's loop (``multiprocessing`` target)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops this process
    try:
        obj = load_factory(target)()
        names = [str(n) if isinstance(n, str) else n for n in getattr(obj, "class_names")]
        if not callable(getattr(obj, "detect", None)):
            raise TypeError("the factory's object has no detect(images) method")
        conn.send(("ready", names, str(getattr(obj, "description", ""))))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which names the plug-in
        conn.send(("error", f"loading it failed: {_describe(exc)}"))
        return
    while True:
        msg = conn.recv()
        if msg[0] != "detect":
            return
        try:
            results = obj.detect(msg[1])
            if not isinstance(results, (list, tuple)):
                raise TypeError(f"detect() must return a list (one result per image), got {type(results).__name__}")
            conn.send(("ok", [_as_arrays(r) for r in results]))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            conn.send(("error", f"detect() failed: {_describe(exc)}"))
