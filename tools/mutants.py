"""Mutation check: change one line at a time in the modules that hold formulas and thresholds, run the tests
of that module, and report per module how many changes the tests caught (killed) and which they missed
(survived). A survivor is a formula, a bound or a branch that no test pins.

    python -m tools.mutants                    # everything in tools/mutants.toml (``make mutants``)
    python -m tools.mutants --module core/ssd  # the modules under a path
    python -m tools.mutants --list             # the mutants, without running anything
    python -m tools.mutants --out runs/m.json  # also write the results as JSON
    python -m tools.mutants --rerun runs/m.json --out runs/m2.json
                                               # only what survived there (or is new): adding tests can
                                               # only kill more, so the rest of that run still stands

The mutants come from ``tools/mutants.toml``: per module, every comparison operator of its code flipped
(``<`` and ``<=``, ``>`` and ``>=``, ``==`` and ``!=``: the boundaries of thresholds and ranges), plus a
curated list of one-line changes to its formulas (a divisor, a factor, a sign, a constant). A mutant that
cannot change behaviour is listed there with the reason (``equivalent``) and is expected to survive.

The real files are never touched: each worker copies the project (git's tracked and untracked, not
ignored, files) into a temporary folder, writes a mutant there, runs the module's tests with pytest inside
one long-lived Python process (torch is imported once; the project's modules are imported afresh for each
mutant; no bytecode is written or read), and puts the file back before the next one. The temporary
folders are removed on every way the run ends, Ctrl-C included. Exit status: 0 when every non-equivalent
mutant was killed, 1 otherwise, 2 for a bad list (a curated line that is no longer in its file) or tests
that fail without any mutant.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tokenize
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "tools" / "mutants.toml"
FLIPS = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
_OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


@dataclass
class Mutant:
    """One changed copy of one file.

    Attributes:
        file: the module, relative to the project root; line: 1-based line of the change.
        before, after: that line before and after (stripped), for the report.
        text: the whole mutated file; tests: the pytest arguments that must notice it.
        origin: ``auto`` (a comparison flipped) or ``listed`` (the curated list).
        equivalent: why it cannot change behaviour ("" for a mutant the tests must kill).
        outcome: ``killed``, ``survived`` or ``timeout`` (a timeout counts as killed); seconds: its test time.
    """

    file: str
    line: int
    before: str
    after: str
    text: str = field(repr=False)
    tests: list[str]
    origin: str
    equivalent: str = ""
    outcome: str = ""
    seconds: float = 0.0


def _comparison_flips(source: str) -> list[tuple[int, int, str, str]]:
    """(line, column, operator, flipped) of every ``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=`` in the code."""
    wanted: dict[tuple[int, int], tuple[int, int]] = {}  # operator's span: from the end of its left operand
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for op, a, b in zip(node.ops, operands, operands[1:]):
                if type(op) in _OPS:
                    wanted[(a.end_lineno, a.end_col_offset)] = (b.lineno, b.col_offset)
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.OP and tok.string in FLIPS:
            for (l0, c0), (l1, c1) in wanted.items():
                if (l0, c0) <= tok.start and tok.end <= (l1, c1):
                    out.append((tok.start[0], tok.start[1], tok.string, FLIPS[tok.string]))
                    break
    return out


def _mutant(file: str, source: str, line: int, col: int, old: str, new: str, tests: list[str], origin: str,
            equivalent: str = "") -> Mutant:
    lines = source.splitlines(keepends=True)
    text_line = lines[line - 1]
    changed = text_line[:col] + new + text_line[col + len(old):]
    text = "".join(lines[:line - 1]) + changed + "".join(lines[line:])
    return Mutant(file, line, text_line.strip(), changed.strip(), text, tests, origin, equivalent)


def build_mutants(spec: dict, root: Path = ROOT, only: str | None = None) -> tuple[list[Mutant], list[str]]:
    """The mutants of ``spec`` (the parsed ``mutants.toml``), and the problems of its curated list.

    Duplicates (a curated change that an automatic flip also makes) are kept once, with the curated
    entry's reason. A curated ``find`` must occur exactly once in its file (or give ``occurrence``).
    """
    modules: dict = spec.get("modules", {})
    problems: list[str] = []
    by_text: dict[str, Mutant] = {}
    sources = {}
    for file, mod in modules.items():
        if only and not file.startswith(only):
            continue
        path = root / file
        if not path.is_file():
            problems.append(f"{file}: no such module")
            continue
        sources[file] = source = path.read_text(encoding="utf-8")
        if mod.get("auto", True):
            for line, col, old, new in _comparison_flips(source):
                m = _mutant(file, source, line, col, old, new, list(mod["tests"]), "auto")
                by_text.setdefault(m.text, m)
    for entry in spec.get("mutant", []):
        file = entry["file"]
        if file not in sources:
            if file not in modules:
                problems.append(f"{file}: a listed mutant of a module not in [modules]")
            continue
        source, find = sources[file], entry["find"]
        count, occurrence = source.count(find), int(entry.get("occurrence", 1))
        if count == 0 or (count > 1 and "occurrence" not in entry) or occurrence > count:
            problems.append(f"{file}: {find!r} occurs {count} times (the listed mutant needs one, or 'occurrence')")
            continue
        at = -1
        for _ in range(occurrence):
            at = source.index(find, at + 1)
        line = source.count("\n", 0, at) + 1
        col = at - (source.rfind("\n", 0, at) + 1)
        if "\n" in find:
            problems.append(f"{file}: {find!r}: a listed change stays on one line")
            continue
        tests = list(entry.get("tests", modules[file]["tests"]))
        m = _mutant(file, source, line, col, find, entry["replace"], tests, "listed", entry.get("equivalent", ""))
        if m.text == source:
            problems.append(f"{file}: {find!r} -> {entry['replace']!r} changes nothing")
            continue
        old = by_text.get(m.text)
        if old is not None and old.origin == "listed":
            problems.append(f"{file}:{line}: the same change is listed twice")
        by_text[m.text] = m
    return sorted(by_text.values(), key=lambda m: (m.file, m.line, m.after)), problems


# --------------------------------------------------------------------------------------------- the workers


def _copy_project(root: Path) -> Path:
    """A temporary copy of the project's files (git's tracked and untracked, not ignored; else the whole tree)."""
    dest = Path(tempfile.mkdtemp(prefix="ssd-mutants-"))
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                                capture_output=True, check=True).stdout.decode().split("\0")
        files = [f for f in listed if f and (root / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        files = [str(p.relative_to(root)) for p in root.rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts and ".git" not in p.parts]
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f, dest / f)
    return dest


class Worker:
    """A copy of the project and one Python process in it that runs pytest for one mutant at a time."""

    def __init__(self, root: Path, grace: float = 60.0) -> None:
        self.tree = _copy_project(root)
        self.grace = grace  # seconds past twice pytest-timeout's before the process is killed
        self.log = self.tree / "mutants-worker.log"
        self.proc: subprocess.Popen | None = None
        self.ended = False  # set by close(): no process starts again

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=str(self.tree), PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1",
                   QT_QPA_PLATFORM="offscreen")
        # its own session: a Ctrl-C at the terminal reaches the parent only, which then ends the workers
        return subprocess.Popen([sys.executable, "-m", "tools.mutants", "--worker"], cwd=self.tree, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)

    def run(self, file: str, text: str | None, tests: list[str], timeout: float) -> tuple[int, float]:
        """(pytest's exit code, or -9 after ``timeout`` seconds; seconds taken) with ``file`` replaced by ``text``."""
        if self.ended:
            return -9, 0.0
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        original = (self.tree / file).read_text(encoding="utf-8")  # the worker puts it back, unless killed
        self.proc.stdin.write(json.dumps({"file": file, "text": text, "tests": tests, "timeout": timeout}) + "\n")
        self.proc.stdin.flush()
        start = time.monotonic()
        done: list[str] = []
        reader = ThreadPoolExecutor(1)
        future = reader.submit(self.proc.stdout.readline)
        try:
            done.append(future.result(timeout=timeout * 2 + self.grace))
        except Exception:  # a mutant that hangs past pytest-timeout: the worker starts again
            self.stop()
        finally:
            reader.shutdown(wait=False)
        if not done or not done[0]:
            self.stop()
            # killed mid-run, the worker could not put the file back: the next mutant must not inherit this one
            (self.tree / file).write_text(original, encoding="utf-8")
            return -9, time.monotonic() - start
        reply = json.loads(done[0])
        return int(reply["rc"]), float(reply["seconds"])

    def stop(self) -> None:
        """End the worker process and whatever its tests started (its process group)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                self.proc.kill()
            self.proc.wait()
        self.proc = None

    def end(self) -> None:
        """Stop the process for good (a run that ends early)."""
        self.ended = True
        self.stop()

    def close(self) -> None:
        self.end()
        shutil.rmtree(self.tree, ignore_errors=True)


def _in_tree(module: object, tree: Path) -> bool:
    """Whether ``module`` was imported from ``tree``: its file, or for a namespace package its search path."""
    f = getattr(module, "__file__", None) or ""
    if f.startswith(str(tree)):
        return True
    try:
        return any(str(p).startswith(str(tree)) for p in (getattr(module, "__path__", None) or ()))
    except (KeyError, TypeError):  # a namespace path whose parent is gone: it cannot be the project's live one
        return False


def _worker_loop() -> int:
    """The worker process: read one JSON request a line, answer one JSON line; pytest's output goes to a log."""
    import importlib

    import pytest

    sys.dont_write_bytecode = True
    tree = Path.cwd().resolve()
    answer = os.fdopen(os.dup(1), "w")
    log = os.open(tree / "mutants-worker.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    for request in sys.stdin:
        req = json.loads(request)
        path = tree / req["file"]
        original = path.read_text(encoding="utf-8")
        start = time.monotonic()
        try:
            if req["text"] is not None:
                path.write_text(req["text"], encoding="utf-8")
            # The project's modules are imported afresh, namespace packages (no __init__.py, no __file__)
            # included: a stale one left behind would make the next import of its modules fail.
            for name in [n for n, m in list(sys.modules.items()) if n != "__main__" and _in_tree(m, tree)]:
                del sys.modules[name]
            importlib.invalidate_caches()
            print(f"\n===== {req['file']} {'(clean)' if req['text'] is None else ''}", flush=True)
            rc = int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", f"--timeout={int(req['timeout'])}",
                                  *req["tests"]]))
        finally:
            path.write_text(original, encoding="utf-8")
        answer.write(json.dumps({"rc": rc, "seconds": time.monotonic() - start}) + "\n")
        answer.flush()
    return 0


