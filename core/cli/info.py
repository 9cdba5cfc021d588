"""`ssd info`: describe a weights file or an exported network, or list the architectures."""
from __future__ import annotations

import argparse


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a weights file or an exported network (--models: the architectures)",
                       description="Print what a weights file is: format, classes, config, parameter count. "
                                   "With --models, list the architectures `ssd train --model` takes.")
    p.add_argument("weights", metavar="W", nargs="?", help="weights file, or 'demo' for the bundled demo model")
    p.add_argument("--models", action="store_true", help="list the architectures, one line each")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from core.runtime.formats import exported_kind
    from core.text import printable
    from core.weights import describe, describe_architectures, load_weights, resolve_weights_spec

    if args.models:
        print(describe_architectures())
        return 0
    if args.weights is None:
        raise ValueError("ssd info needs a weights file W (or --models)")
    path = resolve_weights_spec(args.weights, allow_download=False)
    kind = exported_kind(path)
    if kind is not None:  # ONNX, OpenVINO IR or TorchScript written by `ssd export`
        from core.runtime.describe import describe_exported

        # Values from the file, escaped line by line (the lines are describe_exported's own).
        print("\n".join(printable(line) for line in describe_exported(path, kind).splitlines()))
        return 0
    print(describe(load_weights(path)))
    return 0
