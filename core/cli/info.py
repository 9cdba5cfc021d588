"""`ssd info`: describe a weights file or an exported network, or list the architectures."""
from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from core.io.text import printable

if TYPE_CHECKING:  # core.weights imports torch: `ssd --help` stays instant without it
    from core.weights import LoadedWeights


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a weights file or an exported network (--models: the architectures)",
                       description="Print what a weights file is: format, classes, config, parameter count. "
                                   "With --models, list the architectures `ssd train --model` takes.")
    p.add_argument("weights", metavar="W", nargs="?", help="weights file, or 'demo' for the bundled demo model")
    p.add_argument("--models", action="store_true", help="list the architectures, one line each")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from core.model_spec import parse_model_spec
    from core.weights import load_weights

    if args.models:
        print(describe_architectures())
        return 0
    if args.weights is None:
        raise ValueError("ssd info needs a weights file W (or --models)")
    spec = parse_model_spec(args.weights, allow_download=False)
    if spec.teacher is not None:  # a teacher string: what it names, without loading it
        from core.io.text import printable
        from core.teachers.registry import teacher_fingerprint

        # the fingerprint reads names and hashes files; nothing of a plug-in runs, so no opt-in is needed
        print("\n".join(f"{k}: {printable(v)}" for k, v in teacher_fingerprint(spec.teacher).items()))
        return 0
    if spec.exported:  # ONNX, OpenVINO IR or TorchScript written by `ssd export`: metadata read as data
        from core.runtime.describe import describe_exported

        print(describe_exported(spec.path, spec.kind))  # every value from the file escaped there
        return 0
    print(describe(load_weights(spec.path)))
    return 0


def describe(lw: "LoadedWeights") -> str:
    """Multi-line description for ``ssd info``; every value from the file goes through
    :func:`core.io.text.printable` (class names and metadata may hold terminal escape sequences)."""
    from core.config import ARCHITECTURES

    if lw.config is None:
        n = sum(v.numel() for v in lw.state_dict.values())
        return (f"file: {printable(lw.path)}\nformat: {lw.format}\nparameters: {n:,}\n"
                "use: backbone initialisation for training")
    from core.model.size import multiply_adds

    m = lw.config.model
    n = sum(v.numel() for k, v in lw.state_dict.items() if not re.search(r"num_batches_tracked$", k))
    pr = m.priors
    # The registry's description gives the full-width network's size and speed: this model's are counted.
    design, _, origin = ARCHITECTURES[m.arch].description.rpartition("; ")
    name = design.split(":")[0]
    lines = [
        f"file: {printable(lw.path)}",
        f"format: {lw.format}",
        f"architecture: {m.arch}: {name}{f' at width {m.width:g}' if m.width != 1 else ''}, input "
        f"{m.image_size}x{m.image_size}",
        f"origin of the design: {origin}",
        f"classes: {m.num_classes - 1} + background: {', '.join(printable(c) for c in lw.class_names[1:])}",
        f"default boxes: {pr.num_priors} on feature maps {list(pr.feature_maps)}, min sizes "
        f"{[round(s, 2) for s in pr.min_sizes]}",
        f"parameters: {n:,}",
        f"multiply-adds per image: {multiply_adds(m) / 1e9:.2f} G",
    ]
    for k, v in sorted(lw.meta.items(), key=lambda kv: str(kv[0])):
        lines.append(f"{printable(k)}: {printable(v)}")
    return "\n".join(lines)


def describe_architectures() -> str:
    """One line per architecture of ``core.config.ARCHITECTURES`` (``ssd info --models``)."""
    from core.config import ARCHITECTURES

    width = max(len(name) for name in ARCHITECTURES)
    return "\n".join(f"{name:<{width}}  {a.description} [default boxes: {', '.join(a.priors)}; "
                     f"--backbone: {a.backbone_init or 'none'}]" for name, a in ARCHITECTURES.items())
