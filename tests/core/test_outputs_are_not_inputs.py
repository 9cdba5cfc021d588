"""Issue 19 item 2: no command writes an output over one of its own inputs, whatever name (a symlink, a hard
link) the output is given, and `--save-video` never replaces an existing file without `--overwrite`.

Each case runs the real command on real files and checks the input is byte for byte what it was."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.detector import DEMO_WEIGHTS
from tests.core.videos import write_video

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A short real video and a copy of the demo model, in a folder of their own."""
    weights = tmp_path / "w.pt"
    shutil.copyfile(DEMO_WEIGHTS, weights)
    return {"video": write_video(tmp_path / "v.mp4", 4), "weights": weights}


def _refused(args: list[str], capsys: pytest.CaptureFixture, *kept: Path) -> str:
    """Run ``ssd ARGS``: exit 2 with one line on stderr, and every file of ``kept`` unchanged."""
    before = {p: p.read_bytes() for p in kept}
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for p, data in before.items():
        assert p.read_bytes() == data, f"{p} was changed"
    return err


def test_detect_never_writes_over_its_source_or_its_weights(files: dict[str, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    video, weights = files["video"], files["weights"]
    base = ["detect", str(video), "--weights", str(weights), "--no-optimize", "--runtime", "torch"]
    err = _refused(base + ["--out", str(video)], capsys, video, weights)
    assert f"detections file {video} is the source video {video}" in err
    assert "is the weights" in _refused(base + ["--out", str(weights)], capsys, video, weights)
    assert "is the source video" in _refused(base + ["--save-video", str(video), "--overwrite"], capsys, video)
    link = tmp_path / "link.json"
    link.symlink_to(video)
    assert "the same file under another name" in _refused(base + ["--out", str(link)], capsys, video)
    hard = tmp_path / "hard.mp4"
    os.link(weights, hard)
    assert "is the weights" in _refused(base + ["--save-video", str(hard), "--overwrite"], capsys, weights)
    # a folder of images: no output may be one of them
    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copyfile(ROOT / "resources" / "screenshots" / "detect.png", folder / "a.png")
    assert "is the source image" in _refused(["detect", str(folder), "--weights", str(weights), "--no-optimize",
                                              "--out", str(folder / "a.png")], capsys, folder / "a.png")


def test_save_video_onto_an_existing_file_needs_overwrite(files: dict[str, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    mine = tmp_path / "holiday.mp4"
    mine.write_bytes(b"my only copy")
    base = ["detect", str(files["video"]), "--weights", str(files["weights"]), "--no-optimize", "--runtime", "torch"]
    assert "--overwrite" in _refused(base + ["--save-video", str(mine)], capsys, mine)
    assert main(base + ["--save-video", str(mine), "--overwrite"]) == 0
    assert mine.read_bytes()[4:8] == b"ftyp"  # an MP4 now, as asked


def test_export_never_writes_over_the_weights(files: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    weights = files["weights"]
    err = _refused(["export", str(weights), "--format", "torchscript", "--out", str(weights)], capsys, weights)
    assert f"torchscript export {weights} is the weights {weights}" in err
    # an IR's .bin is written beside the .xml: a checkpoint called model.bin would be replaced by it
    named_bin = tmp_path / "model.bin"
    shutil.copyfile(weights, named_bin)
    err = _refused(["export", str(named_bin), "--format", "openvino", "--out", str(tmp_path / "model.xml")], capsys,
                   named_bin)
    assert "openvino export" in err and "model.bin is the weights" in err
    assert not (tmp_path / "model.xml").exists()


def test_eval_never_writes_over_its_detections(files: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    from core.data.synthetic import render_video

    video = render_video(tmp_path / "shapes.mp4", seconds=1, fps=4, seed=1, size=(96, 96))
    out = tmp_path / "eval"
    out.mkdir()
    dets = out / "metrics.json"
    assert main(["detect", str(video), "--weights", str(files["weights"]), "--no-optimize", "--runtime",
                 "torch", "--out", str(dets)]) == 0
    capsys.readouterr()
    err = _refused(["eval", "--reference", str(files["weights"]), "--images", str(video), "--dets", str(dets),
                    "--reference-thresh", "0.3", "--metric", "voc07", "--out", str(out), "--quiet"], capsys, dets)
    assert "metrics file" in err and "is the detections file" in err


def test_pseudo_label_never_writes_into_its_own_footage(files: dict[str, Path], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "labels"
    assert main(["pseudo-label", str(files["video"]), "--teacher", str(files["weights"]), "--out", str(data),
                 "--quiet"]) == 0
    capsys.readouterr()
    images = sorted((data / "JPEGImages").iterdir())
    err = _refused(["pseudo-label", str(data / "JPEGImages"), "--teacher", str(files["weights"]), "--out", str(data),
                    "--quiet"], capsys, *images)
    assert "is, or holds, the source" in err
    assert sorted((data / "JPEGImages").iterdir()) == images


def test_train_never_replaces_the_weights_it_starts_from(tmp_path: Path) -> None:
    """A real `ssd train --overwrite` process whose --init weights are the old run's best.pt: refused before the
    old run's files are removed (they would be, and best.pt rewritten by the new run)."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("last.pt", "best.pt"):
        shutil.copyfile(DEMO_WEIGHTS, run / name)
    before = (run / "best.pt").read_bytes()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    synthetic = ["--format", "synthetic", "--synthetic-count", "2", "--synthetic-size", "64", "--val-split", "none",
                 "--workers", "0"]
    for extra in (synthetic + ["--init", str(run / "best.pt")], synthetic + ["--distill", str(run / "best.pt")],
                  ["--unlabelled", str(write_video(tmp_path / "v.mp4", 3)), "--teacher", str(run / "best.pt")]):
        res = subprocess.run([sys.executable, "-m", "core.cli", "train", "--model", "ssd300", "--width", "0.125",
                              "--priors", "coco", "--max-iterations", "1", "--out", str(run), "--overwrite", *extra],
                             env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 2, res.stderr
        assert f"run file {run / 'best.pt'} is the" in res.stderr, res.stderr
        assert sorted(p.name for p in run.iterdir()) == ["best.pt", "last.pt"]
        assert (run / "best.pt").read_bytes() == before