# --------------------------------------------------------------------------------------------- the run


def _baseline(workers: list[Worker], pool: ThreadPoolExecutor, spec: dict, files: list[str]) -> dict[str, float]:
    """Each module's tests on the unchanged copy: they must pass; their time sets the mutants' timeout.
    Each worker takes the next module when it is free (a worker runs one thing at a time)."""
    modules = spec["modules"]
    queue, seconds, failed = list(files), {}, []

    def drain(worker: Worker) -> None:
        while queue:
            f = queue.pop(0)
            rc, seconds[f] = worker.run(f, None, list(modules[f]["tests"]), 1800)
            if rc != 0:
                failed.append(f"the tests of {f} fail without any mutant (pytest exit {rc}): fix them first")

    for fut in [pool.submit(drain, w) for w in workers]:
        fut.result()
    if failed:
        raise SystemExit("\n".join(failed))
    return seconds


def run_all(mutants: list[Mutant], spec: dict, jobs: int, root: Path = ROOT) -> None:
    """Run every mutant (sets ``outcome`` and ``seconds``) on ``jobs`` workers, each with its own copy."""
    workers: list[Worker] = []
    stop = threading.Event()
    pool = ThreadPoolExecutor(jobs)
    try:
        workers = [Worker(root) for _ in range(jobs)]
        base = _baseline(workers, pool, spec, sorted({m.file for m in mutants}))
        queue = list(mutants)
        total = len(queue)

        def drain(worker: Worker) -> None:
            while queue and not stop.is_set():
                m = queue.pop(0)
                rc, seconds = worker.run(m.file, m.text, m.tests, max(60.0, 5 * base[m.file]))
                if stop.is_set():
                    return
                if rc not in (0, 1, -9):  # not a test's verdict (an import or collection error): is the copy sound?
                    clean, _ = worker.run(m.file, None, m.tests, max(60.0, 5 * base[m.file]))
                    if clean != 0:
                        stop.set()
                        raise SystemExit(f"after the mutant {m.file}:{m.line} ({m.after}) the unchanged tests fail "
                                         f"too (pytest exit {clean}): the worker's copy is broken, not the mutant")
                m.seconds, m.outcome = seconds, "survived" if rc == 0 else ("timeout" if rc == -9 else "killed")
                mark = "EQUIVALENT " if m.equivalent else ""
                print(f"[{total - len(queue)}/{total}] {m.outcome:8s} {mark}{m.file}:{m.line}: {m.after}",
                      flush=True)

        for f in [pool.submit(drain, w) for w in workers]:
            f.result()
    finally:  # Ctrl-C or an error: no new mutant starts, the workers end, their copies go
        stop.set()
        for w in workers:
            w.end()
        pool.shutdown(wait=True, cancel_futures=True)
        for w in workers:
            w.close()


