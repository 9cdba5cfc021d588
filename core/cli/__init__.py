"""`ssd` command line: thin argument parsing over core.

One module per subcommand (detect, info, synth, train, eval, export, pseudo-label), each with ``add(subparsers)`` and
``run(args) -> int``; heavy imports happen inside the run functions so that ``ssd --help`` is
instant.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Sequence

from core.cli import detect, evaluate, export, info, pseudo_label, synth, train
from core.cli.progress import ProgressBar

__all__ = ["ProgressBar", "build_parser", "main"]

_COMMANDS = (detect, info, synth, train, evaluate, export, pseudo_label)


def build_parser() -> argparse.ArgumentParser:
    from core import __version__

    parser = argparse.ArgumentParser(prog="ssd", description="SSD object detection: detect, train, evaluate.")
    parser.add_argument("--version", action="version", version=f"ssd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ssd` console script. Errors become one line on stderr and exit code 2.

    When the reader of the output goes away (``ssd info demo | head``), the command stops quietly with
    141, as a program that the pipe's SIGPIPE ends does, instead of a "Broken pipe" message.
    """
    try:
        return _main(argv)
    except BrokenPipeError:
        # Python would flush stdout again at exit and print "Exception ignored ... BrokenPipeError".
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + signal.SIGPIPE if hasattr(signal, "SIGPIPE") else 1


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:
        raise
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        from core.io.text import printable

        print(f"ssd {args.command}: error: {printable(error_text(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ssd {args.command}: interrupted", file=sys.stderr)
        return 130


def error_text(exc: BaseException) -> str:
    """The message of ``exc`` for the user: an OSError this project raised with its own sentence
    (``OSError(errno, sentence)``) without Python's "[Errno 28]" in front of it."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is None and exc.errno is not None:
        return str(exc.strerror)
    return str(exc)
