"""A Detector whose network runs outside PyTorch's eager mode: OpenVINO, or a TorchScript file.

Preprocessing, postprocessing and the default boxes are the base class's (core.detector.Detector),
so every runtime computes detections with the same code; only :meth:`forward` differs.
"""
from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import Tensor

from core.config import SSDConfig
from core.detector import Detector
from core.model import SSD, build_model

Network = Callable[[Tensor], tuple[Tensor, Tensor]]


def _priors_only_model(config: SSDConfig) -> SSD:
    """The SSD module of ``config`` with uninitialised weights, used only for its default boxes.

    Built on the meta device and given empty CPU storage: no initialisation work, and the pages of
    its weights are never touched. Exported files carry no torch weights; their network is elsewhere.
    """
    with torch.device("meta"):
        model = build_model(config.model)
    return model.to_empty(device="cpu")


class NetworkDetector(Detector):
    """A :class:`~core.detector.Detector` that runs ``network`` instead of its torch model.

    Attributes (besides the base class's):
        runtime: "openvino" or "torch" (TorchScript file), for display.
        precision: "fp32" or "int8".
        network: the callable ``images Tensor[N, 3, S, S] -> (cls_logits [N, P, C], bbox_regression [N, P, 4])``.
        model: the torch SSD when the detector was built from a checkpoint, else None.
        runtime_info: {"cache": "hit" | "stored" | "uncached" | "none", "cache_entry": str | None,
            "calibration": record | None, "notes": [sentences for the user]}.
    """

    def __init__(self, network: Network, config: SSDConfig, class_names: Sequence[str], *, runtime: str,
                 precision: str, model: SSD | None = None, weights_path: Path | None = None,
                 weights_format: str = "own", meta: dict[str, Any] | None = None,
                 runtime_info: dict[str, Any] | None = None) -> None:
        # The base class validates torch precisions and moves the model; this network is already
        # compiled for its own precision, so the base class sees fp32 and the attribute is set after.
        super().__init__(model if model is not None else _priors_only_model(config), config, class_names, "cpu",
                         "fp32", weights_path, weights_format, meta)
        if model is None:
            self.model = None  # type: ignore[assignment]
        self.runtime = runtime
        self.precision = precision
        self.network = network
        self.runtime_info = dict(runtime_info or {"cache": "none", "notes": []})

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Network outputs (cls_logits [N, P, C], bbox_regression [N, P, 4]) in float32 on the CPU."""
        with torch.no_grad():
            logits, deltas = self.network(x)
        return logits.float(), deltas.float()

    @contextlib.contextmanager
    def _outputs_for_decode(self, x: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """A network that can lend its output buffers (OpenVINO's request) does so for the ``with`` block: the
        postprocess reads them in place and keeps nothing of them, and no other call can run the network
        until the block ends. Otherwise :meth:`forward`'s outputs."""
        lend = getattr(self.network, "lent_outputs", None)
        if lend is None:
            yield self.forward(x)
            return
        with torch.no_grad(), lend(x) as (logits, deltas):
            yield logits, deltas


class TorchScriptNetwork:
    """A TorchScript network as a callable; a fixed-batch trace runs larger inputs in chunks (last padded)."""

    def __init__(self, module: torch.jit.ScriptModule, batch: int | None) -> None:
        self.module = module
        self.batch = batch

    def __call__(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b = self.batch or x.shape[0]
        outs: list[tuple[Tensor, Tensor]] = []
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", FutureWarning)
            for start in range(0, x.shape[0], b):
                chunk = x[start:start + b]
                n = chunk.shape[0]
                if n < b:
                    chunk = torch.cat([chunk, chunk.new_zeros((b - n, *chunk.shape[1:]))])
                logits, deltas = self.module(chunk)
                outs.append((logits[:n], deltas[:n]))
        return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])
