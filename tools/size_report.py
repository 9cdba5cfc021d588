"""The house rule on size: no file in core/ or ssd_gui/ over about 400 lines and no function over
about 60 lines without a reason written at its top.

    .venv/bin/python -m tools.size_report [--max-file 400] [--max-function 60] [PATH ...]

Prints one line per offender (``path: N lines`` or ``path:LINE name(): N lines``) and exits 1
when there is any, 0 otherwise. PATH defaults to ``core`` and ``ssd_gui``.

A reason is a sentence that says the length and why, e.g. "(A little over 400 lines: the family's
registry stays next to the presets ...)": text matching ``over (about) N lines`` or ``longer than
(about) N lines``, in the module docstring or the comments above the first statement for a file,
in the docstring or the comment lines right after the ``def`` line for a function. A reason that
names a length below the limit does not count (it no longer says why the file is this long).
"""
from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
_REASON = re.compile(r"\b(?:over|longer than|more than)\s+(?:about\s+|~)?(\d+)\s+lines\b", re.IGNORECASE)


@dataclass(frozen=True)
class Offender:
    """A file or function over its limit with no reason given.

    Attributes:
        path: the file. line: the ``def`` line of a function, 0 for the file itself.
        name: the function's qualified name ("" for the file). lines: its length in lines.
        limit: the limit it is over.
    """

    path: Path
    line: int
    name: str
    lines: int
    limit: int

    def __str__(self) -> str:
        where = f"{self.path}:{self.line} {self.name}()" if self.name else f"{self.path}"
        return f"{where}: {self.lines} lines (limit {self.limit})"


def has_reason(text: str, limit: int) -> bool:
    """True when ``text`` says that the code is over ``limit`` lines (or more), e.g. "over 400 lines"."""
    return any(int(m.group(1)) >= limit for m in _REASON.finditer(text))


def _comments(source: str, first: int, last: int) -> str:
    """The comment text on lines ``first``..``last`` (1-based, inclusive) of ``source``."""
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.start[0] > last:
            break
        if tok.type == tokenize.COMMENT and tok.start[0] >= first:
            out.append(tok.string.lstrip("#"))
    return " ".join(out)


def _header(source: str, tree: ast.Module) -> str:
    """The module docstring and the comments above the first statement that is not the docstring."""
    doc = ast.get_docstring(tree) or ""
    body = tree.body[1:] if doc else tree.body
    end = body[0].lineno - 1 if body else len(source.splitlines())
    return doc + " " + _comments(source, 1, end)


def _function_header(source: str, node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The function's docstring and the comments between its ``def`` line and its first statement
    that is not the docstring (or its second line, for a one-statement function)."""
    doc = ast.get_docstring(node) or ""
    body = node.body[1:] if doc and len(node.body) > 1 else node.body
    end = max(body[0].lineno - 1, node.body[0].lineno) if body else node.lineno
    return doc + " " + _comments(source, node.lineno, end)


def _functions(tree: ast.AST, prefix: str = ""):  # type: ignore[no-untyped-def]
    """(qualified name, node) of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
            yield from _functions(node, prefix + node.name + ".")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, prefix + node.name + ".")
        else:
            yield from _functions(node, prefix)


def check_file(path: Path, max_file: int = MAX_FILE_LINES, max_function: int = MAX_FUNCTION_LINES
               ) -> list[Offender]:
    """The offenders in one Python file: the file itself and each function over its limit without a reason.

    Raises:
        ValueError naming the file when it is not valid Python.
    """
    source = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise ValueError(f"'{path}': not valid Python (line {exc.lineno}: {exc.msg})") from None
    out = []
    n = len(source.splitlines())
    if n > max_file and not has_reason(_header(source, tree), max_file):
        out.append(Offender(path, 0, "", n, max_file))
    for name, node in _functions(tree):
        length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
        if length > max_function and not has_reason(_function_header(source, node), max_function):
            out.append(Offender(path, node.lineno, name, length, max_function))
    return out


def report(paths: list[Path], max_file: int = MAX_FILE_LINES, max_function: int = MAX_FUNCTION_LINES
           ) -> list[Offender]:
    """The offenders in every ``*.py`` file under ``paths`` (files or folders), in path order."""
    files: list[Path] = []
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"no such file or folder: '{p}'")
        files.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    return [o for f in files for o in check_file(f, max_file, max_function)]


def main(argv: list[str] | None = None) -> int:
    """Print the offenders, one a line; 1 when there is any."""
    ap = argparse.ArgumentParser(prog="python -m tools.size_report", description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path, default=[Path("core"), Path("ssd_gui")])
    ap.add_argument("--max-file", type=int, default=MAX_FILE_LINES)
    ap.add_argument("--max-function", type=int, default=MAX_FUNCTION_LINES)
    args = ap.parse_args(argv)
    try:
        offenders = report(args.paths, args.max_file, args.max_function)
    except (OSError, ValueError) as exc:
        print(f"size_report: {exc}", file=sys.stderr)
        return 2
    for o in offenders:
        print(o)
    print(f"{len(offenders)} without a reason written at the top", file=sys.stderr)
    return 1 if offenders else 0


if __name__ == "__main__":
    sys.exit(main())
