"""The runtime options shared by `ssd detect` and `ssd eval`, and loading a detector with them.

``--runtime auto`` (the default) runs OpenVINO fp32 on the CPU when it is installed and PyTorch
otherwise (saying so); ``--precision int8`` quantizes with OpenVINO (cached after the first run).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from core.cli.progress import ProgressBar


def add_runtime_options(p: argparse.ArgumentParser, what: str = "") -> None:
    """``--runtime``, ``--precision`` and ``--calibration`` (``what`` prefixes their help, e.g. "with --weights: ")."""
    p.add_argument("--runtime", default="auto", choices=("auto", "torch", "openvino"),
                   help=f"{what}auto: OpenVINO on the CPU when installed (fp32/int8), else PyTorch; torch: PyTorch "
                        f"(the exact reference; bf16/fp16); openvino: the network compiled by OpenVINO (default auto)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "int8", "bf16", "fp16"),
                   help=f"{what}fp32; int8 (OpenVINO, quantized once and cached); bf16 (PyTorch, CPU/CUDA); "
                        f"fp16 (PyTorch, CUDA)")
    p.add_argument("--calibration", default=None, metavar="PATH",
                   help=f"{what}int8 calibration images: an image folder, a video or a dataset (default: the "
                        f"model's training data when its checkpoint records it, else the source being processed)")
    add_trust_code_option(p)


def add_trust_code_option(p: argparse.ArgumentParser) -> None:
    """``--trust-code``: the opt-in for models that run code when opened (see core.model_spec)."""
    p.add_argument("--trust-code", action="store_true",
                   help="allow opening a model that runs code: a .torchscript archive runs the TorchScript code "
                        "inside it, a py: plug-in its Python code (either can read and write your files). Only for "
                        "files from a source you trust; checkpoints, ONNX, OpenVINO IR, torchvision:, owlv2: and "
                        "grounding-dino: models are data and never need it")


def add_tiling_options(p: argparse.ArgumentParser, what: str = "") -> None:
    """``--tiles RxC`` and ``--tile-overlap F``: run the model on the whole frame and its tiles (core.teachers.tiling)."""
    p.add_argument("--tiles", default=None, metavar="RxC",
                   help=f"{what}also run the model on ROWSxCOLUMNS overlapping tiles of each frame, merged with the "
                        f"whole frame's boxes by NMS: small objects in large frames (SAHI-style; e.g. 2x3)")
    p.add_argument("--tile-overlap", type=float, default=0.2, metavar="F",
                   help=f"{what}overlap of neighbouring tiles, a fraction of a tile (default 0.2)")


_BARS: dict[str, ProgressBar] = {}


def show_load_progress(p: Any) -> None:
    """Progress of loading a model on stderr: a bar for calibration and quantization, a line for conversion."""
    if p.stage in ("calibration", "quantize") and p.total:
        bar = _BARS.setdefault(p.stage, ProgressBar(p.stage, p.total))
        bar.update(p.done - bar.n)
        if p.done >= p.total:
            _BARS.pop(p.stage).close()
    elif p.stage == "convert" and p.done == 0:
        print(p.detail, file=sys.stderr)


def chosen_runtime(args: argparse.Namespace) -> str:
    """The runtime ``--runtime`` resolves to on ``--device`` / ``--precision``; says on stderr when it falls back."""
    from core.runtime import choose_runtime

    runtime, note = choose_runtime(args.runtime, args.device, args.precision)
    if note:
        print(note, file=sys.stderr)
    return runtime


def tiling_from_args(args: argparse.Namespace) -> Any:
    """The :class:`core.teachers.tiling.Tiling` of ``--tiles`` / ``--tile-overlap`` (None without --tiles)."""
    from core.teachers.tiling import parse_tiling

    return parse_tiling(getattr(args, "tiles", None), getattr(args, "tile_overlap", 0.2))


def load_cli_detector(args: argparse.Namespace, weights: str, fallback: Any, optimize: bool = False) -> Any:
    """``core.load_detector`` with the options of :func:`add_runtime_options` (and ``--tiles``); notes and
    progress on stderr.

    ``fallback``: the calibration source when neither --calibration nor the checkpoint gives one.
    """
    from core.resolve import load_detector
    from core.runtime import runtime_label

    detector = load_detector(weights, device=args.device, precision=args.precision, optimize=optimize,
                             runtime=chosen_runtime(args), calibration=args.calibration, calibration_fallback=fallback,
                             on_progress=show_load_progress, trust_code=args.trust_code,
                             tiling=tiling_from_args(args))
    info = getattr(detector, "runtime_info", {})
    for line in info.get("notes", []):
        print(f"note: {line}", file=sys.stderr)
    calib = info.get("calibration")
    extra = f", calibrated on {calib.get('count')} images of {calib.get('source')}" if calib else ""
    print(f"running {runtime_label(detector)}{extra}", file=sys.stderr)
    return detector
