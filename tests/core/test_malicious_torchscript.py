"""A TorchScript archive never runs because of its content (issue 19, item 1).

The archive here is what the issue describes: a network written by ``ssd export --format torchscript``
wrapped with a module whose TorchScript ``__setstate__`` (run by ``torch.jit.load``) maps a victim file
with ``torch.from_file(..., shared=True)`` and overwrites it. The control case shows that loading it
the ordinary way really overwrites the victim; every ``ssd`` command that takes a model then refuses it
under a ``.pt`` name (whatever the opt-in) and under its own ``.torchscript`` name without
``--trust-code``, and the victim keeps its bytes. ``ssd info`` describes the ``.torchscript`` file from its
metadata, which it reads as a zip entry without running anything. With ``--trust-code`` the file runs,
as the user chose: the opt-in is real.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from core.cli import main

VICTIM_BYTES = b"precious data"


class _Overwriter(nn.Module):
    """Its ``__setstate__`` overwrites ``target`` when the archive is loaded (the payload)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target
        self.written = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool]:
        return (self.target, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]) -> None:
        self.target = state[0]
        self.training = state[1]
        victim = torch.from_file(self.target, shared=True, size=len("precious data"), dtype=torch.uint8)
        victim.fill_(88)  # "XXXX..."
        self.written = int(victim.sum())  # used, so the compiler keeps the write


class _Wrapped(nn.Module):
    def __init__(self, net: torch.jit.ScriptModule, target: str) -> None:
        super().__init__()
        self.net = net
        self.payload = _Overwriter(target)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(self.payload(x))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ssd export demo --format torchscript``: the real exporter's file (benign)."""
    folder = tmp_path_factory.mktemp("exported")
    out = folder / "net.torchscript"
    assert main(["export", "demo", "--format", "torchscript", "--out", str(out)]) == 0
    return out


