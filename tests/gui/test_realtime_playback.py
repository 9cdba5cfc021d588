"""Real-time playback of a file: frames keep coming while the model is busy (stale ones are not
detected), and with real time off every frame goes through the model, in order."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ssd300
from core.data.synthetic import render_video
from core.model import build_model
from core.weights import save_checkpoint
from ssd_gui.views.detect_view import DetectView

WAIT_MS = 60_000


@pytest.fixture()
def setup(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    # A width-0.5 SSD300 needs far longer per frame than a 50 fps source gives it.
    cfg = ssd300(num_classes=3, priors="voc", width=0.5)
    weights = save_checkpoint(tmp_path / "slow.pt", build_model(cfg.model), cfg, ("__background__", "a", "b"))
    video = render_video(tmp_path / "fast.mp4", seconds=4, fps=50, seed=4, size=(160, 120))
    view = DetectView()
    qtbot.addWidget(view)
    view.show()
    with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS):
        view.load_model(weights)
    yield view, video
    view.shutdown()


def _play_until(qtbot, view: DetectView, n_results: int) -> list:  # type: ignore[no-untyped-def]
    results: list = []
    view.result_shown.connect(results.append)
    view.play()
    qtbot.waitUntil(lambda: len(results) >= n_results, timeout=WAIT_MS)
    view.pause()
    qtbot.waitUntil(lambda: not view.playing, timeout=WAIT_MS)
    return results


def test_real_time_keeps_the_source_rate_and_drops_stale_frames(qtbot, setup) -> None:  # type: ignore[no-untyped-def]
    view, video = setup
    assert view.transport.realtime_check.isChecked()  # the default
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS):
        view.open_source(video, play=False)
    results = _play_until(qtbot, view, 4)
    assert view.frames_shown > len(results)  # every decoded frame was drawn, not only detected ones
    assert results[-1].dropped > 0
    indices = [r.frame.index for r in results]
    assert indices == sorted(indices) and any(b - a > 1 for a, b in zip(indices, indices[1:]))


def test_without_real_time_every_frame_is_detected_in_order(qtbot, setup) -> None:  # type: ignore[no-untyped-def]
    view, video = setup
    view.transport.realtime_check.setChecked(False)
    with qtbot.waitSignal(view.result_shown, timeout=WAIT_MS):
        view.open_source(video, play=False)
    results = _play_until(qtbot, view, 4)
    indices = [r.frame.index for r in results]
    assert indices == list(range(1, len(results) + 1))  # frame 0 was shown on opening
    assert view.frames_shown == 0 and results[-1].dropped == 0
