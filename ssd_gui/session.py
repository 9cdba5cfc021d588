"""What the main window keeps between sessions and what it makes of files dropped on it.

* :func:`restore` / :func:`save`: window geometry, the open tab, the Detect view's confidence
  threshold, real-time and loop choices, runtime choice (device, runtime, precision) and NMS method,
  and the last model (through :mod:`ssd_gui.settings`).
* :func:`file_kind`: a path dropped on the window (or picked from File > Recent) is weights (a
  checkpoint or an exported network), a video, an image or a folder of images.
* :func:`app_version`: the version shown in Help > About.
"""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray

from core.config import NMS_METHODS
from ssd_gui import settings

WEIGHTS_EXTENSIONS: tuple[str, ...] = (".pt", ".pth", ".ckpt", ".bin")
# What `ssd export` writes (an IR is its .xml; TorchScript saved as .pt is told by its content in core).
EXPORTED_EXTENSIONS: tuple[str, ...] = (".onnx", ".xml", ".torchscript")


def app_version() -> str:
    """The application's version ("unknown" when neither core nor the installed package says)."""
    try:
        from core import __version__  # type: ignore[attr-defined]

        return str(__version__)
    except ImportError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ssd-desktop")
    except PackageNotFoundError:
        return "unknown"


def file_kind(path: str | Path) -> str | None:
    """"weights", "folder", "image" or "video" for an existing ``path``; None for anything else."""
    from core.io.images import IMAGE_EXTENSIONS

    p = Path(path)
    if p.is_dir():
        return "folder"
    if not p.is_file():
        return None
    suffix = p.suffix.lower()
    if suffix in WEIGHTS_EXTENSIONS + EXPORTED_EXTENSIONS:
        return "weights"
    return "image" if suffix in IMAGE_EXTENSIONS else "video"


def last_model() -> str | None:
    """The weights the Detect view used last, when the file still exists."""
    path = settings.get("detect/model")
    return path if isinstance(path, str) and Path(path).is_file() else None


def restore(window: Any) -> None:
    """Put back what :func:`save` kept: geometry, tab, the Detect view's display choices and device."""
    geometry = settings.get("window/geometry")
    if isinstance(geometry, str):
        window.restoreGeometry(QByteArray(base64.b64decode(geometry)))
    tab = settings.get("window/tab")
    if isinstance(tab, int) and 0 <= tab < window.tabs.count():
        window.tabs.setCurrentIndex(tab)
    detect = window.detect_view.state
    saved = settings.get("detect/view", {})
    if isinstance(saved, dict):
        if isinstance(saved.get("min_score"), (int, float)):
            detect.set_min_score(float(saved["min_score"]))
        if isinstance(saved.get("realtime"), bool):
            detect.set_realtime(saved["realtime"])
        if isinstance(saved.get("loop"), bool):
            detect.set_loop(saved["loop"])
        _restore_runtime(detect, saved)


def _restore_runtime(detect: Any, saved: dict[str, Any]) -> None:
    """The runtime choice and NMS method kept by :func:`save`, when this machine still offers them."""
    from ssd_gui.state.detect import RuntimeChoice

    fields = [saved.get(k) for k in ("device", "runtime", "precision")]
    if all(isinstance(v, str) for v in fields):
        choice = RuntimeChoice(*fields)  # type: ignore[arg-type]
        if choice in detect.choices:  # e.g. not when OpenVINO or the GPU has gone since
            detect.set_runtime_choice(choice)
    if saved.get("nms") in NMS_METHODS:
        detect.set_nms(saved["nms"])


def save(window: Any) -> None:
    """Keep the window's geometry and tab and the Detect view's choices and model for the next session."""
    settings.put("window/geometry", base64.b64encode(bytes(window.saveGeometry())).decode("ascii"))
    settings.put("window/tab", window.tabs.currentIndex())
    detect = window.detect_view.state
    settings.put("detect/view", {"min_score": detect.min_score, "realtime": detect.realtime, "loop": detect.loop,
                                 "device": detect.device, "runtime": detect.runtime, "precision": detect.precision,
                                 "nms": detect.nms})
    path = getattr(detect.detector, "weights_path", None)
    if path and Path(str(path)).is_file():
        settings.put("detect/model", str(Path(str(path)).resolve()))


def shortcuts_html(window: Any) -> str:
    """A table of every keyboard shortcut: the Detect view's keys, then the menus' shortcuts."""
    rows = [(key, what) for key, what in window.detect_view.shortcuts()]
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        for action in (menu.actions() if menu is not None else []):
            key = action.shortcut().toString()
            if key:
                rows.append((key, action.text().replace("&", "").rstrip("…")))
    body = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{w}</td></tr>" for k, w in rows)
    return f"<table>{body}</table><p>The arrow, Home and End keys act on the Detect view's video.</p>"