def _evil(exported: Path, folder: Path, name: str) -> tuple[Path, Path]:
    """(the malicious archive named ``name``, its victim file)."""
    from core.runtime.formats import TORCHSCRIPT_EXTRA, read_torchscript_meta

    victim = folder / "victim.txt"
    victim.write_bytes(VICTIM_BYTES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        net = torch.jit.load(str(exported))  # our own export: loading it is safe
        scripted = torch.jit.script(_Wrapped(net, str(victim)))
        path = folder / name
        torch.jit.save(scripted, str(path), _extra_files={TORCHSCRIPT_EXTRA: read_torchscript_meta(exported).to_json()})
    assert victim.read_bytes() == VICTIM_BYTES  # saving does not run the payload
    return path, victim


def test_the_archive_really_overwrites_its_victim_when_loaded(exported: Path, tmp_path: Path) -> None:
    evil, victim = _evil(exported, tmp_path, "evil.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.load(str(evil))  # what a reader that trusts the content does
    assert victim.read_bytes() == b"X" * len(VICTIM_BYTES)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from core.data.synthetic import write_dataset

    folder = tmp_path_factory.mktemp("inputs")
    image = folder / "a.png"
    cv2.imwrite(str(image), np.full((48, 64, 3), 90, np.uint8))
    return {"image": image, "voc": write_dataset(folder / "voc", 4, seed=1, fmt="voc", size=(64, 64))}


COMMANDS = {
    "info": ["info", "{w}"],
    "detect": ["detect", "{image}", "--weights", "{w}", "--out", "{tmp}/d.json", "--runtime", "torch"],
    "eval --reference": ["eval", "--reference", "{w}", "--images", "{image}", "--weights", "demo", "--metric",
                         "voc07", "--out", "{tmp}/e", "--runtime", "torch"],
    "eval --weights": ["eval", "--gt", "{voc}", "--split", "train", "--weights", "{w}", "--metric", "voc07",
                       "--out", "{tmp}/e", "--runtime", "torch"],
    "export": ["export", "{w}", "--format", "onnx", "--out", "{tmp}/m.onnx"],
    "pseudo-label": ["pseudo-label", "{image}", "--teacher", "{w}", "--out", "{tmp}/labels", "--runtime", "torch"],
    "train --distill": ["train", "--format", "synthetic", "--model", "ssd300", "--width", "0.125", "--priors", "coco",
                        "--distill", "{w}", "--out", "{tmp}/run", "--synthetic-count", "4", "--max-iterations", "1"],
    "train --unlabelled": ["train", "--unlabelled", "{image}", "--teacher", "{w}", "--model", "ssd300", "--width",
                           "0.125", "--out", "{tmp}/run", "--max-iterations", "1"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_torchscript_archive_named_like_weights_is_never_opened(command: str, exported: Path, tmp_path: Path,
                                                                 inputs: dict[str, Path],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    evil, victim = _evil(exported, tmp_path, "evil.pt")
    args = [a.format(w=evil, tmp=tmp_path, **inputs) for a in COMMANDS[command]]
    for extra in ([], ["--trust-code"]) if command not in ("info", "export") else ([],):
        assert main(args + extra) == 2, extra
        err = capsys.readouterr().err
        assert f"'{evil}' is a TorchScript archive (code that runs when it is opened), not a weights file" in err, err
        assert "rename it to 'evil.torchscript'" in err
        assert victim.read_bytes() == VICTIM_BYTES


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in ("info", "export")])
def test_a_torchscript_file_needs_the_opt_in(command: str, exported: Path, tmp_path: Path, inputs: dict[str, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    evil, victim = _evil(exported, tmp_path, "evil.torchscript")
    args = [a.format(w=evil, tmp=tmp_path, **inputs) for a in COMMANDS[command]]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"'{evil}' is a TorchScript archive: opening it runs the TorchScript code inside it" in err, err
    assert "--trust-code" in err
    assert victim.read_bytes() == VICTIM_BYTES


def test_ssd_info_describes_a_torchscript_file_without_running_it(exported: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    evil, victim = _evil(exported, tmp_path, "evil.torchscript")
    assert main(["info", str(evil)]) == 0
    out = capsys.readouterr().out
    assert "format: TorchScript (traced; code: running it needs --trust-code), fp32" in out, out
    assert "architecture: ssd300" in out
    assert victim.read_bytes() == VICTIM_BYTES


def test_with_the_opt_in_the_file_runs_as_the_user_chose(exported: Path, tmp_path: Path, inputs: dict[str, Path],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    evil, victim = _evil(exported, tmp_path, "evil.torchscript")
    out = tmp_path / "d.json"
    assert main(["detect", str(inputs["image"]), "--weights", str(evil), "--out", str(out), "--runtime", "torch",
                 "--trust-code"]) == 0, capsys.readouterr().err
    assert out.is_file()
    assert victim.read_bytes() == b"X" * len(VICTIM_BYTES)


def test_the_loaders_refuse_it_too(exported: Path, tmp_path: Path) -> None:
    from core import load_detector
    from core.model_spec import UntrustedCodeError
    from core.runtime.formats import read_torchscript
    from core.weights import load_weights, read_file

    evil, victim = _evil(exported, tmp_path, "evil.pt")
    for load in (read_file, load_weights, load_detector):
        with pytest.raises(ValueError, match="is a TorchScript archive"):
            load(evil)
    with pytest.raises(ValueError, match="is a TorchScript archive"):
        load_detector(evil, trust_code=True)
    with pytest.raises(ValueError, match="opened only under a .torchscript name"):
        read_torchscript(evil, trust_code=True)
    named = tmp_path / "evil.torchscript"
    shutil.copy(evil, named)
    with pytest.raises(UntrustedCodeError):
        load_detector(named)
    with pytest.raises(UntrustedCodeError):
        load_detector(named, runtime="openvino")
    with pytest.raises(UntrustedCodeError):
        read_torchscript(named)
    assert victim.read_bytes() == VICTIM_BYTES
