"""Resume continues the same run: the learning rate never goes back up, the curves carry on; the time a
run will take is known before it starts; the CLI's progress line starts without a bogus rate."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from core.engine import EventKind, TrainProgress, read_metrics_csv, train
from core.engine.checkpoint import load_training_checkpoint
from core.engine.config import default_num_workers
from core.engine.estimate import _validations, estimate_run_seconds

from tests.engine.helpers import tiny_config


def _step_lrs(events: list[TrainProgress]) -> dict[int, float]:
    return {e.iteration: e.lr for e in events if e.kind == EventKind.STEP}


def test_resuming_with_more_epochs_keeps_the_decayed_learning_rate(tmp_path: Path) -> None:
    # 4 scenes, batch 2: 2 iterations per epoch; 2 epochs with one decay at half the run (after step 2)
    a = tmp_path / "a"
    first: list[TrainProgress] = []
    steps = []
    cfg = tiny_config(a, synthetic_count=4, epochs=2, milestones=(0.5,), gamma=0.1, lr=1e-3)
    train(cfg, on_progress=lambda p: (first.append(p), p.kind == EventKind.STEP and steps.append(p)),
          should_stop=lambda: len(steps) >= 2)  # polled before step 3 is reported: stops after it
    lrs = _step_lrs(first)
    assert lrs == pytest.approx({1: 1e-3, 2: 1e-3, 3: 1e-4})
    ckpt = load_training_checkpoint(a / "last.pt")
    assert ckpt["iteration"] == 3 and ckpt["schedule"]["milestone_iters"] == [2]

    # twice the epochs: re-reading the milestone as a fraction of the longer run would put it at
    # step 4 and send the rate back up to 1e-3 for step 4; it stays where the run put it
    more: list[TrainProgress] = []
    b = tmp_path / "b"  # resumed into another folder: the earlier rows come along
    result = train(tiny_config(b, synthetic_count=4, epochs=4, milestones=(0.5,), gamma=0.1, lr=1e-3,
                               resume=str(a / "last.pt")), on_progress=more.append)
    assert result.iterations == 8
    assert _step_lrs(more) == pytest.approx({i: 1e-4 for i in range(4, 9)})
    rows = read_metrics_csv(b / "metrics.csv")
    assert [r["iteration"] for r in rows] == list(range(1, 9))
    assert [r["lr"] for r in rows[:3]] == pytest.approx([1e-3, 1e-3, 1e-4])


def test_a_checkpoint_without_a_recorded_schedule_keeps_the_run_it_came_from(tmp_path: Path) -> None:
    from core.engine.schedule import schedule_for

    cfg = tiny_config(tmp_path, epochs=10, milestones=(0.5,))
    old = {"train_config": tiny_config(tmp_path, epochs=2, milestones=(0.5,)).to_dict()}
    assert schedule_for(cfg, total=40, iters_per_epoch=4, ckpt=old) == (4,)
    assert schedule_for(cfg, total=40, iters_per_epoch=4, ckpt=None) == (20,)


def test_estimate_is_a_positive_finite_number_of_seconds(tmp_path: Path) -> None:
    import torch

    threads = torch.get_num_threads()
    cfg = tiny_config(tmp_path / "never", epochs=3, val_split="val", val_count=4, val_seed=99, num_threads=1)
    reports: list = []
    seconds = estimate_run_seconds(cfg, on_progress=reports.append)
    assert math.isfinite(seconds) and seconds > 0
    # the run's size first (12 iterations of 2 images), then a refined figure after each of the 3 timed steps
    assert [(r.seconds is None, r.iterations, r.batch_size, r.steps_timed, r.final) for r in reports] == [
        (True, 12, 2, 0, False), (False, 12, 2, 1, False), (False, 12, 2, 2, False), (False, 12, 2, 3, False),
        (False, 12, 2, 3, True)]
    assert reports[-1].seconds == seconds
    assert not (tmp_path / "never").exists() and torch.get_num_threads() == threads
    # three epochs of 4 iterations take longer than one
    assert estimate_run_seconds(tiny_config(tmp_path / "never", epochs=1, num_threads=1)) < seconds * 2
    assert _validations(cfg, total=12, iters_per_epoch=4, done=0) == 3
    assert _validations(tiny_config(tmp_path, val_split="v", val_seed=9, val_every_epochs=0), 12, 4, 4) == 1


def test_default_workers_follow_the_core_count() -> None:
    assert [default_num_workers(n) for n in (1, 2, 4, 8, 64)] == [1, 1, 2, 4, 4]


def test_progress_bar_shows_no_rate_before_it_can_measure_one(capsys: pytest.CaptureFixture[str]) -> None:
    from core.cli.progress import ProgressBar

    bar = ProgressBar("train", 200, start=100)  # a run resumed at iteration 100
    bar.update(1)
    first = capsys.readouterr().err
    assert "101/200" in first and "–/s" in first and "eta –" in first, first
    import time

    time.sleep(0.15)
    bar.update(1)
    second = capsys.readouterr().err
    rate = float(re.search(r"([0-9.]+)/s", second).group(1))
    assert 0 < rate < 100, second  # one step in ~0.15 s, not 102 steps


def test_cli_resume_alone_continues_the_run_in_its_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from core.cli import main

    run = tmp_path / "run"
    rc = main(["train", "--format", "synthetic", "--synthetic-count", "4", "--synthetic-size", "64", "--val-split",
               "none", "--width", "0.05", "--batch-size", "2", "--epochs", "1", "--optimizer", "adam", "--workers",
               "0", "--threads", "1", "--out", str(run)])
    assert rc == 0
    capsys.readouterr()
    rc = main(["train", "--resume", str(run / "last.pt"), "--epochs", "2"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "finished after 4 iterations" in err and f"resumed from '{run / 'last.pt'}' at iteration 2" in err
    saved = load_training_checkpoint(run / "last.pt")["train_config"]
    assert saved["width"] == 0.05 and saved["epochs"] == 2 and saved["synthetic_size"] == 64
    assert [r["iteration"] for r in read_metrics_csv(run / "metrics.csv")] == [1, 2, 3, 4]


def test_resuming_with_fewer_epochs_warns_that_the_kept_decay_now_falls_after_the_end(tmp_path: Path) -> None:
    # 2 iterations per epoch; 3 epochs decay after step 3 (half of 6); stopped after step 1
    a = tmp_path / "a"
    steps: list[TrainProgress] = []
    train(tiny_config(a, synthetic_count=4, epochs=3, milestones=(0.5,), lr=1e-3),
          on_progress=lambda p: p.kind == EventKind.STEP and steps.append(p), should_stop=lambda: len(steps) >= 1)
    assert load_training_checkpoint(a / "last.pt")["schedule"] == {"milestone_iters": [3], "total_iterations": 6}

    def warnings(epochs: int, out: str) -> list[str]:
        events: list[TrainProgress] = []
        train(tiny_config(tmp_path / out, synthetic_count=4, epochs=epochs, milestones=(0.5,), lr=1e-3,
                          resume=str(a / "last.pt")), on_progress=events.append)
        return [e.message for e in events if e.kind == EventKind.WARNING and "decay" in e.message]

    # one epoch (2 iterations): the decay after step 3 never comes, and the user is told so, by file
    [message] = warnings(1, "short")
    assert str(a / "last.pt") in message and "after iteration 3" in message and "(2 iterations)" in message
    assert warnings(3, "same") == []  # the run as it was set up: the decay lies inside it
