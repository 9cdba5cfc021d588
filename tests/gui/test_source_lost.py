"""A live source that dies mid-stream (a camera unplugged) becomes a message; the app keeps running.

There is no camera on the test machines, so the unplug is simulated: a real decoded video,
presented as a live source, whose reads fail after a few frames with the very exception
``core.io.video.CameraSource`` raises when its device stops delivering frames.
"""
from __future__ import annotations

import time
from pathlib import Path


import ssd_gui.live as live
from core.config import ssd300
from core.data.synthetic import render_video
from core.model import build_model
from core.io.video import Frame, SourceReadError, VideoFileSource
from core.weights import save_checkpoint
from ssd_gui.views.detect_view import DetectView

WAIT_MS = 30_000


class UnpluggedCamera(VideoFileSource):
    """A live source that stops delivering frames after ``frames_before_unplug`` reads."""

    is_live = True

    def __init__(self, path: Path, frames_before_unplug: int = 20) -> None:
        super().__init__(path)
        self.name = "camera 0"
        self.frame_count = None
        self._left = frames_before_unplug

    def read(self) -> Frame | None:
        time.sleep(0.05)  # a camera's read() blocks until its next frame (20 fps here)
        if self._left <= 0:
            raise SourceReadError("camera 0 stopped delivering frames (unplugged or in use?)")
        self._left -= 1
        return super().read()


def test_camera_unplugged_mid_stream_is_a_message(qtbot, tmp_path: Path, monkeypatch) -> None:
    cfg = ssd300(num_classes=3, priors="voc", width=0.125)
    weights = save_checkpoint(tmp_path / "tiny.pt", build_model(cfg.model), cfg, ("__background__", "a", "b"))
    video = render_video(tmp_path / "clip.mp4", seconds=3, fps=10, seed=2, size=(160, 120))
    real_open = live.open_source
    monkeypatch.setattr(live, "open_source",
                        lambda spec: UnpluggedCamera(video) if spec == "camera:0" else real_open(spec))

    view = DetectView()
    qtbot.addWidget(view)
    view.show()
    try:
        with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS):
            view.load_model(weights)
        shown: list[object] = []
        view.result_shown.connect(shown.append)
        with qtbot.waitSignal(view.source_failed, timeout=WAIT_MS) as lost:
            view.open_source("camera:0", play=True)
        assert "stopped delivering frames" in lost.args[0]
        assert shown, "frames were detected before the camera went away"
        assert view.banner.isVisible() and "stopped delivering frames" in view.banner.text()
        assert view.source_info is None
        # the app keeps working: a file opens and is detected afterwards
        with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS,
                              check_params_cb=lambda r: r.frame.index == 0) as after:
            view.open_source(video, play=False)  # (a result still in flight from the camera may come first)
        assert view.source_info is not None and not view.source_info.is_live
        assert after.args[0].frame.image.shape == (120, 160, 3)
    finally:
        view.shutdown()
