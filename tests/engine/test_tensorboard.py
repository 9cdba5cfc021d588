"""TensorBoard event files of every run, read back with TensorBoard's own event reader."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from core.engine import train
from core.engine.tensorboard import read_scalars
from tests.engine.helpers import tiny_config


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_two_iterations_write_event_files_with_the_logged_scalars(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    result = train(tiny_config(run, max_iterations=2, val_split="val", val_count=3))
    assert list(run.glob("events.out.tfevents.*")), sorted(p.name for p in run.iterdir())
    scalars = read_scalars(run)
    rows = _csv(result.metrics_csv)
    for tag, column in (("loss/total", "loss"), ("loss/loc", "loc_loss"), ("loss/conf", "conf_loss"), ("lr", "lr"),
                        ("speed/images_per_s", "images_per_s")):
        assert [s for s, _ in scalars[tag]] == [1, 2], tag
        assert [v for _, v in scalars[tag]] == pytest.approx([float(r[column]) for r in rows], rel=1e-6), tag
    assert "loss/distill" not in scalars  # no teacher, no term
    assert scalars["val/map_voc07"] == [(2, pytest.approx(result.val_map, rel=1e-6))]
    acc = EventAccumulator(str(run), size_guidance={"images": 0})
    acc.Reload()
    images = [t for t in acc.Tags()["images"] if t.startswith("val/predictions/")]
    assert len(images) == 3  # the three validation scenes, with the model's boxes drawn
    shot = acc.Images(images[0])[0]
    assert shot.step == 2 and shot.width == shot.height == 64 and shot.encoded_image_string[:4] == b"\x89PNG"


def test_a_resumed_run_drops_the_steps_its_checkpoint_does_not_hold(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_config(run, max_iterations=2))
    shutil.copy(run / "last.pt", tmp_path / "at2.pt")
    train(tiny_config(run, resume=str(run / "last.pt"), max_iterations=4))
    assert [s for s, _ in read_scalars(run)["loss/total"]] == [1, 2, 3, 4]
    # a kill after step 4 whose last checkpoint was step 2: the run resumes there and logs 3 again
    shutil.copy(tmp_path / "at2.pt", run / "last.pt")
    train(tiny_config(run, resume=str(run / "last.pt"), max_iterations=3))
    steps = [s for s, _ in read_scalars(run)["loss/total"]]
    assert steps == [1, 2, 3]
    assert [int(r["iteration"]) for r in _csv(run / "metrics.csv")] == steps  # the same story as metrics.csv


def test_a_full_disk_stops_tensorboard_with_one_line_and_no_thread_traceback(full_disk, capfd) -> None:  # type: ignore[no-untyped-def]
    """Issue 19, item 12: TensorBoard's writer thread on a full disk printed a raw traceback; now the run
    reports one warning naming the event file and the room left (the checkpoint's own error follows)."""
    from core.engine import EventKind

    if not full_disk.real:
        pytest.skip("needs a real full disk: a tmpfs, which only root can mount here")
    run = Path(full_disk.folder) / "run"
    cfg = tiny_config(run, width=0.01, optimizer="sgd", momentum=0.0, max_iterations=2, val_split="val", val_count=3)
    events = []

    def fill_at_the_first_step(p) -> None:  # type: ignore[no-untyped-def]
        events.append(p)
        if p.kind == EventKind.STEP and not (Path(full_disk.folder) / ".filler").exists():
            full_disk.fill()

    with pytest.raises(OSError, match="no space left on device"):
        train(cfg, on_progress=fill_at_the_first_step)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception in thread" not in err, err
    [warning] = [p.message for p in events if p.kind == EventKind.WARNING and "TensorBoard" in p.message]
    assert "could not write its event file" in warning and str(run / "events.out.tfevents.") in warning
    assert "no space left on device" in warning and f"0 bytes free in {run}" in warning
    assert "training goes on" in warning and "\n" not in warning
