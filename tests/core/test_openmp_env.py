"""core.openmp: the app's processes start PyTorch's OpenMP with a short idle spin, unless the user chose."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.openmp import SPIN_ROUNDS, limit_openmp_spinning

ROOT = Path(__file__).resolve().parents[2]
SHOW = ("import os, sys; import {first}; import torch; "
        "print(os.environ.get('GOMP_SPINCOUNT'), 'torch' in sys.modules)")


def _run(first: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    environ.update(env, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", SHOW.format(first=first)], env=environ, cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.strip()


def test_importing_core_gui_or_benchmarks_sets_the_spin_before_torch() -> None:
    for first in ("core", "ssd_gui", "benchmarks"):
        assert _run(first) == f"{SPIN_ROUNDS} True", first


def test_a_users_setting_is_kept() -> None:
    assert _run("core", GOMP_SPINCOUNT="123") == "123 True"
    assert _run("core", OMP_WAIT_POLICY="PASSIVE") == "None True"


def test_nothing_changes_once_torch_is_loaded() -> None:
    env: dict[str, str] = {}
    assert "torch" in sys.modules  # this test process loaded it long ago
    assert limit_openmp_spinning(env) is False and env == {}
