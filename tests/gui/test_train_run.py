"""What a new user meets in the Train view: a dialog made from TrainConfig's own field descriptions,
defaults that fit this machine, settings that are remembered, Resume after Stop continuing the same
run in the same folder, and plots with readable axes that start clean for each run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QStandardPaths, Qt

from core.engine import TrainConfig, read_metrics_csv, train_fields
from core.config import ARCHITECTURES, default_arch
from ssd_gui.dialogs.train_dialog import HIDDEN_FIELDS, TrainDialog, suggested_config
from ssd_gui.main_window import MainWindow
from ssd_gui.views.train_view import TrainView
from ssd_gui.widgets.plots import IterationAxis, LogAxis

WAIT_MS = 120_000
TINY = dict(data_format="synthetic", synthetic_count=4, synthetic_size=300, val_split=None, width=0.125,
            batch_size=2, warmup_iters=0, augment="none", checkpoint_every=0, num_workers=0)


def test_the_dialog_is_made_from_the_config_field_specs(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = TrainDialog(devices=["cpu"])
    qtbot.addWidget(dialog)
    shown = set(dialog.editors)
    assert shown == {s.name for s in train_fields()} - HIDDEN_FIELDS
    for spec in train_fields():
        if spec.name in shown:
            assert spec.help[:20].lower() in dialog.editors[spec.name].widget.toolTip().lower(), spec.name
    for cfg in (TrainConfig(), TrainConfig(**TINY, epochs=3, lr=3e-4, milestones=(0.5,), max_iterations=7,
                                           num_threads=2, out_dir="/tmp/x", seed=5)):
        dialog.set_config(cfg)
        assert dialog.config() == cfg  # every value goes into a field and comes back unchanged
    dialog.widget("batch_size").setValue(0)  # below the spec's minimum: the spin box refuses it
    assert dialog.widget("batch_size").value() == 1
    dialog.widget("lr").setText("-1")
    with pytest.raises(ValueError, match="Learning rate"):
        dialog.config()


def test_the_dialog_offers_yolo_datasets(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dialog = TrainDialog(devices=["cpu"])
    qtbot.addWidget(dialog)
    combo = dialog.format_combo
    combo.setCurrentIndex(combo.findData("yolo"))
    assert combo.currentText() == "YOLO folder (data.yaml)"
    data = dialog.editors["data_path"].widget
    assert data.mode == "dir" and "data.yaml" in data.edit.placeholderText()
    assert dialog._shown("train_split") and not dialog._shown("synthetic_count")  # a YOLO dataset has splits
    data.edit.setText(str(tmp_path / "yolo"))
    dialog.widget("train_split").setText("train")
    dialog.widget("val_split").setText("val")
    cfg = dialog.config()
    assert (cfg.data_format, cfg.data_path, cfg.train_split, cfg.val_split) == ("yolo", str(tmp_path / "yolo"),
                                                                                "train", "val")
    view = TrainView()  # a finished run on it is evaluated on its validation split, as a YOLO dataset
    qtbot.addWidget(view)
    view.state.config = cfg
    assert view.evaluation_dataset() == {"kind": "yolo", "path": str(tmp_path / "yolo"), "split": "val"}


def test_a_first_run_fits_this_machine_and_goes_to_the_data_folder(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = TrainView()
    qtbot.addWidget(view)
    dialog = view.open_dialog()
    cfg = dialog.config()
    out = Path(cfg.out_dir)
    data_dir = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation))
    # one clean folder: <data>/ssd-desktop/runs, no spaces, the app's name once (issue 19, item 19)
    assert out.is_absolute() and out.parent == data_dir.resolve() / "ssd-desktop" / "runs" and not out.exists()
    assert " " not in str(out.relative_to(data_dir.resolve())) and "SSD Detector" not in str(out)
    assert not dialog.earlier_runs.isVisibleTo(dialog)  # no runs of an earlier version here
    assert not out.is_relative_to(Path.cwd()) or Path.cwd() == Path("/")
    import torch

    if not torch.cuda.is_available():  # on a CPU: the light model and a run of a few hundred steps
        iterations = cfg.epochs * -(-cfg.synthetic_count // cfg.batch_size)
        assert cfg.arch == default_arch("cpu") and ARCHITECTURES[cfg.arch].light
        assert cfg.device == "cpu" and iterations <= 200
        assert dialog.widget("arch").currentData() == cfg.arch
    dialog.reject()
    gpu = suggested_config(["cpu", "cuda:0"], "/tmp/run")  # with a GPU: SSD300, TrainConfig's defaults there
    assert gpu.arch == default_arch("cuda") == "ssd300" and not ARCHITECTURES[gpu.arch].light


def test_runs_of_earlier_versions_stay_findable(qtbot) -> None:  # type: ignore[no-untyped-def]
    old = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)) / "runs"
    (old / "train-20240101-120000").mkdir(parents=True)
    (old / "train-20240101-120000" / "last.pt").write_bytes(b"a run of an earlier version")
    dialog = TrainDialog(devices=["cpu"])
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.earlier_runs.isVisible() and str(old.resolve()) in dialog.earlier_runs.text()
    assert (old / "train-20240101-120000" / "last.pt").read_bytes() == b"a run of an earlier version"  # untouched


def test_every_architecture_is_offered_with_its_description(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = TrainDialog(devices=["cpu"])
    qtbot.addWidget(dialog)
    dialog.show()
    combo = dialog.widget("arch")
    offered = [combo.itemData(i) for i in range(combo.count())]
    assert offered == list(ARCHITECTURES)
    for i, name in enumerate(offered):
        info = ARCHITECTURES[name]
        assert combo.itemText(i) == info.label
        assert combo.itemData(i, Qt.ItemDataRole.ToolTipRole) == info.description
        combo.setCurrentIndex(i)  # the chosen one's line is under the box and in its tooltip
        assert dialog.arch_description.text() == info.description and dialog.arch_description.isVisible()
        assert info.description in combo.toolTip() and "ssd info --models" in combo.toolTip()
        assert dialog.config().arch == name
    descriptions = {ARCHITECTURES[n].description for n in offered}
    assert len(descriptions) == len(offered) and all("parameters" in d for d in descriptions)


def test_the_dialog_remembers_the_last_settings(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    view = TrainView()
    qtbot.addWidget(view)
    dialog = view.open_dialog()
    dialog.widget("lr").setText("0.0003")
    dialog.widget("epochs").setValue(7)
    dialog.widget("data_format").setCurrentIndex(dialog.widget("data_format").findData("voc"))
    dialog.widget("data_path").setText(str(tmp_path / "no_such_voc"))
    with qtbot.waitSignal(view.run_failed, timeout=WAIT_MS):
        dialog.accept()
    again = TrainView()  # a new session: nothing in memory, only the settings file
    qtbot.addWidget(again)
    cfg = again.open_dialog().config()
    assert (cfg.lr, cfg.epochs, cfg.data_format, cfg.data_path) == (3e-4, 7, "voc", str(tmp_path / "no_such_voc"))
    assert cfg.out_dir != view.config.out_dir and cfg.resume is None


def test_resume_after_stop_continues_the_run_in_its_folder(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    win = MainWindow(start_demo=False)
    qtbot.addWidget(win)
    view = win.train_view
    train_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Train")
    assert view.resume_action in train_menu.actions() and not view.resume_action.isEnabled()
    run_dir = tmp_path / "run"
    try:
        assert view.start(TrainConfig(**TINY, epochs=5, out_dir=str(run_dir)))  # 10 iterations
        qtbot.waitUntil(lambda: view.loss_plot.points("total")[0].size >= 2 or len(view.state.points["total"][0]) >= 2,
                        timeout=WAIT_MS)
        with qtbot.waitSignal(view.run_finished, timeout=WAIT_MS) as stopped:
            qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
        first = stopped.args[0]
        assert first.stopped and first.iterations < 10
        before = view.loss_plot.points("total")
        assert view.resume_button.isEnabled() and view.resume_action.isEnabled()
        with qtbot.waitSignal(view.run_finished, timeout=WAIT_MS) as done:
            qtbot.mouseClick(view.resume_button, Qt.MouseButton.LeftButton)
            assert view.config.out_dir == str(run_dir) and view.config.resume == str(run_dir / "last.pt")
        result = done.args[0]
        assert not result.stopped and result.iterations == 10 and Path(result.run_dir) == run_dir
        x, y = view.loss_plot.points("total")
        np.testing.assert_array_equal(x, np.arange(1, 11))  # the curve carries on from the earlier points
        np.testing.assert_allclose(y[:first.iterations], before[1][:first.iterations], rtol=1e-6)
        rows = read_metrics_csv(run_dir / "metrics.csv")
        assert [r["iteration"] for r in rows] == list(range(1, 11))
        assert not view.resume_button.isEnabled()  # finished: nothing to resume
        assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no second folder
    finally:
        view.stop_and_wait()
        win.close()


def test_plots_have_readable_axes_shared_iterations_and_start_clean(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    view = TrainView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    # the learning-rate axis labels only 1, 2 and 5 times a power of ten, never every minor tick
    lr_axis = view.lr_plot.getAxis("left")
    assert isinstance(lr_axis, LogAxis)
    labels = lr_axis.logTickStrings(list(np.log10([1e-4, 1.5e-4, 2e-4, 3e-4, 5e-4, 7e-4, 1e-3])), 1.0, 1.0)
    assert labels == ["1e-4", "", "2e-4", "", "5e-4", "", "1e-3"]
    # iteration ticks are whole numbers, even over two iterations
    axis = view.loss_plot.getAxis("bottom")
    assert isinstance(axis, IterationAxis)
    ticks = [v for _, values in axis.tickValues(0.0, 2.0, 600) for v in values]
    assert ticks and all(float(v).is_integer() for v in ticks)
    loss_vb = view.loss_plot.getViewBox()

    for epochs, iterations in ((5, 10), (1, 2)):
        with qtbot.waitSignal(view.run_finished, timeout=WAIT_MS):
            assert view.start(TrainConfig(**TINY, epochs=epochs, out_dir=str(tmp_path / f"run{epochs}")))
        qtbot.wait(150)
        (x0, x1), _ = loss_vb.viewRange()
        assert view.loss_plot.points("total")[0].size == iterations
        assert x1 < iterations + 1.5, f"the x axis still spans the previous run ({x0}, {x1})"
        # the learning-rate and validation plots show the very same iterations as the loss plot
        for plot in (view.lr_plot, view.map_plot):
            assert plot.getViewBox().viewRange()[0] == pytest.approx([x0, x1])
    view.map_plot.setXRange(0.5, 1.5, padding=0)  # zooming one plot moves all three
    assert loss_vb.viewRange()[0] == pytest.approx([0.5, 1.5])
    assert view.lr_plot.getViewBox().viewRange()[0] == pytest.approx([0.5, 1.5])


def _click_when_shown(qtbot, dialog: TrainDialog, text: str) -> None:  # type: ignore[no-untyped-def]
    """Click the button labelled ``text`` of the "folder holds a run" question once it shows (it runs its own loop)."""
    from PySide6.QtCore import QTimer

    def answer() -> None:
        box = dialog.run_question
        if box is None or not box.isVisible():
            QTimer.singleShot(50, answer)
            return
        qtbot.mouseClick(next(b for b in box.buttons() if b.text() == text), Qt.MouseButton.LeftButton)
    QTimer.singleShot(50, answer)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a real two-iteration run (last.pt, model.pt, metrics.csv)."""
    from core.engine import train

    run = tmp_path_factory.mktemp("held") / "run"
    train(TrainConfig(**TINY, epochs=1, out_dir=str(run)))
    assert (run / "last.pt").is_file()
    return run


