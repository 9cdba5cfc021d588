"""A non-editable install: the wheel carries the demo model and video, and the installed `ssd`,
run from another folder in a fresh virtual environment, finds them by the name `demo`."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import core
from core.resources import DEMO_VIDEO, DEMO_WEIGHTS

REPO = Path(__file__).resolve().parents[2]


def _run(*cmd: object, **kw) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert res.returncode == 0, f"{cmd}: {res.stdout}\n{res.stderr}"
    return res


@pytest.mark.slow  # builds a wheel and installs it into a new virtual environment (~20 s on 2 cores)
def test_wheel_ships_the_demo_files_and_the_installed_ssd_finds_them(tmp_path: Path) -> None:
    # Build from a copy, so the build's egg-info and build/ folders stay out of the checkout.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for pkg in ("core", "ssd_gui"):
        shutil.copytree(REPO / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", wheels, src)
    [wheel] = list(wheels.glob("ssd_desktop-*.whl"))
    assert wheel.name.startswith(f"ssd_desktop-{core.__version__}-")
    with zipfile.ZipFile(wheel) as zf:
        sizes = {i.filename: i.file_size for i in zf.infolist()}
    assert sizes["core/resources/demo_model.pt"] == DEMO_WEIGHTS.stat().st_size
    assert sizes["core/resources/demo.mp4"] == DEMO_VIDEO.stat().st_size

    # A fresh environment; its dependencies (torch, OpenCV, ...) come from this one's site-packages
    # through a .pth line, which adds the folder but runs none of the .pth files in it (so this
    # checkout's editable install stays out).
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / ("python.exe" if os.name == "nt" else "python")
    _run(sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", "-q", wheel)
    site = Path(_run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (site / "shared_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    info = _run(bindir / "ssd", "info", "demo", cwd=elsewhere, env=env).stdout
    assert f"file: {site / 'core' / 'resources' / 'demo_model.pt'}" in info and "format: own" in info
    version = _run(bindir / "ssd", "--version", cwd=elsewhere, env=env).stdout
    assert version.strip() == f"ssd {core.__version__}"
    video = _run(py, "-c", "from core.resources import DEMO_VIDEO; print(DEMO_VIDEO, DEMO_VIDEO.stat().st_size)",
                 cwd=elsewhere, env=env).stdout.split()
    assert video == [str(site / "core" / "resources" / "demo.mp4"), str(DEMO_VIDEO.stat().st_size)]


def test_the_set_up_says_how_to_install_without_cuda_with_the_makefiles_pins() -> None:
    """Issue 19, item 20: `pip install .` on a machine without a GPU pulled the CUDA build of torch (6.4 GB);
    the set-up section gives the CPU-only install, with the very versions the Makefile pins, and keeps its
    two commands."""
    import re

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    first_block = setup.split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()] == ["make run", "make test"]
    pins = re.search(r"^TORCH_PINS := (.+)$", (REPO / "Makefile").read_text(), re.M).group(1).split()
    cpu = [line for line in setup.splitlines() if "--index-url https://download.pytorch.org/whl/cpu" in line]
    assert cpu and all(pin in cpu[0] for pin in pins), (cpu, pins)
