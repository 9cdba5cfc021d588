"""Targets 1 and 2: end-to-end ``Detector.detect`` against torchvision's ``ssd300_vgg16``.

    .venv/bin/python -m benchmarks.bench_detect [--quick] [--threads N]

Both models hold the same (seeded random) weights; the input is a 640x480 synthetic scene, batch 1.
torchvision's time includes its transform (normalise, resize), backbone, head and
``postprocess_detections``; ours includes preprocessing, network and postprocessing. Calls alternate
(torchvision, ours, ...) and medians are compared. The optimized detector freezes its graph at load
(the load time is printed in the notes and is not part of the per-image time).

Target 2 (fast mode) needs native reduced precision: bf16 on a CPU with AVX512-BF16/AMX, or fp16/bf16
on CUDA. Where neither exists the row says so and the fp32 fast path is what the app uses. The mAP
check runs the demo model (core/resources/demo_model.pt) on synthetic validation scenes in both modes.
"""
from __future__ import annotations

import time

import torch

from benchmarks._common import Row, bench_main, fmt_s, interleaved, median, status
from benchmarks._models import same_detections, same_weights_detector, scene_image, torchvision_ssd300, tv_input
from core.detector import DEMO_WEIGHTS, cpu_supports_bf16


def _fast_precision(device: torch.device) -> str | None:
    if device.type == "cuda":
        return "fp16"
    return "bf16" if cpu_supports_bf16() else None


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    """This CPU's fp32 matrix-multiply throughput (GFLOP/s) at the current thread count: the
    practical ceiling of a dense fp32 convolution (oneDNN runs convolutions at GEMM speed at best)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def network_gflop(det) -> float:  # type: ignore[no-untyped-def]
    """Floating-point operations (GFLOP, multiply and add counted separately) of one forward pass."""
    from torch.utils.flop_counter import FlopCounterMode

    size = det.config.model.image_size
    x = torch.zeros(1, 3, size, size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        det.model(x)
    return counter.get_total_flops() / 1e9


def _fp32_floor(eager, t_ours: float, t_tv: float) -> Row:  # type: ignore[no-untyped-def]
    """How close row 1 is to what dense fp32 arithmetic allows on this CPU."""
    gflop = network_gflop(eager)
    peak = sgemm_gflops()
    achieved = gflop / t_ours  # whole detect() time, pre/post-processing included: a lower bound
    needed = gflop / (0.60 * t_tv)  # even with free pre/post-processing
    return Row("1d. fp32 arithmetic floor on this CPU", f"{achieved:.0f} GFLOP/s", f"{peak:.0f} GFLOP/s (sgemm)",
               f"{achieved / peak:.0%} of peak", f"needs {needed:.0f} GFLOP/s", "info",
               f"network {gflop:.1f} GFLOP per image; 0.60x torchvision leaves {0.60 * t_tv * 1e3:.0f} ms, "
               f"i.e. {needed:.0f} GFLOP/s ({needed / peak:.0%} of this CPU's fp32 matrix-multiply peak of "
               f"{peak:.0f} GFLOP/s at {torch.get_num_threads()} threads) with zero time for everything else")


def run(quick: bool = False) -> list[Row]:
    repeats = 3 if quick else 7
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tv = torchvision_ssd300().to(device)
    image = scene_image(640, 480)
    t0 = time.perf_counter()
    ours = same_weights_detector(tv, device=str(device), optimize=True)
    load_s = time.perf_counter() - t0
    eager = same_weights_detector(tv, device=str(device))

    def tv_fn():
        with torch.no_grad():
            out = tv([tv_input(image).to(device)])
        return [{k: v.cpu() for k, v in o.items()} for o in out]

    ref = tv_fn()
    equal_opt, note_opt = same_detections(ours.detect([image]), ref)
    equal_eager, note_eager = same_detections(eager.detect([image]), ref)
    fns = {"tv": tv_fn, "ours": lambda: ours.detect([image]), "eager": lambda: eager.detect([image])}
    precision = _fast_precision(device)
    fast = None
    if precision is not None:
        fast = same_weights_detector(tv, device=str(device), precision=precision)
        fns["fast"] = lambda: fast.detect([image])
    if device.type == "cuda":
        base = dict(fns)
        fns = {k: (lambda f=f: (f(), torch.cuda.synchronize())) for k, f in base.items()}
    times = interleaved(fns, repeats)
    t_tv = median(times["tv"])
    rows = []
    what = "frozen channels-last graph" if ours.optimized else "eager (optimize has no effect on this device)"
    r1 = median(times["ours"]) / t_tv
    rows.append(Row("1. detect, fp32, batch 1, 640x480", fmt_s(median(times["ours"])), fmt_s(t_tv), f"{r1:.2f}x",
                    "<= 0.60x", status(r1 <= 0.60, equal_opt),
                    f"optimize=True ({what}, {load_s:.1f} s to load+freeze); vs torchvision: {note_opt}; "
                    f"median of {repeats} interleaved runs on {device}"))
    r1e = median(times["eager"]) / t_tv
    rows.append(Row("1b. detect, fp32, eager (optimize=False)", fmt_s(median(times["eager"])), fmt_s(t_tv),
                    f"{r1e:.2f}x", "(info)", "equal" if equal_eager else "FAIL (outputs differ)",
                    f"vs torchvision: {note_eager}"))
    threads = torch.get_num_threads()
    if device.type == "cpu" and threads > 1:
        # On a shared, busy machine every multi-threaded op can wait for a descheduled worker, which
        # hurts torchvision's many small postprocess ops most; one thread shows the compute-bound ratio.
        torch.set_num_threads(1)
        try:
            t1 = interleaved({"tv": fns["tv"], "ours": fns["ours"]}, max(3, repeats // 2))
        finally:
            torch.set_num_threads(threads)
        r1t = median(t1["ours"]) / median(t1["tv"])
        rows.append(Row("1c. detect, fp32, optimized, 1 thread", fmt_s(median(t1["ours"])), fmt_s(median(t1["tv"])),
                        f"{r1t:.2f}x", "<= 0.60x", status(r1t <= 0.60, equal_opt),
                        f"both with torch.set_num_threads(1) (row 1 used {threads})"))
    if device.type == "cpu":
        rows.append(_fp32_floor(eager, median(times["ours"]), t_tv))
    if fast is not None:
        r2 = median(times["fast"]) / t_tv
        rows.append(Row(f"2. fast mode ({precision}, channels-last)", fmt_s(median(times["fast"])), fmt_s(t_tv),
                        f"{r2:.2f}x", "<= 0.35x", status(r2 <= 0.35), f"torchvision in fp32 on {device}"))
    else:
        rows.append(Row("2. fast mode (bf16/fp16)", "n/a", fmt_s(t_tv), "n/a", "<= 0.35x",
                        "n/a: no bf16 on this CPU, no GPU",
                        f"this CPU has no native bf16 (AVX512-BF16/AMX), so bf16 would be emulated and slower "
                        f"than fp32; the fastest mode here is the fp32 frozen graph of row 1 ({r1:.2f}x)"))
    rows.append(_fast_mode_map(quick, device, precision))
    return rows


def _fast_mode_map(quick: bool, device: torch.device, precision: str | None) -> Row:
    """Target 2's accuracy half: demo model mAP in fast mode vs fp32 on synthetic validation scenes."""
    from core.data.synthetic import synthetic_index
    from core.resolve import load_detector
    from core.engine.config import VAL_SEED
    from core.evaluation import evaluate
    from core.evaluation.run import run_detector

    figure = "2b. fast-mode mAP - fp32 mAP (demo model)"
    if not DEMO_WEIGHTS.exists():
        return Row(figure, "n/a", "n/a", "n/a", "|diff| <= 0.005", f"n/a: {DEMO_WEIGHTS.name} not built yet")
    # bf16 without native support is emulated: slow, but the accuracy check still means something.
    prec = precision or ("bf16" if device.type == "cpu" else "fp16")
    count = 40 if quick else 200
    fp32 = load_detector(DEMO_WEIGHTS, device=str(device), optimize=True)
    fast = load_detector(DEMO_WEIGHTS, device=str(device), precision=prec)
    size = fp32.image_size
    gt = synthetic_index(count, VAL_SEED, (size, size))
    maps = {}
    for name, det in (("fp32", fp32), ("fast", fast)):
        dets = run_detector(det, gt, batch_size=8, score_thresh=0.01)
        maps[name] = evaluate(gt, dets, detector_class_names=det.class_names, source="bench").voc(True).mAP
    diff = maps["fast"] - maps["fp32"]
    emulated = "" if precision else " (emulated bf16: this CPU has no native bf16)"
    return Row(figure, f"{maps['fast']:.4f} ({prec})", f"{maps['fp32']:.4f} (fp32)", f"{diff:+.4f}",
               "|diff| <= 0.005", status(abs(diff) <= 0.005),
               f"VOC07 mAP@0.5 on {count} synthetic validation scenes (seed {VAL_SEED}){emulated}")


def main() -> None:
    bench_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
