"""This project's checkpoints as files: writing them atomically, reading any weights file with
``torch.load(weights_only=True)``, and the checks every state dict passes (tensors only, finite values,
layer names and shapes that fit the model).

Recognising a file's layout and turning it into a detector's weights is :mod:`core.weights.load`.
"""
from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from core.config import SSDConfig
from core.io.fileio import atomic_path

FORMAT = "ssd-desktop/1"


@dataclass
class LoadedWeights:
    """A weights file, understood.

    Attributes:
        format: "own", "torchvision", "ssd.pytorch", "vgg16-imagenet" or one of ``core.weights.importers.FORMATS``.
        config: the detector configuration (None for a bare ImageNet classifier).
        class_names: index 0 is "__background__".
        state_dict: in this project's layout (core.model.SSD), or the raw VGG16 dict.
        meta: training metadata from own checkpoints (iterations, dataset, mAP, ...).
        path: the file.
    """

    format: str
    config: SSDConfig | None
    class_names: tuple[str, ...]
    state_dict: dict[str, Tensor]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


# ------------------------------------------------------------------------------------ saving

def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename: a crash never leaves half a file.

    A full disk raises ``OSError`` saying "no space left on device (the previous version is intact)".
    """
    with atomic_path(path, "checkpoint") as tmp:
        with open(tmp, "wb") as f:
            sink = _WriteErrors(f)
            try:
                torch.save(obj, sink)
            except RuntimeError:
                # torch's zip writer turns a failed write into "enforce fail at inline_container.cc";
                # the OSError behind it (ENOSPC, EIO) is the one to report.
                if sink.error is not None:
                    raise sink.error from None
                raise
            f.flush()
    return Path(path)


class _WriteErrors:
    """A binary file for ``torch.save`` that keeps the ``OSError`` of a failed write in ``error``."""

    def __init__(self, f: Any) -> None:
        self._f, self.error = f, None

    def write(self, data: Any) -> int:
        try:
            return self._f.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self._f.flush()


def checkpoint_dict(model: nn.Module, config: SSDConfig, class_names: tuple[str, ...] | list[str],
                    meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The project's checkpoint as a plain dict (see module docstring)."""
    if len(class_names) != config.model.num_classes:
        raise ValueError(f"{len(class_names)} class names for a model with {config.model.num_classes} classes")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {"format": FORMAT, "config": config.to_dict(), "class_names": list(class_names),
            "model": state, "meta": dict(meta or {})}


def save_checkpoint(path: str | Path, model: nn.Module, config: SSDConfig,
                    class_names: tuple[str, ...] | list[str], meta: Mapping[str, Any] | None = None,
                    **extra: Any) -> Path:
    """Write a detector checkpoint atomically; ``extra`` adds keys (optimizer state, iteration, ...)."""
    ckpt = checkpoint_dict(model, config, class_names, meta)
    ckpt.update(extra)
    return atomic_save(ckpt, path)


# ----------------------------------------------------------------------------------- loading

def read_file(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU with errors that say what the file is."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"weights file not found: '{p}'")
    if p.is_dir():
        raise ValueError(f"'{p}' is a folder, not a weights file")
    if p.stat().st_size == 0:
        raise ValueError(f"'{p}' is empty, not a weights file")
    if looks_like_torchscript(p):
        raise ValueError(torchscript_named_as_weights(p))
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        if "Unsupported operand" in msg:  # the unpickler met bytes that are no pickle opcode: not a pickle at all
            raise ValueError(f"'{p}' is not a PyTorch weights file: it is neither a torch.save archive nor a pickle "
                             f"(an exported network? those are read from a .onnx, .xml or .torchscript name)") from None
        if "Weights only load failed" in msg or "weights_only" in msg:
            raise ValueError(
                f"'{p}' was refused by torch.load(weights_only=True): it stores Python objects, not only tensors. "
                f"Re-save it as a state dict (torch.save(model.state_dict(), path)) from a trusted source."
            ) from None
        raise ValueError(f"'{p}' is not a PyTorch weights file ({msg.splitlines()[0][:120]})") from None
    except Exception as exc:  # torch's unpickler fails on garbage with many exception types (IndexError, ...)
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ValueError(f"'{p}' is not a PyTorch weights file ({first})") from None


def check_finite(state_dict: Mapping[str, Tensor], source: str | Path) -> None:
    """Raise a ValueError naming the first tensor that holds NaN or infinity (a diverged training
    saves such weights; they would give NaN boxes or no detections at all, silently)."""
    for k, v in state_dict.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            bad = int((~torch.isfinite(v)).sum())
            raise ValueError(f"'{source}': tensor {k} holds {bad} non-finite value(s) (NaN or infinity) among "
                             f"{v.numel()}: these weights are broken (a training that diverged?); use an earlier "
                             f"checkpoint")


def as_state_dict(obj: Any, p: Path, what: str = "the file") -> dict[str, Tensor]:
    """``obj`` as a state dict (layer name -> tensor, any DataParallel ``module.`` prefix removed), or a
    ValueError naming the file ``p`` and the entry that is not a tensor."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"'{p}': {what} is a {type(obj).__name__}, expected a state dict (layer name -> tensor)")
    out = {}
    for k, v in obj.items():
        if not isinstance(v, Tensor):
            raise ValueError(f"'{p}': entry {k!r} is a {type(v).__name__}, expected a tensor")
        out[strip_module(k)] = v
    return out


def strip_module(k: Any) -> Any:
    """A state-dict key without DataParallel's ``module.`` prefix."""
    return k[7:] if isinstance(k, str) and k.startswith("module.") else k


def load_state_into(model: nn.Module, state_dict: Mapping[str, Tensor], source: str | Path) -> None:
    """Strict load that names the first mismatched layer and both shapes instead of torch's wall of text."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    for k, v in state_dict.items():
        if k in own and tuple(own[k].shape) != tuple(v.shape):
            raise ValueError(f"'{source}': layer {k} has shape {tuple(v.shape)} in the file but the model expects "
                             f"{tuple(own[k].shape)}: the file is for another architecture or class count")
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} layers (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected layers (e.g. {unexpected[0]})")
        raise ValueError(f"'{source}': does not fit the model: " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)


#: Suffix of an exported TorchScript archive (``ssd export --format torchscript`` writes it); the only
#: name under which one is ever opened (see :mod:`core.model_spec`).
TORCHSCRIPT_SUFFIX = ".torchscript"
#: What opting in to a model that runs code looks like, for messages.
TRUST_HINT = "load it only if you trust whoever wrote it: pass --trust-code to the ssd command, or confirm in the app"


def looks_like_torchscript(path: str | Path) -> bool:
    """True when ``path`` is a zip archive laid out as TorchScript saves one (``code/`` and
    ``constants.pkl``). Reads the zip's listing only: nothing in the file is loaded or run."""
    p = Path(path)
    try:
        if not (p.is_file() and zipfile.is_zipfile(p)):
            return False
        with zipfile.ZipFile(p) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)


def torchscript_named_as_weights(path: Path) -> str:
    """The message for a TorchScript archive met where weights (a checkpoint) were expected."""
    return (f"'{path}' is a TorchScript archive (code that runs when it is opened), not a weights file: it is never "
            f"opened under the name '{path.name}'. If you trust whoever wrote it, rename it to "
            f"'{path.stem}{TORCHSCRIPT_SUFFIX}' and {TRUST_HINT.split(': ', 1)[1]}")
