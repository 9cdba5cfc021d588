"""`ssd info`: describe a weights file."""
from __future__ import annotations

import argparse


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a weights file or an exported network",
                       description="Print what a weights file is: format, classes, config, parameter count.")
    p.add_argument("weights", metavar="W", help="weights file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from core.runtime.formats import exported_kind
    from core.weights import describe, load_weights, resolve_weights_spec

    path = resolve_weights_spec(args.weights, allow_download=False)
    kind = exported_kind(path)
    if kind is not None:  # ONNX, OpenVINO IR or TorchScript written by `ssd export`
        from core.runtime.describe import describe_exported

        print(describe_exported(path, kind))
        return 0
    print(describe(load_weights(path)))
    return 0