def summary(mutants: list[Mutant]) -> tuple[str, int]:
    """A Markdown table per module and the list of survivors; and the number of unexplained survivors."""
    rows = ["| module | mutants | killed | survived | equivalent (listed) |", "|---|---|---|---|---|"]
    totals = [0, 0, 0, 0]
    for file in sorted({m.file for m in mutants}):
        ms = [m for m in mutants if m.file == file]
        killed = sum(m.outcome in ("killed", "timeout") for m in ms)
        survived = sum(m.outcome == "survived" and not m.equivalent for m in ms)
        equivalent = sum(bool(m.equivalent) for m in ms)
        for i, n in enumerate((len(ms), killed, survived, equivalent)):
            totals[i] += n
        rows.append(f"| `{file}` | {len(ms)} | {killed} | {survived} | {equivalent} |")
    rows.append(f"| all | {totals[0]} | {totals[1]} | {totals[2]} | {totals[3]} |")
    lines = ["\n".join(rows), ""]
    survivors = [m for m in mutants if m.outcome == "survived" and not m.equivalent]
    wrong = [m for m in mutants if m.equivalent and m.outcome in ("killed", "timeout")]
    for m in survivors:
        lines.append(f"SURVIVED {m.file}:{m.line}: {m.before}  ->  {m.after}")
    for m in wrong:
        lines.append(f"LISTED AS EQUIVALENT BUT KILLED (fix the list) {m.file}:{m.line}: {m.after}")
    return "\n".join(lines), len(survivors) + len(wrong)


