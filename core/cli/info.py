"""`ssd info`: describe a weights file."""
from __future__ import annotations

import argparse


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a weights file",
                       description="Print what a weights file is: format, classes, config, parameter count.")
    p.add_argument("weights", metavar="W", help="weights file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from core.weights import describe, load_weights, resolve_weights_spec

    print(describe(load_weights(resolve_weights_spec(args.weights, allow_download=False))))
    return 0
