"""Shared helpers of the benchmark scripts: interleaved timing, result rows, the printed table.

Timings on a shared machine are noisy, so a figure and its reference are always measured in the
same process, alternating call by call, several repetitions each, and compared by their medians.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Row:
    """One line of the benchmark table.

    Attributes:
        figure: what is measured (e.g. "1. detect, fp32, batch 1").
        ours: this project's number, formatted with its unit.
        reference: the reference's number (torchvision, a plain loop, pycocotools), formatted.
        ratio: ours / reference (time) or reference / ours (speed-up), formatted.
        target: the issue's target, e.g. "<= 0.60x".
        status: "pass", "FAIL" or "n/a: <why>".
        note: equality checks and anything the reader must know to trust the number.
    """

    figure: str
    ours: str
    reference: str
    ratio: str
    target: str
    status: str
    note: str = ""


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Call every function ``warmup`` times, then ``repeats`` rounds of one call each, alternating.

    Round r starts with the (r mod n)-th function and goes round the list, so each function follows each
    other one equally often: a call right after a long one (torchvision's whole call evicts the caches
    and leaves its OpenMP workers spinning) is not always the same function's.

    Returns:
        seconds per call, per name, in call order.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def paired_ratio(times: dict[str, list[float]], top: str, bottom: str) -> float:
    """The median over the rounds of :func:`interleaved` of ``top``'s time over ``bottom``'s in the same round:
    the two calls of a round run a few milliseconds apart, so a host that slows down and speeds up (other
    machines' work on the same processor) changes both, where a ratio of two medians would take the slow
    rounds of one and the fast rounds of the other."""
    return median([a / b for a, b in zip(times[top], times[bottom])])


def fmt_s(seconds: float) -> str:
    """A duration with a readable unit."""
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} us"


def status(ok: bool, equal: bool = True) -> str:
    """pass only when the target is met and the outputs agreed."""
    if not equal:
        return "FAIL (outputs differ)"
    return "pass" if ok else "FAIL"


def machine() -> str:
    """One line describing the machine the numbers come from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = "load avg %.1f" % os.getloadavg()[0]
    except OSError:
        load = "load avg n/a"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    isa = torch.backends.cpu.get_cpu_capability()
    return (f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads, {isa}), {gpu}, {load}")


#: The CPU flags that decide which kernels OpenVINO and oneDNN run (Linux /proc/cpuinfo names).
KERNEL_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")


def cpu_flags() -> str:
    """Which of :data:`KERNEL_FLAGS` this CPU has, e.g. "CPU avx2 avx512f avx512_vnni (not avx_vnni, ...)"."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return "CPU flags unknown"
    have = [k for k in KERNEL_FLAGS if k in flags]
    lack = [k for k in KERNEL_FLAGS if k not in flags]
    return f"CPU {' '.join(have) or 'none of ' + ', '.join(KERNEL_FLAGS)}" + (f" (not {', '.join(lack)})" if lack else "")


def print_table(rows: list[Row], title: str | None = None) -> None:
    """The table: figure | this project | reference | ratio | target | status, then the notes."""
    head = ("figure", "this project", "reference", "ratio", "target", "status")
    cells = [head] + [(r.figure, r.ours, r.reference, r.ratio, r.target, r.status) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    if title:
        print(title)
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for c in cells[1:]:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(c, widths)) + " |")
    notes = [r for r in rows if r.note]
    if notes:
        print()
        for r in notes:
            print(f"- {r.figure}: {r.note}")


def bench_main(run: Callable[..., list[Row]], description: str,
               add_options: Callable[[argparse.ArgumentParser], None] | None = None) -> None:
    """Command line of a single benchmark script: ``[--quick] [--threads N]``, then its table.

    ``add_options`` adds a script's own options; they are passed to ``run`` by name after ``quick``.
    """
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    if add_options is not None:
        add_options(ap)
    args = vars(ap.parse_args())
    quick, threads = args.pop("quick"), args.pop("threads")
    if threads:
        torch.set_num_threads(threads)
    print_table(run(quick, **args))
