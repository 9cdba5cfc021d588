"""The app never runs a malicious pickle either: a weights file that would run code when unpickled is
refused in the Detect view with a message naming it, the previous model stays, and the code never ran
(the file and its control case are in tests/core/test_malicious_weights.py)."""
from __future__ import annotations

from pathlib import Path

from ssd_gui.views.detect_view import DetectView
from tests.core.test_malicious_weights import malicious_weights

WAIT_MS = 20_000


def test_the_detect_view_refuses_a_malicious_pickle_and_keeps_its_model(qtbot, detect_assets, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    view = DetectView()
    qtbot.addWidget(view)
    view.show()
    try:
        with qtbot.waitSignal(view.model_changed, timeout=WAIT_MS):
            view.load_model(detect_assets["weights"])
        good = view.detector
        marker = tmp_path / "ran"
        evil = malicious_weights(tmp_path / "evil.pt", marker)
        with qtbot.waitSignal(view.model_failed, timeout=WAIT_MS) as failed:
            view.load_model(evil)
        assert "evil.pt" in failed.args[0] and "weights_only=True" in failed.args[0]
        assert view.detector is good and "Still using tiny.pt" in view.banner.text()
        assert not marker.exists()
    finally:
        view.shutdown()
