"""TrainConfig is defined once: field specs, the CLI options derived from them, the seeds, metrics.csv."""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from core.cli import build_parser
from core.cli.train import config_from_args
from core.engine import EventKind, TrainConfig, TrainProgress, field_spec, read_metrics_csv, train_fields
from core.engine.config import GROUPS, VAL_SEED, FieldValueError
from core.engine.metrics import CSV_COLUMNS, MetricsCSV

ROOT = Path(__file__).resolve().parents[2]


def test_every_field_has_a_spec_with_its_default_group_and_flag() -> None:
    specs = train_fields()
    assert [s.name for s in specs] == [f.name for f in fields(TrainConfig)]
    defaults = TrainConfig()
    flags = set()
    for s in specs:
        assert s.default == getattr(defaults, s.name), s.name
        assert s.group in GROUPS and s.label and s.help and s.flag.startswith("--")
        assert s.flag not in flags
        flags.add(s.flag)
        if s.kind == "choice":
            assert s.default in s.choices or s.optional and s.default is None
            assert len(s.choice_labels) == len(s.choices)
        s.check(s.default) if s.default is not None else None
    assert field_spec("val_seed").default == VAL_SEED
    assert field_spec("num_workers").flag == "--workers" and field_spec("arch").flag == "--model"


def test_cli_defaults_are_the_dataclass_defaults(tmp_path: Path) -> None:
    args = build_parser().parse_args(["train", "--out", str(tmp_path / "run")])
    assert config_from_args(args) == TrainConfig(out_dir=str(tmp_path / "run"))
    args = build_parser().parse_args(["train", "--out", "r", "--milestones", "0.5,0.9", "--val-split", "none",
                                      "--max-iterations", "7", "--amp", "--threads", "1"])
    cfg = config_from_args(args)
    assert cfg.milestones == (0.5, 0.9) and cfg.val_split is None and cfg.max_iterations == 7 and cfg.amp
    assert cfg.num_threads == 1
    with pytest.raises(ValueError, match="--out"):
        config_from_args(build_parser().parse_args(["train"]))
    # --resume reads the run's saved settings (tests/engine/test_resume_schedule.py runs it): a missing file says so
    with pytest.raises(FileNotFoundError, match="last.pt"):
        config_from_args(build_parser().parse_args(["train", "--resume", str(tmp_path / "r1" / "last.pt")]))


@pytest.mark.parametrize("option, value, why", [
    ("--weight-decay", "nan", "finite"), ("--lr", "inf", "finite"), ("--lr", "0", "> 0"),
    ("--momentum", "1", "< 1"), ("--gamma", "-0.1", "> 0"), ("--epochs", "0", ">= 1"),
    ("--width", "nan", "finite"), ("--milestones", "0.9,0.5", "increasing"), ("--milestones", "0.5,nan", "finite"),
    ("--batch-size", "2.5", "int"), ("--workers", "-1", ">= 0"), ("--max-iterations", "0", ">= 1"),
])
def test_cli_refuses_non_finite_and_out_of_range_numbers_naming_the_option(option: str, value: str,
                                                                            why: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "core.cli", "train", "--out", "never_made", option, value],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert f"argument {option}" in last and why in last, last
    assert not (ROOT / "never_made").exists()


def test_config_refuses_bad_values_naming_field_and_option() -> None:
    with pytest.raises(FieldValueError, match=r"weight_decay=nan \(--weight-decay\): must be a finite number"):
        TrainConfig(weight_decay=float("nan"))
    with pytest.raises(ValueError, match=r"optimizer='rmsprop'.*choose one of"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="milestones"):
        TrainConfig(milestones=(0.5, 1.0))
    assert TrainConfig(milestones=[0.5, 0.75]).milestones == (0.5, 0.75)  # type: ignore[arg-type]
    spec = field_spec("lr")
    assert spec.parse(" 3e-4 ") == 3e-4 and spec.format(spec.default) == "0.001"
    assert field_spec("max_iterations").parse("none") is None
    with pytest.raises(FieldValueError) as info:
        field_spec("epochs").parse("ten")
    assert info.value.flag == "--epochs" and info.value.field == "epochs"


def test_seeds_are_written_once_in_core() -> None:
    literal = re.compile(r"\b(1_?000_?003)\b|\bseed\s*=\s*(2024|7)\s*[,)]|_SEED\s*=\s*\d")
    hits = []
    for path in (ROOT / "core").rglob("*.py"):
        if path.name == "config.py" and path.parent.name == "engine":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if literal.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_progress_events_have_the_job_shape() -> None:
    p = TrainProgress(iteration=3, total_iterations=12, epoch=1, loss=1.0, loc_loss=0.5, conf_loss=0.5, lr=1e-3,
                      images_per_s=2.0, eta_s=9.0, val_map=None, data_wait_fraction=0.0, message="m",
                      kind=EventKind.STEP)
    assert (p.done, p.total, p.stage, p.detail, p.fraction) == (3, 12, "step", "m", 0.25)
    assert EventKind.CHECKPOINT_SAVED == "checkpoint_saved"


def test_metrics_csv_round_trip_resume_and_a_cut_last_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    log = MetricsCSV(path, None)
    for i in range(1, 5):
        log.write({"iteration": i, "epoch": 1, "loss": 1.0 / i, "lr": 1e-3, "val_map": 0.5 if i == 4 else None})
    log.close()
    rows = read_metrics_csv(path)
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4] and rows[3]["val_map"] == 0.5 and rows[0]["val_map"] is None
    assert set(rows[0]) == set(CSV_COLUMNS)
    # a resumed run keeps the rows up to its checkpoint and appends its own
    log = MetricsCSV(path, 2)
    log.write({"iteration": 3, "epoch": 1, "loss": 9.0})
    log.close()
    assert [(r["iteration"], r["loss"]) for r in read_metrics_csv(path)] == [(1, 1.0), (2, 0.5), (3, 9.0)]
    # a row cut short by a kill is left out; a bad cell is named
    with path.open("a") as f:
        f.write("4,1,0.2")
    assert [r["iteration"] for r in read_metrics_csv(path)] == [1, 2, 3]
    path.write_text("iteration,loss\n1,abc\n2,0.5\n")
    with pytest.raises(ValueError, match=r"metrics.csv: line 2"):
        read_metrics_csv(path)
    assert read_metrics_csv(tmp_path / "none.csv") == []
