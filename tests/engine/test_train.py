"""The training loop on real (tiny) models and real synthetic data: loss falls, events, stop, NaN, CLI."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from core.resolve import load_detector
from core.engine import EventKind, NonFiniteLossError, TrainConfig, TrainProgress, train
from core.engine.checkpoint import capture_rng_state, load_training_checkpoint, restore_rng_state
from core.engine.sampler import EpochSampler, SeededSamples
from core.engine.schedule import lr_factor, milestone_iterations
from core.weights import read_file

from tests.engine.helpers import tiny_config


def test_loss_goes_down_on_a_tiny_run(tmp_path: Path) -> None:
    events: list[TrainProgress] = []
    cfg = tiny_config(tmp_path / "run", synthetic_count=2, batch_size=2, epochs=10, augment="none")
    result = train(cfg, on_progress=events.append)

    assert result.iterations == 10 and not result.stopped
    kinds = [e.kind for e in events]
    assert kinds[0] == EventKind.STARTED and kinds[-1] == EventKind.FINISHED and events[-1].path == result.checkpoint
    assert all(math.isnan(e.loss) for e in events if e.kind != EventKind.STEP)
    events = [e for e in events if e.kind == EventKind.STEP]
    losses = [e.loss for e in events]
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-3:]) < 0.6 * np.mean(losses[:3]), losses
    # every event carries every term, and the terms add up (loc weight 1)
    for e in events:
        assert e.total_iterations == 10 and e.images_per_s > 0 and 0.0 <= e.data_wait_fraction <= 1.0
        assert e.loss == pytest.approx(e.loc_loss + e.conf_loss, rel=1e-4)
    assert [e.iteration for e in events] == list(range(1, 11))
    assert [e.epoch for e in events] == list(range(1, 11))  # one step per epoch here

    with result.metrics_csv.open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["iteration"]) for r in rows] == list(range(1, 11))
    assert float(rows[-1]["loss"]) == pytest.approx(losses[-1], rel=1e-6)

    # model.pt is a detector checkpoint; last.pt is also loadable as a detector and resumable
    det = load_detector(result.checkpoint)
    assert det.class_names[0] == "__background__" and len(det.class_names) == 9
    ckpt = load_training_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["iteration"] == 10
    assert load_detector(tmp_path / "run" / "last.pt").meta["iterations"] == 10


def test_warmup_and_multistep_schedule() -> None:
    total, ms = 120, (2 / 3, 5 / 6)
    f = [lr_factor(i, 10, milestone_iterations(ms, total), 0.1) for i in range(total)]
    assert f[0] == pytest.approx(0.1) and f[4] == pytest.approx(0.5) and f[9] == pytest.approx(1.0)
    assert f[79] == pytest.approx(1.0) and f[80] == pytest.approx(0.1) and f[100] == pytest.approx(0.01)


def test_validation_map_and_best_checkpoint(tmp_path: Path) -> None:
    events: list[TrainProgress] = []
    cfg = tiny_config(tmp_path / "run", val_split="test", val_count=3, val_seed=99, epochs=2, synthetic_count=2,
                      checkpoint_every=0)
    result = train(cfg, on_progress=events.append)
    vals = [e.val_map for e in events if e.val_map is not None]
    assert [e.kind for e in events if e.val_map is not None] == [EventKind.VALIDATED] * 2
    assert len(vals) == 2 and all(0.0 <= v <= 1.0 for v in vals)
    assert result.val_map == vals[-1]
    best = read_file(tmp_path / "run" / "best.pt")
    assert best["meta"]["val_map_voc07"] == max(vals)
    with result.metrics_csv.open() as f:
        assert sum(1 for r in csv.DictReader(f) if r["val_map"] != "") == 2


def test_should_stop_saves_then_returns(tmp_path: Path) -> None:
    seen: list[int] = []

    def on_progress(p: TrainProgress) -> None:
        if p.kind == EventKind.STEP:
            seen.append(p.iteration)

    stopped: list[TrainProgress] = []
    result = train(tiny_config(tmp_path / "run", epochs=5, checkpoint_every=100),
                   on_progress=lambda p: (on_progress(p), p.kind == EventKind.STOPPED and stopped.append(p)),
                   should_stop=lambda: len(seen) >= 2)
    assert result.stopped and result.iterations == 3  # polled after each step: after steps 1, 2, 3
    assert load_training_checkpoint(tmp_path / "run" / "last.pt")["iteration"] == 3
    assert stopped and stopped[0].path == tmp_path / "run" / "last.pt" and "resume from" in stopped[0].message


def test_non_finite_loss_names_iteration_and_keeps_last_checkpoint(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "run", optimizer="sgd", lr=1e6, momentum=0.9, epochs=20, checkpoint_every=1)
    with pytest.raises(NonFiniteLossError, match=r"iteration (\d+)") as info:
        train(cfg)
    failed_at = int(__import__("re").search(r"iteration (\d+)", str(info.value)).group(1))
    assert failed_at >= 2
    ckpt = load_training_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["iteration"] == failed_at - 1
    assert f"iteration {failed_at - 1}" in str(info.value)
    assert all(bool(torch.isfinite(v).all()) for v in ckpt["model"].values() if v.is_floating_point())
    assert not list((tmp_path / "run").glob(".*.tmp"))  # no half-written temp files left


def test_rng_state_round_trips_through_weights_only_load(tmp_path: Path) -> None:
    import random

    from core.weights import atomic_save

    random.seed(5); np.random.seed(5); torch.manual_seed(5)
    state = capture_rng_state()
    atomic_save({"rng": state}, tmp_path / "rng.pt")
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.seed(1); np.random.seed(1); torch.manual_seed(1)
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


def test_epoch_sampler_shards_cover_each_epoch_once() -> None:
    a = EpochSampler(11, seed=4, rank=0, world_size=2)
    b = EpochSampler(11, seed=4, rank=1, world_size=2)
    a.set_epoch(3); b.set_epoch(3)
    keys = list(a) + list(b)
    assert len(keys) == 12 and {k[0] for k in keys} == {3}
    assert set(k[1] for k in keys) == set(range(11))
    a.set_epoch(3, start=4)
    assert list(a) == [(3, int(i)) for i in a.shard(3)[4:]]
    assert not np.array_equal(a.shard(3), a.shard(4))


def test_seeded_samples_repeat_augmentation_and_keep_caller_rng(tmp_path: Path) -> None:
    from core.config import ssd300
    from core.data.loader import build_dataset

    ds = build_dataset("synthetic", None, "", ssd300(9, "voc", 0.05).model, train=True, count=3, seed=2, size=(64, 64))
    s = SeededSamples(ds, seed=1)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    x1, b1, _ = s[(0, 1)]
    assert np.array_equal(np.random.get_state()[1], before)
    x2, b2, _ = s[(0, 1)]
    x3, _, _ = s[(1, 1)]
    assert torch.equal(x1, x2) and np.array_equal(b1, b2)
    assert not torch.equal(x1, x3)  # another epoch draws another augmentation


def test_config_rejects_bad_values_with_their_names() -> None:
    with pytest.raises(ValueError, match="optimizer='rmsprop'"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="val_seed"):
        TrainConfig(synthetic_seed=5, val_seed=5)
    with pytest.raises(ValueError, match="data_path"):
        TrainConfig(data_format="voc")


def test_resume_refuses_an_exported_model(tmp_path: Path) -> None:
    result = train(tiny_config(tmp_path / "a", max_iterations=1))
    with pytest.raises(ValueError, match="no training state"):
        train(tiny_config(tmp_path / "b", resume=str(result.checkpoint)))


def test_cli_train_runs_a_couple_of_iterations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from core.cli import main

    out = tmp_path / "cli_run"
    rc = main(["train", "--format", "synthetic", "--synthetic-count", "4", "--synthetic-size", "64",
               "--val-split", "none", "--width", "0.05", "--batch-size", "2", "--max-iterations", "2",
               "--optimizer", "adam", "--workers", "0", "--threads", "1", "--out", str(out)])
    assert rc == 0
    err = capsys.readouterr().err
    assert "finished after 2 iterations" in err and "train [" in err
    assert load_training_checkpoint(out / "last.pt")["iteration"] == 2
    assert load_detector(out / "model.pt").config.model.width == 0.05
    rc = main(["train", "--format", "voc", "--out", str(out)])
    assert rc == 2 and "data_path" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["voc", "coco"])
def test_trains_on_datasets_on_disk(tmp_path: Path, fmt: str) -> None:
    from core.cli import main
    from core.data.synthetic import SHAPE_CLASSES, write_dataset

    data = write_dataset(tmp_path / "data", count=5, seed=11, fmt=fmt, size=(64, 64))
    out = tmp_path / "run"
    val = "val" if fmt == "voc" else str(data)  # COCO validation takes an instances JSON
    rc = main(["train", "--format", fmt, "--data", str(data), "--train-split", "trainval", "--val-split", val,
               "--model", "ssd300", "--width", "0.05", "--batch-size", "2", "--epochs", "1", "--optimizer", "adam",
               "--workers", "0", "--threads", "1", "--augment", "ssd", "--out", str(out)])
    assert rc == 0
    best = read_file(out / "best.pt")
    assert tuple(best["class_names"]) == SHAPE_CLASSES  # read from the files, not assumed
    assert 0.0 <= best["meta"]["val_map_voc07"] <= 1.0
    # ceil(5 / 2) for COCO's 5 scenes; VOC's trainval is 4 of them (the test scene left out): ceil(4 / 2)
    assert load_training_checkpoint(out / "last.pt")["iteration"] == (2 if fmt == "voc" else 3)


def test_init_weights_fine_tunes_from_a_detector_file(tmp_path: Path) -> None:
    first = train(tiny_config(tmp_path / "a", max_iterations=2))
    start = read_file(first.checkpoint)["model"]
    # one step at a vanishing learning rate: the weights are the file's, the schedule starts at 1
    tuned = train(tiny_config(tmp_path / "b", init_weights=str(first.checkpoint), lr=1e-12, max_iterations=1))
    assert load_training_checkpoint(tmp_path / "b" / "last.pt")["iteration"] == 1
    after = read_file(tuned.checkpoint)["model"]
    assert max(float((after[k] - v).abs().max()) for k, v in start.items() if v.is_floating_point()) < 1e-8
    scratch = read_file(train(tiny_config(tmp_path / "c", lr=1e-12, max_iterations=1)).checkpoint)["model"]
    assert max(float((scratch[k] - v).abs().max()) for k, v in start.items() if v.is_floating_point()) > 1e-3

    # a file of another width (or class list) is refused, naming it
    other = train(tiny_config(tmp_path / "d", width=0.1, max_iterations=1))
    with pytest.raises(ValueError, match="does not match") as info:
        train(tiny_config(tmp_path / "e", init_weights=str(other.checkpoint), max_iterations=1))
    assert str(other.checkpoint) in str(info.value)