@pytest.mark.parametrize("choice", ["Cancel", "New folder", "Resume it", "Overwrite it"])
def test_the_dialog_never_replaces_a_run_unasked(qtbot, finished_run, choice) -> None:  # type: ignore[no-untyped-def]
    before = {p.name: p.stat().st_mtime_ns for p in finished_run.iterdir()}
    dialog = TrainDialog(initial=TrainConfig(**TINY, epochs=1, out_dir=str(finished_run)), devices=["cpu"])
    qtbot.addWidget(dialog)
    dialog.show()
    _click_when_shown(qtbot, dialog, choice)
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Ok), Qt.MouseButton.LeftButton)
    cfg = dialog.result_config
    if choice == "Cancel":
        assert cfg is None and dialog.isVisible()  # stays open, nothing starts
    elif choice == "New folder":
        assert Path(cfg.out_dir) != finished_run and not Path(cfg.out_dir).exists() and cfg.resume is None
        assert dialog.widget("out_dir").text() == cfg.out_dir
    elif choice == "Resume it":
        assert cfg.out_dir == str(finished_run) and cfg.resume == str(finished_run / "last.pt") and not cfg.overwrite
    else:
        assert cfg.out_dir == str(finished_run) and cfg.overwrite and cfg.resume is None
    assert {p.name: p.stat().st_mtime_ns for p in finished_run.iterdir()} == before  # the dialog itself wrote nothing


