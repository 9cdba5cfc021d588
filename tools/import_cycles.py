"""The house rule on imports: no module of core/ or ssd_gui/ imports another that imports it back,
directly or through others (every ``import`` counts, at the top of a file or inside a function).

    .venv/bin/python -m tools.import_cycles [PATH ...]

Prints one line per circle (``a.py -> b.py -> a.py``) and exits 1 when there is any, 0 otherwise.
PATH defaults to ``core`` and ``ssd_gui``; module names are resolved against the folder the command
runs in. ``from package import name`` is an import of ``package/name.py`` when that file exists, else
of the package's ``__init__.py``.
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def module_files(roots: list[Path]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under ``roots`` (a package is its ``__init__.py``)."""
    out = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            parts = list(path.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imports_of(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The modules of ``modules`` that the file ``path`` (module ``name``) imports anywhere in its code."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(_known(alias.name, modules))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[:len(parent) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else _known(base, modules))
    found.discard(None)  # type: ignore[arg-type]
    found.discard(name)
    return found  # type: ignore[return-value]


def _known(dotted: str, modules: dict[str, Path]) -> str | None:
    """``dotted`` or its nearest enclosing module among ``modules`` (None outside the tree)."""
    parts = dotted.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def import_graph(roots: list[Path]) -> dict[str, set[str]]:
    """Module -> the modules of the tree it imports."""
    modules = module_files(roots)
    return {name: imports_of(path, name, modules) for name, path in modules.items()}


def cycle_path(comp: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One closed walk through a circle, for the message: from its first module back to it."""
    start = comp[0]
    members = set(comp)
    prev: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    walk = [v]
                    while walk[-1] != start:
                        walk.append(prev[walk[-1]])
                    return list(reversed(walk)) + [start]
                if w not in seen:
                    seen.add(w)
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.import_cycles", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", default=["core", "ssd_gui"])
    args = parser.parse_args(argv)
    roots = [Path(p) for p in args.paths]
    for root in roots:
        if not root.is_dir():
            parser.error(f"'{root}' is not a folder")
    graph = import_graph(roots)
    found = circles(graph)
    for comp in found:
        print(" -> ".join(cycle_path(comp, graph)) + f"   ({len(comp)} modules: {', '.join(comp)})")
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, {len(found)} circle(s)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
