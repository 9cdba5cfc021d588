"""Save screenshots of each view for the README: ``python -m ssd_gui.screenshots --out resources/screenshots``.

Starts the app (offscreen unless a platform is chosen with ``QT_QPA_PLATFORM``), plays the
demo video with the demo model in the Detect view, pauses on a frame with detections, runs a
short real training in the Train view and evaluates the model on held-out synthetic scenes in
the Evaluate view, and saves ``detect.png``, ``train.png`` and ``evaluate.png`` with ``QWidget.grab()``
(and ``train_teacher.png`` and ``evaluate_reference.png``: the teacher kinds in the Train dialog and as the
reference; ``detect_grid.png``: the Detect view's grid, the demo video and three generated ones). Without
the demo files it uses ``--weights``/``--source``, or else an untrained tiny model and a generated video
(the boxes are then meaningless; a warning says so).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence


def _wait_until(app: "object", condition: Callable[[], bool], timeout_s: float) -> bool:
    from PySide6.QtCore import QEventLoop

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)  # type: ignore[attr-defined]
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _fallback_assets(folder: Path) -> tuple[Path, Path]:
    """An untrained tiny model and a short synthetic video, for machines without the demo files."""
    from core.config import ssd300
    from core.data.synthetic import render_video
    from core.model import build_model
    from core.weights import save_checkpoint

    names = ("__background__", "circle", "square", "triangle")
    cfg = ssd300(num_classes=len(names), priors="voc", width=0.125)
    weights = save_checkpoint(folder / "untrained_tiny.pt", build_model(cfg.model), cfg, names)
    video = render_video(folder / "synthetic.mp4", seconds=3, fps=10, seed=1, size=(480, 270))
    return Path(weights), Path(video)


def _fill_train_view(app: "object", window: "object", folder: Path, timeout_s: float) -> None:
    """A short real training run (tiny SSD300 on synthetic scenes, with validation), so the plots have curves."""
    from core.engine import TrainConfig

    view = window.train_view  # type: ignore[attr-defined]
    finished: list[object] = []
    view.run_finished.connect(finished.append)
    view.run_failed.connect(finished.append)
    cfg = TrainConfig(data_format="synthetic", synthetic_count=96, synthetic_size=300, val_count=16,
                      width=0.125, epochs=4, batch_size=8, optimizer="adam", lr=1e-3, warmup_iters=10,
                      weight_decay=0.0, augment="light", checkpoint_every=0, val_every_epochs=1, num_workers=0,
                      out_dir=str(folder / "train_run"))
    if view.start(cfg) and not _wait_until(app, lambda: bool(finished), max(timeout_s, 600.0)):
        print("warning: the screenshot training run did not finish in time", file=sys.stderr)


def _fill_evaluate_view(app: "object", window: "object", weights: Path, timeout_s: float) -> None:
    """Evaluate the shown model on held-out synthetic scenes, select three classes, set a threshold."""
    from core.engine.config import TEST_SEED

    view = window.evaluate_view  # type: ignore[attr-defined]
    done: list[object] = []
    view.evaluation_finished.connect(done.append)
    view.evaluation_failed.connect(done.append)
    view.set_model(weights)
    view.set_dataset("synthetic", count=60, seed=TEST_SEED, size=300)
    if not (view.start() and _wait_until(app, lambda: bool(done), max(timeout_s, 300.0))):
        print("warning: the screenshot evaluation did not finish in time", file=sys.stderr)
        return
    strips: list[object] = []
    view.strip_updated.connect(lambda: strips.append(1))
    view.select_classes([1, 3, 4])
    view.set_threshold(0.4)
    if not _wait_until(app, lambda: bool(strips) and view.strip.count() > 0, timeout_s):
        print("warning: the screenshot's image strip was not drawn in time", file=sys.stderr)


def _fill_detect_view(app: "object", window: "object", weights: Path, source: Path, timeout_s: float) -> bool:
    """Load the model, play the source until a few frames with detections went by, pause; False if no model."""
    view = window.detect_view  # type: ignore[attr-defined]
    results: list[object] = []
    view.result_shown.connect(results.append)
    view.load_model(weights)
    if not _wait_until(app, lambda: view.detector is not None or not view.loading_model, timeout_s) \
            or view.detector is None:
        print(f"error: the model '{weights}' did not load: {view.banner.text()}", file=sys.stderr)
        return False
    view.open_source(source, play=True)
    # A few frames in, so that the performance numbers have settled.
    ok = _wait_until(app, lambda: sum(1 for r in results if len(r.detections)) >= 8  # type: ignore[attr-defined]
                     or (len(results) >= 1 and not view.playing), timeout_s)
    view.pause()
    _wait_until(app, lambda: not view.playing, 5.0)
    if not ok:
        print(f"warning: fewer detections than expected within {timeout_s:.0f} s", file=sys.stderr)
    return True


def _grid_picture(app: "object", window: "object", folder: Path, out: Path, timeout_s: float) -> list[str]:
    """``detect_grid.png``: three generated videos opened in new tiles beside the demo video, one model for all,
    each paused once it has shown a few frames with detections."""
    from core.data.synthetic import render_video

    view = window.detect_view  # type: ignore[attr-defined]
    window.tabs.setCurrentWidget(view)  # type: ignore[attr-defined]
    shown: dict[int, int] = {}
    view.result_shown.connect(lambda r: shown.__setitem__(r.slot, shown.get(r.slot, 0) + bool(len(r.detections))))
    for seed in (2, 3, 4):
        view.open_in_new_tile(render_video(folder / f"yard_{seed}.mp4", seconds=4, fps=10, seed=seed,
                                           size=(640, 360)), play=True)
    if not _wait_until(app, lambda: len(view.tiles) == 4 and all(shown.get(t.slot, 0) >= 3 for t in view.tiles[1:]),
                       timeout_s):
        print("warning: the grid's tiles showed fewer detections than expected", file=sys.stderr)
    for tile in view.tiles:
        tile.pause()
    _wait_until(app, lambda: False, 0.5)
    path = out / "detect_grid.png"
    return [str(path)] if window.grab().save(str(path)) else []  # type: ignore[attr-defined]


def _teacher_pictures(app: "object", window: "object", out: Path) -> list[str]:
    """``train_teacher.png``: the Train dialog's teacher source with text prompts; ``evaluate_reference.png``: the
    Evaluate view's form with a torchvision detector as the reference (its Teacher menu beside it)."""
    from ssd_gui.dialogs.train_dialog import TEACHER, TrainDialog

    dialog = TrainDialog(window)  # type: ignore[arg-type]
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(TEACHER))
    dialog.teacher_fields.sources.add(["yard.mp4", "photos/"])
    dialog.teacher_fields.picker.set_text("owlv2:forklift=forklift,fork lift truck;pallet>0.3=wooden pallet;person")
    dialog.teacher_fields.widget("tiles").setText("2x2")  # type: ignore[attr-defined]
    dialog.teacher_fields.widget("score_thresh").setText("0.2")  # type: ignore[attr-defined]
    dialog.show()
    dialog.resize(max(dialog.width(), 1100), dialog.height())
    _wait_until(app, lambda: False, 0.3)
    saved = []
    for name, widget in (("train_teacher", dialog), ("evaluate_reference", None)):
        if widget is None:
            view = window.evaluate_view  # type: ignore[attr-defined]
            window.tabs.setCurrentWidget(view)  # type: ignore[attr-defined]
            view.state.set_inputs(kind="reference", reference="torchvision:fasterrcnn_resnet50_fpn_v2",
                                  path="yard.mp4")
            _wait_until(app, lambda: False, 0.3)
            widget = view.inputs
        path = out / f"{name}.png"
        if widget.grab().save(str(path)):
            saved.append(str(path))
    dialog.close()
    return saved


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ssd_gui.screenshots", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="resources/screenshots", help="output folder (created)")
    p.add_argument("--weights", help="model to show (default: the demo model)")
    p.add_argument("--source", help="video or image to show (default: the demo video)")
    p.add_argument("--size", default="1280x800", help="window size WxH")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for detections")
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from core.detector import DEMO_VIDEO, DEMO_WEIGHTS
    from ssd_gui.main_window import MainWindow

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    width, height = (int(v) for v in args.size.lower().split("x"))
    tmp = tempfile.TemporaryDirectory(prefix="ssd_screens_")
    weights = Path(args.weights) if args.weights else DEMO_WEIGHTS
    source = Path(args.source) if args.source else DEMO_VIDEO
    if not weights.is_file() or not source.is_file():
        print(f"warning: '{weights}' or '{source}' is missing: showing an untrained tiny model on a generated video",
              file=sys.stderr)
        weights, source = _fallback_assets(Path(tmp.name))

    app = QApplication.instance() or QApplication(sys.argv[:1])
    # Pictures of a fresh installation: the person's own settings (size, threshold, model) stay out of them.
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(Path(tmp.name) / "settings"))
    window = MainWindow(start_demo=False)
    window.resize(width, height)
    window.show()
    if not _fill_detect_view(app, window, weights, source, args.timeout):
        return 1
    _fill_train_view(app, window, Path(tmp.name), args.timeout)
    _fill_evaluate_view(app, window, weights, args.timeout)
    saved = []
    for index, name in enumerate(("detect", "train", "evaluate")):
        window.tabs.setCurrentIndex(index)
        _wait_until(app, lambda: False, 0.3)  # let the tab lay out and paint
        path = out / f"{name}.png"
        if not window.grab().save(str(path)):
            print(f"error: could not write '{path}'", file=sys.stderr)
            return 1
        saved.append(str(path))
    saved += _teacher_pictures(app, window, out)
    saved += _grid_picture(app, window, Path(tmp.name), out, args.timeout)
    window.close()
    tmp.cleanup()
    print("saved " + ", ".join(saved))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
