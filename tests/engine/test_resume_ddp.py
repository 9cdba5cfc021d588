"""Resume after a real SIGKILL, and DistributedDataParallel with 2 gloo processes on the CPU."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import torch

from core.engine.checkpoint import load_training_checkpoint
from core.weights import read_file

from tests.engine.helpers import CHILD, ROOT
from tests.engine.helpers import child_env as _env
from tests.engine.helpers import kill_child_at


def _losses(run: Path) -> list[tuple[int, float]]:
    with (run / "metrics.csv").open() as f:
        return [(int(r["iteration"]), float(r["loss"])) for r in csv.DictReader(f)]


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    full_dir, killed_dir = tmp_path / "full", tmp_path / "killed"
    full = subprocess.Popen([sys.executable, str(CHILD), str(full_dir), "full"], env=_env(), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    kill_child_at(killed_dir, "hang-after-5", "ITER 5 ")
    # the kill landed after step 5, so the last checkpoint is that of step 4 (mid-epoch 2)
    assert load_training_checkpoint(killed_dir / "last.pt")["iteration"] == 4
    assert not (killed_dir / "model.pt").exists()

    resumed = subprocess.run([sys.executable, str(CHILD), str(killed_dir), "resume"], env=_env(), cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    lines = resumed.stdout.splitlines()
    assert lines[0].startswith("ITER 4 nan resumed from") and "at iteration 4" in lines[0], resumed.stdout
    assert [ln.split()[1] for ln in lines[1:3]] == ["5", "6"] and lines[-1] == "DONE 6", resumed.stdout
    out, _ = full.communicate(timeout=300)
    assert full.returncode == 0 and "DONE 6" in out, out

    a, b = read_file(full_dir / "last.pt"), read_file(killed_dir / "last.pt")
    assert a["iteration"] == b["iteration"] == 6
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    for k, v in a["optimizer"]["state"].items():
        assert torch.equal(v["exp_avg"], b["optimizer"]["state"][k]["exp_avg"]), k
    # the metrics CSV of the resumed run holds each iteration once, with the uninterrupted run's losses
    assert _losses(killed_dir) == _losses(full_dir)
    assert [i for i, _ in _losses(full_dir)] == [1, 2, 3, 4, 5, 6]


def test_torchrun_two_cpu_processes_end_with_identical_weights(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(CHILD), str(tmp_path), "ddp"]
    proc = subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "RANK 0 ITERATIONS 4" in proc.stdout and "RANK 1 ITERATIONS 4" in proc.stdout  # 6 scenes / 2 ranks / 2
    w0, w1 = torch.load(tmp_path / "rank0.pt", weights_only=True), torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k, v in w0.items():
        assert torch.equal(v, w1[k]), k
    ckpt = load_training_checkpoint(tmp_path / "last.pt")
    assert ckpt["iteration"] == 4
    for k, v in w0.items():  # rank 0 wrote the checkpoint, with the weights both ranks share
        assert torch.equal(v, ckpt["model"][k]), k
    assert 0.0 <= read_file(tmp_path / "best.pt")["meta"]["val_map_voc07"] <= 1.0
    # training moved the weights away from the seeded initialisation
    from core.config import ssd300
    from core.model import build_model

    torch.manual_seed(0)
    init = build_model(ssd300(9, "voc", 0.05).model).state_dict()
    assert any(not torch.equal(init[k], v) for k, v in w0.items())
