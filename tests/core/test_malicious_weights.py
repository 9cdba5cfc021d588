"""A malicious pickle never runs: every place that reads a weights file (detect, info, eval, export, the
three ways training starts from a file, resume, pseudo-labelling) reads it with
``torch.load(weights_only=True)`` and refuses it with a message naming the file.

The file is really malicious: unpickled the ordinary way it creates a marker file (the control case
below), so a reader that unpickles it would leave the marker behind.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.cli import main


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: a side effect anyone can check."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (str(self.marker), "w"))


def malicious_weights(path: Path, marker: Path) -> Path:
    """A torch file shaped like this project's checkpoint whose model entry runs the payload on load."""
    torch.save({"format": "ssd-desktop/1", "model": _Payload(marker), "config": {}, "class_names": []}, path)
    return path


def test_the_file_is_really_malicious(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    evil = malicious_weights(tmp_path / "evil.pt", marker)
    torch.load(evil, weights_only=False)  # what a careless reader does
    assert marker.exists()
    marker.unlink()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(evil, weights_only=True)
    assert not marker.exists()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from core.data.synthetic import write_dataset

    folder = tmp_path_factory.mktemp("inputs")
    image = folder / "a.png"
    cv2.imwrite(str(image), np.full((48, 64, 3), 90, np.uint8))
    voc = write_dataset(folder / "voc", 4, seed=1, fmt="voc", size=(64, 64))
    return {"image": image, "voc": voc}


COMMANDS = {
    "info": ["info", "{w}"],
    "detect": ["detect", "{image}", "--weights", "{w}", "--out", "{tmp}/d.json"],
    "eval": ["eval", "--gt", "{voc}", "--weights", "{w}", "--metric", "voc07", "--split", "train", "--out", "{tmp}/e"],
    "export": ["export", "{w}", "--format", "onnx", "--out", "{tmp}/m.onnx"],
    "train --resume": ["train", "--resume", "{w}"],
    "train --init": ["train", "--format", "synthetic", "--model", "ssd300", "--width", "0.125", "--init", "{w}",
                     "--out", "{tmp}/run", "--synthetic-count", "4", "--max-iterations", "1"],
    "train --backbone": ["train", "--format", "synthetic", "--model", "ssd300", "--backbone", "{w}",
                         "--out", "{tmp}/run", "--synthetic-count", "4", "--max-iterations", "1"],
    "train --distill": ["train", "--format", "synthetic", "--model", "ssd300", "--width", "0.125", "--distill", "{w}",
                        "--out", "{tmp}/run", "--synthetic-count", "4", "--max-iterations", "1"],
    "pseudo-label": ["pseudo-label", "{image}", "--teacher", "{w}", "--out", "{tmp}/labels"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_no_command_runs_a_malicious_pickle(command: str, tmp_path: Path, inputs: dict[str, Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "ran"
    evil = malicious_weights(tmp_path / "evil.pt", marker)
    args = [a.format(w=evil, tmp=tmp_path, **inputs) for a in COMMANDS[command]]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"'{evil}' was refused by torch.load(weights_only=True)" in err, err
    assert not marker.exists()


def test_loading_functions_refuse_it_too(tmp_path: Path) -> None:
    from core import load_detector
    from core.engine.checkpoint import load_training_checkpoint
    from core.weights import load_weights, read_file

    marker = tmp_path / "ran"
    evil = malicious_weights(tmp_path / "evil.pt", marker)
    for load in (read_file, load_weights, load_detector, load_training_checkpoint):
        with pytest.raises(ValueError, match="refused by torch.load"):
            load(evil)
    assert not marker.exists()