def test_the_dialog_shows_the_time_the_run_will_take(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dialog = TrainDialog(initial=TrainConfig(**TINY, epochs=3, out_dir=str(tmp_path / "r")), devices=["cpu"])
    qtbot.addWidget(dialog)
    dialog.show()  # measuring starts once the form has been still a moment
    qtbot.waitUntil(lambda: dialog.estimate.seconds is not None, timeout=WAIT_MS)
    assert 0 < dialog.estimate.seconds < 600 and "about" in dialog.estimate.text()
    dialog.widget("lr").setText("not a number")
    qtbot.waitUntil(lambda: "not valid" in dialog.estimate.text(), timeout=5000)
    assert not (tmp_path / "r").exists()  # the measurement ran in a temporary folder
    dialog.reject()


def test_the_estimate_is_shown_as_it_refines_and_start_never_waits_for_it(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19, item 18: the run's size at once, an estimate after the first timed step, refined after each."""
    from core.engine.estimate import RunEstimate

    dialog = TrainDialog(initial=TrainConfig(**TINY, epochs=3, out_dir=str(tmp_path / "r")), devices=["cpu"])
    qtbot.addWidget(dialog)
    dialog.show()
    job = dialog.estimate.measure()
    assert job is not None
    reports: list[RunEstimate] = []
    job.progress.connect(reports.append)  # called on the job's thread: a list append, nothing shown
    texts: list[str] = []
    qtbot.waitUntil(lambda: texts.append(dialog.estimate.text()) or dialog.estimate.seconds is not None,
                    timeout=WAIT_MS)
    timed = [r for r in reports if r.seconds is not None]  # (the size report may come before the connection)
    assert [r.steps_timed for r in timed] == [1, 2, 3, 3] and [r.final for r in timed] == [False] * 3 + [True]
    assert timed[-1].seconds == dialog.estimate.seconds and timed[0].iterations == 3 * 4 // TINY["batch_size"]
    assert any("timing the first training steps" in t for t in texts)
    assert any("refining" in t for t in texts), texts
    assert "from 3 timed steps)" in dialog.estimate.text() and "refining" not in dialog.estimate.text()
    # Start while a measurement runs: the dialog closes at once, the measurement is cancelled
    running = dialog.estimate.measure()
    assert running is not None and not running.done.is_set()
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert dialog.result() == dialog.DialogCode.Accepted and dialog.result_config is not None
    assert running.done.wait(60) and running.cancelled


def test_the_train_view_shows_the_dataset_warnings(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from core.data.synthetic import write_dataset

    voc = Path(write_dataset(tmp_path / "voc", count=4, seed=9, fmt="voc", size=(160, 128)))
    xml = sorted((voc / "Annotations").glob("*.xml"))[0]
    xml.write_text(xml.read_text().replace("</annotation>", "<object><name>zebra</name><bndbox><xmin>1</xmin>"
                                           "<ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>"))
    view = TrainView()
    qtbot.addWidget(view)
    cfg = TrainConfig(**{**TINY, "data_format": "voc"}, data_path=str(voc), train_split="trainval", epochs=1,
                      out_dir=str(tmp_path / "run"))
    with qtbot.waitSignal(view.run_finished, timeout=WAIT_MS):
        assert view.start(cfg)
    assert view.state.warnings and any("zebra" in w and xml.name in w for w in view.state.warnings)
    assert "zebra" in view.banner.text() and view.banner.kind == "info"
    assert "warning:" in view.log.toPlainText() and "zebra" in view.log.toPlainText()
