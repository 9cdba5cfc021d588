"""Every benchmark of the issue in one table: ``make bench`` (``python -m benchmarks.run_all``).

    .venv/bin/python -m benchmarks.run_all [--quick] [--skip video,train] [--threads N] [--ssdlite-weights PATH]

Each figure is measured in this process against its reference (torchvision, a plain loop,
pycocotools) and printed as a ratio with the target and pass/fail. A benchmark that crashes
becomes a FAIL row with the error, and the others still run.
"""
from __future__ import annotations

import argparse
import os
import time
import traceback

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

from benchmarks._common import Row, machine, print_table  # noqa: E402

BENCHES = ("detect", "openvino", "postprocess", "matching", "evaluation", "video", "train", "family",
           "openvino_ssdlite", "teachers", "tracking", "temporal", "pseudo_label_memory", "estimate", "grid", "live")


def _run_one(name: str, quick: bool, ssdlite_weights: str | None) -> list[Row]:
    import importlib

    module = importlib.import_module(f"benchmarks.bench_{name}")
    if name == "openvino_ssdlite":
        return module.run(quick, ssdlite_weights=ssdlite_weights)
    return module.run(quick)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and smaller data (a few minutes)")
    ap.add_argument("--skip", default="", help=f"comma-separated subset of {BENCHES} to leave out")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    from benchmarks.bench_openvino_ssdlite import add_options

    add_options(ap)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    rows: list[Row] = []
    t0 = time.perf_counter()
    for name in BENCHES:
        if name in skip:
            continue
        t = time.perf_counter()
        print(f"[bench] {name} ...", flush=True)
        try:
            rows += _run_one(name, args.quick, args.ssdlite_weights)
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            traceback.print_exc()
            rows.append(Row(name, "error", "-", "-", "-", "FAIL", f"{type(exc).__name__}: {exc}"))
        print(f"[bench] {name} done in {time.perf_counter() - t:.0f} s", flush=True)
    print()
    print_table(rows, title=f"Machine: {machine()}\nMode: {'quick' if args.quick else 'full'}; "
                            f"total {time.perf_counter() - t0:.0f} s\n")


if __name__ == "__main__":
    main()
