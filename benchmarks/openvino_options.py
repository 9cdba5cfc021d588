"""OpenVINO's CPU compile options on SSDlite320's network alone, per kind of CPU (issue 23).

    .venv/bin/python -m benchmarks.openvino_options [--rounds N]

The network (torchvision's ``ssdlite320_mobilenet_v3_large`` layout, spread random weights) is exported
to fp32 IR and quantized to int8 by the app's own loader, then compiled with each option set and run on a
1x3x320x320 input, all sets interleaved call by call. Three kinds of CPU are measured on this one: as it
is, and with oneDNN (OpenVINO's kernels) limited by ``ONEDNN_MAX_CPU_ISA`` to AVX-512 without VNNI and to
AVX2, each in its own process. The convolution kernels that ran are printed: the AVX2 limit shows in
their names (``jit_avx2_1x1_I8``); OpenVINO names AVX-512 kernels alike with and without VNNI, so that
limit shows only in the times.
Printed per set: median and first-quartile wall time, and the process's CPU time per call (steadier than
wall time on a busy machine, but blind to how well the threads overlap).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: The option sets compared; the first is the app's (core.runtime.openvino._COMPILE_OPTIONS).
OPTION_SETS = {
    "latency, unpinned (the app's)": {"PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False},
    "latency, pinned": {"PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": True},
    "latency, 1 thread": {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1, "ENABLE_CPU_PINNING": False},
    "throughput hint": {"PERFORMANCE_HINT": "THROUGHPUT", "ENABLE_CPU_PINNING": False},
}
#: ISA limits (None: the CPU as it is) and what each stands for.
ISA_LIMITS = {None: "this CPU", "AVX512_CORE": "AVX-512 without VNNI", "AVX2": "AVX2 (no VNNI)"}


def export_networks(folder: Path) -> None:
    """fp32 and int8 IRs of SSDlite320 (spread random weights) and a preprocessed 640x480 scene, into ``folder``."""
    import openvino as ov

    from benchmarks._models import same_weights_detector, scene_image, torchvision_ssdlite

    tv = torchvision_ssdlite()
    calib = [scene_image(640, 480, index=i + 1) for i in range(32)]
    with tempfile.TemporaryDirectory() as cache:
        for precision in ("fp32", "int8"):
            det = same_weights_detector(tv, runtime="openvino", precision=precision, cache_dir=cache,
                                        calibration=calib if precision == "int8" else None)
            model = ov.Core().read_model(str(Path(det.runtime_info["cache_entry"]) / "model.xml"))
            ov.save_model(model, str(folder / f"{precision}.xml"), compress_to_fp16=False)
            np.save(folder / "input.npy", np.ascontiguousarray(det.preprocess([scene_image(640, 480)]).numpy()))


def _kernels(compiled) -> str:  # type: ignore[no-untyped-def]
    """The most used convolution kernels of a compiled network, e.g. "brgconv_avx512_1x1_I8 x66"."""
    kinds: collections.Counter = collections.Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        if "Conv" in rt["layerType"].astype(str):
            kinds[rt["primitiveType"].astype(str)] += 1
    return ", ".join(f"{k} x{n}" for k, n in kinds.most_common(2))


def child(folder: Path, rounds: int) -> None:
    """Compile and time every (precision, option set); one JSON line per set on stdout."""
    import openvino as ov

    core = ov.Core()
    x = np.load(folder / "input.npy")
    requests, kernels = {}, {}
    for precision in ("fp32", "int8"):
        for name, options in OPTION_SETS.items():
            compiled = core.compile_model(str(folder / f"{precision}.xml"), "CPU",
                                          dict(options, INFERENCE_PRECISION_HINT="f32"))
            requests[(precision, name)] = compiled.create_infer_request()
            kernels[precision] = _kernels(compiled)
    for request in requests.values():
        for _ in range(3):
            request.infer({0: x})
    wall: dict = {k: [] for k in requests}
    cpu: dict = {k: [] for k in requests}
    for _ in range(rounds):
        for key, request in requests.items():
            c0, t0 = time.process_time(), time.perf_counter()
            request.infer({0: x})
            wall[key].append(time.perf_counter() - t0)
            cpu[key].append(time.process_time() - c0)
    for (precision, name), w in wall.items():
        print(json.dumps({"precision": precision, "options": name, "kernels": kernels[precision],
                          "median_ms": statistics.median(w) * 1e3, "q1_ms": float(np.percentile(w, 25)) * 1e3,
                          "cpu_ms": statistics.median(cpu[(precision, name)]) * 1e3}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=40, help="interleaved rounds per CPU kind")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child), args.rounds)
        return
    from benchmarks._common import cpu_flags

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        export_networks(folder)
        print(f"{cpu_flags()}; {args.rounds} interleaved rounds per CPU kind")
        print("| CPU kind | precision | options | median | first quartile | CPU time per call | kernels |")
        print("|---|---|---|---|---|---|---|")
        for limit, kind in ISA_LIMITS.items():
            env = dict(os.environ)
            env.pop("ONEDNN_MAX_CPU_ISA", None)
            if limit:
                env["ONEDNN_MAX_CPU_ISA"] = limit
            load = os.getloadavg()[0]
            out = subprocess.run([sys.executable, "-m", "benchmarks.openvino_options", "--child", tmp,
                                  "--rounds", str(args.rounds)], env=env, capture_output=True, text=True, check=True)
            for line in out.stdout.splitlines():
                r = json.loads(line)
                print(f"| {kind} (load {load:.1f}) | {r['precision']} | {r['options']} | {r['median_ms']:.1f} ms | "
                      f"{r['q1_ms']:.1f} ms | {r['cpu_ms']:.1f} ms | {r['kernels']} |")


if __name__ == "__main__":
    main()
