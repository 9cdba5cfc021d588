"""`python main.py` on a real X server (Xvfb): the window maps, detections are painted, and the
screen read back from the X server shows them.

The app grabs the screen itself (``SSD_GUI_SCREENSHOT``) through the X server once the first
frame with a model is shown, then exits; this test checks the picture, so a window that never
mapped (a black root window) or a canvas without boxes fails it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.config import ssd300
from core.data.synthetic import render_video
from core.model import build_model
from core.io.drawing import class_color
from core.weights import save_checkpoint

REPO = Path(__file__).resolve().parents[2]
SCREEN = (1280, 800)

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None,
                                reason="Xvfb is not installed (the CI script installs it with apt-get)")


@pytest.fixture()
def xserver(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A private Xvfb display; yields its DISPLAY string."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as f:
            number = f.readline().strip()  # Xvfb writes its display number once it accepts clients
        if not number:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            pytest.fail(f"Xvfb did not start: {err[-500:]}")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_main_py_shows_the_window_with_detections_on_a_real_x_server(xserver: str, tmp_path: Path) -> None:
    names = ("__background__", "circle", "square", "triangle")
    cfg = ssd300(num_classes=len(names), priors="voc", width=0.125)
    weights = save_checkpoint(tmp_path / "tiny.pt", build_model(cfg.model), cfg, names)
    video = render_video(tmp_path / "clip.mp4", seconds=1.0, fps=10, seed=5, size=(160, 120))
    shot = tmp_path / "screen.png"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "WAYLAND"))}
    env.update(DISPLAY=xserver, QT_QPA_PLATFORM="xcb", SSD_GUI_SCREENSHOT=str(shot),
               SSD_GUI_SCREENSHOT_TIMEOUT="90", XDG_RUNTIME_DIR=str(tmp_path),
               # the app's settings and runs go to the test's folder, never the user's
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    proc = subprocess.run([sys.executable, "main.py", "--weights", str(weights), "--source", str(video)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    log = f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-2000:]}"
    assert proc.returncode == 0, log
    assert "screenshot saved" in proc.stdout, log

    img = cv2.imread(str(shot))
    assert img is not None, log
    assert (img.shape[1], img.shape[0]) == SCREEN
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    assert rgb.std() > 20, "the screen is (nearly) uniform: no window was mapped"
    # The untrained model's boxes are drawn in their class colours without antialiasing, so
    # those exact colours must appear on the screen read back from the X server.
    box_pixels = sum(int(np.all(rgb == class_color(label), axis=-1).sum()) for label in range(1, len(names)))
    assert box_pixels > 200, f"no detection boxes visible on the screen ({box_pixels} pixels in class colours)"
