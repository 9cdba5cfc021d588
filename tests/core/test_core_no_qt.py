"""core/ never imports Qt: importing every core module leaves PySide6 out of sys.modules."""
from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import core


def test_core_does_not_import_qt() -> None:
    modules = sorted(m.name for m in pkgutil.walk_packages(core.__path__, "core."))
    assert "core.detector" in modules and "core.model.ssd" in modules
    code = ("import sys, importlib\n"
            f"for m in {modules!r}:\n"
            "    importlib.import_module(m)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6', 'pyqtgraph')]\n"
            "print(bad)\n"
            "sys.exit(1 if bad else 0)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 0, res.stdout + res.stderr
