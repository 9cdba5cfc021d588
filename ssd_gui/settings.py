"""What the app remembers between sessions, through ``QSettings``: window geometry, the last folder of
each kind of file dialog, recent files, and the values views and dialogs save under their own keys.

Values are stored as JSON text, so they read back with their types whatever the platform's backend. File dialogs go through the
helpers here so that each starts in the folder last used for its kind of file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QWidget

ORGANIZATION = "ssd-desktop"
APPLICATION = "SSD Detector"
MAX_RECENT = 10


def store() -> QSettings:
    """The application's settings: an INI file in the user's configuration folder (tests move that
    folder with ``QSettings.setPath``)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def get(key: str, default: Any = None) -> Any:
    """The JSON value stored under ``key`` (``default`` when absent or unreadable)."""
    raw = store().value(key)
    if raw is None:
        return default
    try:
        return json.loads(str(raw))
    except ValueError:
        return default


def put(key: str, value: Any) -> None:
    """Store ``value`` (anything JSON can hold) under ``key``."""
    s = store()
    s.setValue(key, json.dumps(value))
    s.sync()


# ---------------------------------------------------------------------------------- folders

def last_folder(kind: str) -> str:
    """The folder a dialog for ``kind`` ("video", "weights", "dataset", ...) last used ("" if none)."""
    folder = get(f"folders/{kind}", "")
    return folder if folder and Path(folder).is_dir() else ""


def remember_folder(kind: str, path: str | Path) -> None:
    p = Path(path)
    put(f"folders/{kind}", str(p if p.is_dir() else p.parent))


def ask_open_file(parent: QWidget, caption: str, kind: str, file_filter: str = "All files (*)") -> str:
    """A file to open, starting in the last folder of ``kind``; "" when cancelled."""
    path, _ = QFileDialog.getOpenFileName(parent, caption, last_folder(kind), file_filter)
    if path:
        remember_folder(kind, path)
    return path


def ask_folder(parent: QWidget, caption: str, kind: str, start: str = "") -> str:
    """A folder, starting at ``start`` or the last folder of ``kind``; "" when cancelled."""
    path = QFileDialog.getExistingDirectory(parent, caption, start or last_folder(kind))
    if path:
        put(f"folders/{kind}", path)
    return path


def ask_save_file(parent: QWidget, caption: str, kind: str, default: str | Path,
                  file_filter: str = "All files (*)") -> str:
    """A file to write; ``default`` is a name (put in the last folder) or a full path."""
    start = Path(default)
    if not start.is_absolute() and last_folder(kind):
        start = Path(last_folder(kind)) / start
    path, _ = QFileDialog.getSaveFileName(parent, caption, str(start), file_filter)
    if path:
        remember_folder(kind, path)
    return path


# ---------------------------------------------------------------------------------- recent files

def recent_files() -> list[str]:
    """Sources and weights opened lately, newest first, only those that still exist."""
    return [p for p in get("recent", []) if isinstance(p, str) and Path(p).exists()]


def add_recent(path: str | Path) -> list[str]:
    """Put ``path`` first in the recent list (absolute, no duplicates); returns the new list."""
    p = str(Path(path).resolve())
    items = [p] + [q for q in recent_files() if q != p]
    put("recent", items[:MAX_RECENT])
    return items[:MAX_RECENT]
