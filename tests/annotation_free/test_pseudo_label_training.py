"""Issue 19 items 5 and 15: training on pseudo-labels validates on frames it does not train on, whether the
user types the command `ssd pseudo-label` prints or leaves the splits out, and the dataset options that
`ssd train --unlabelled` decides are refused instead of being ignored."""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from core.cli import build_parser, main
from core.cli.train import config_from_args
from core.engine.checkpoint import saved_train_config

TINY = ["--model", "ssd300", "--priors", "coco", "--width", "0.05", "--batch-size", "2", "--max-iterations", "1",
        "--workers", "0", "--threads", "1", "--warmup-iters", "0"]


def test_the_printed_command_trains_on_train_and_validates_on_val(demo_weights: Path, short_video: Path,
                                                                  tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "labels"
    assert main(["pseudo-label", str(short_video), "--teacher", str(demo_weights), "--out", str(data), "--quiet",
                 "--score-thresh", "0.3"]) == 0
    printed = capsys.readouterr().out.splitlines()[-1]
    assert printed == (f"train on it with: ssd train --format voc --data {data} --train-split train --val-split val "
                       f"--out RUN_DIR")
    run = tmp_path / "run"
    command = shlex.split(printed.split("ssd ", 1)[1].replace("RUN_DIR", str(run)))
    assert main(command + TINY) == 0
    saved = saved_train_config(run / "last.pt")
    assert (saved["train_split"], saved["val_split"]) == ("train", "val")
    train = (data / "ImageSets" / "Main" / "train.txt").read_text().split()
    val = (data / "ImageSets" / "Main" / "val.txt").read_text().split()
    assert val and not set(train) & set(val)  # best.pt is chosen on frames the model never trained on

    # the splits left out: a pseudo-labelled folder picks train and val by itself, and says so
    args = build_parser().parse_args(["train", "--format", "voc", "--data", str(data), "--out", str(tmp_path / "r2")])
    cfg = config_from_args(args)
    assert (cfg.train_split, cfg.val_split) == ("train", "val")
    assert "is a pseudo-labelled dataset: training on its 'train' split, validating on 'val'" in capsys.readouterr().err
    given = build_parser().parse_args(["train", "--format", "voc", "--data", str(data), "--train-split", "trainval",
                                       "--val-split", "none", "--out", str(tmp_path / "r3")])
    assert (config_from_args(given).train_split, config_from_args(given).val_split) == ("trainval", None)


def test_dataset_options_with_unlabelled_are_refused(short_video: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    for extra in (["--data", str(tmp_path)], ["--format", "coco"], ["--val-split", "test"],
                  ["--train-split", "trainval"]):
        assert main(["train", "--unlabelled", str(short_video), "--teacher", "demo", *extra, *TINY,
                     "--out", str(run)]) == 2
        err = capsys.readouterr().err
        assert f"{extra[0]}: not with --unlabelled" in err and "RUN/pseudo_labels" in err
        assert not run.exists()  # refused before any frame was labelled
