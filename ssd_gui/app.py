"""Starts the desktop app: ``python main.py``, ``ssd-gui`` or ``make run``.

With no arguments the window opens with the bundled demo model loaded and the demo video
playing. ``--weights`` and ``--source`` replace them.

For scripted runs (the Xvfb smoke test, screenshots on a headless machine), the
environment variable ``SSD_GUI_SCREENSHOT=path.png`` makes the app grab the screen from
the display server once the first frame with a model is shown (or after
``SSD_GUI_SCREENSHOT_TIMEOUT`` seconds, default 30), save it, and quit with exit code 0
(3 when the grab failed).
"""
from __future__ import annotations

import gc
import os

# Set before torch loads OpenMP: spinning idle OpenMP threads starve the GUI and reader
# threads on machines with few cores, while sleeping ones cost nothing measurable here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Sequence  # noqa: E402

from PySide6.QtCore import QObject, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from ssd_gui import settings  # noqa: E402
from ssd_gui.main_window import MainWindow  # noqa: E402


def pyside_loses_none_references(calls: int = 200) -> bool:
    """True when this PySide6 build forgets to count the ``None`` its void methods return.

    PySide6 6.12.0 on Python 3.11 does (Python 3.12 made ``None`` immortal, which hides it):
    every call such as ``label.setText(...)`` then lowers None's reference count by one,
    and the interpreter aborts with "none_dealloc" after some seconds of video.
    """
    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(calls):
        obj.setObjectName("probe")
    return sys.getrefcount(None) < before - calls // 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssd-gui", description="SSD object detection desktop app.")
    p.add_argument("--weights", help="weights file to load instead of the demo model "
                                     "(own checkpoint, torchvision or ssd.pytorch file)")
    p.add_argument("--source", help="video, image, folder or camera:N to open instead of the demo video")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cpu)")
    p.add_argument("--no-demo", action="store_true", help="start empty, without the demo model and video")
    return p


def _screenshot_when_ready(app: QApplication, window: MainWindow, path: Path, timeout_s: float) -> None:
    """Grab the screen once a detection result with a model is shown, save it, quit."""
    done = False

    def grab() -> None:
        nonlocal done
        if done:
            return
        done = True
        app.processEvents()
        screen = window.screen() or app.primaryScreen()
        # grabWindow(0) reads the whole screen back from the display server: it shows what was
        # really mapped, unlike QWidget.grab(), which only re-renders the widget tree.
        pixmap = screen.grabWindow(0) if screen is not None else None
        ok = pixmap is not None and not pixmap.isNull() and pixmap.save(str(path))
        print(f"ssd-gui: screenshot {'saved to' if ok else 'FAILED for'} {path}", flush=True)
        app.exit(0 if ok else 3)

    def on_result(result: object) -> None:
        if window.detect_view.detector is not None:
            QTimer.singleShot(500, grab)  # let the paint and the status bar settle

    window.detect_view.result_shown.connect(on_result)
    QTimer.singleShot(int(timeout_s * 1000), grab)


def freeze_startup_objects() -> None:
    """Collect once, then move every object alive now (torch, Qt, the views) to the collector's
    permanent generation.

    Python's full cyclic collection walks every tracked object; with torch and Qt loaded that is
    a pause of a couple of hundred milliseconds on whichever thread triggers it, the GUI thread
    included. Frozen start-up objects are never walked again.
    """
    gc.collect()
    gc.freeze()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if pyside_loses_none_references():
        import PySide6

        print(f"ssd-gui: warning: PySide6 {PySide6.__version__} on Python {sys.version.split()[0]} has a reference "
              f"counting bug that crashes the app after a while; install another release, e.g. "
              f"pip install 'PySide6-Essentials==6.11.3'", file=sys.stderr)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(settings.APPLICATION)
    app.setOrganizationName(settings.ORGANIZATION)
    # Ctrl+C in the terminal closes the window instead of being swallowed by Qt's loop.
    signal.signal(signal.SIGINT, lambda *_: app.quit())
    wake = QTimer()  # Python runs signal handlers only when it gets control back from Qt
    wake.timeout.connect(lambda: None)
    wake.start(250)

    use_demo = not (args.no_demo or args.weights or args.source)
    window = MainWindow(start_demo=use_demo, device=args.device)
    view = window.detect_view
    if not use_demo and not args.no_demo:
        from core.detector import DEMO_VIDEO, DEMO_WEIGHTS

        weights = args.weights or (str(DEMO_WEIGHTS) if DEMO_WEIGHTS.is_file() else None)
        source = args.source or (str(DEMO_VIDEO) if DEMO_VIDEO.is_file() else None)
        if weights:
            view.load_model(weights)
        if source:
            view.open_source(source)
    window.show()
    freeze_startup_objects()

    shot = os.environ.get("SSD_GUI_SCREENSHOT")
    if shot:
        _screenshot_when_ready(app, window, Path(shot), float(os.environ.get("SSD_GUI_SCREENSHOT_TIMEOUT", "30")))
    code = app.exec()
    window.close()
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