def _carry_over(mutants: list[Mutant], earlier: list[dict]) -> list[Mutant]:
    """Give each mutant its earlier outcome unless it survived there (or is new); the ones left to run."""
    before = {(e["file"], e["before"], e["after"]): e for e in earlier}
    todo = []
    for m in mutants:
        e = before.get((m.file, m.before, m.after))
        if e is None or e["outcome"] == "survived":
            todo.append(m)
        else:
            m.outcome, m.seconds = e["outcome"], float(e["seconds"])
    return todo


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", help="only the modules whose path starts with this")
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    parser.add_argument("--jobs", type=int, default=2, help="parallel workers (default 2)")
    parser.add_argument("--out", type=Path, help="write every mutant's result here (JSON)")
    parser.add_argument("--rerun", type=Path, help="run only the mutants that survived in this earlier --out file "
                        "(or are not in it); the others keep their outcome from it")
    parser.add_argument("--spec", type=Path, default=LIST, help=f"the list (default {LIST.relative_to(ROOT)})")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker_loop()
    spec = tomllib.loads(args.spec.read_text(encoding="utf-8"))
    mutants, problems = build_mutants(spec, ROOT, args.module)
    for p in problems:
        print(f"mutants.toml: {p}", file=sys.stderr)
    if problems:
        return 2
    if args.list:
        for m in mutants:
            print(f"{m.origin:6s} {m.file}:{m.line}: {m.after}" + (f"   [equivalent: {m.equivalent}]"
                                                                    if m.equivalent else ""))
        print(f"{len(mutants)} mutants")
        return 0
    todo = mutants
    if args.rerun:
        todo = _carry_over(mutants, json.loads(args.rerun.read_text(encoding="utf-8")))
        print(f"{len(todo)} of {len(mutants)} mutants to run again; the others keep their outcome from {args.rerun}")
    start, cpu = time.monotonic(), _children_cpu()
    run_all(todo, spec, max(1, args.jobs))
    text, bad = summary(mutants)
    print(f"\n{text}\n{len(todo)} mutants run in {time.monotonic() - start:.0f} s with {args.jobs} workers "
          f"({_children_cpu() - cpu:.0f} CPU-seconds in the workers and their tests)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps([{k: v for k, v in asdict(m).items() if k != "text"} for m in mutants],
                                       indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
