"""SSDlite320-MobileNetV3 (issue 11): ``Detector.detect`` against torchvision's ``ssdlite320_mobilenet_v3_large``.

    .venv/bin/python -m benchmarks.bench_family [--quick] [--threads N]

Both models hold the same seeded random weights (BatchNorm statistics measured on synthetic scenes,
so that the scores are spread like a trained model's; see ``benchmarks._models.torchvision_ssdlite``);
the input is a 640x480 synthetic scene, batch 1. torchvision's time includes its transform, network
and ``postprocess_detections`` (a Python loop over 90 classes at score threshold 0.001, then
``batched_nms`` over up to 27,000 boxes, one class at a time); ours includes preprocessing, network
and postprocessing. Calls alternate and medians are compared. Row 10 is the eager network, whose
detections are torchvision's to the last bit; row 10b the frozen graph the app and ``ssd detect`` use
(the same network to rounding, ~1e-5 on the scores, which can swap detections of near-equal score).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from benchmarks._common import Row, bench_main, fmt_s, interleaved, median, status
from benchmarks._models import same_detections, same_weights_detector, scene_image, torchvision_ssdlite, tv_input


def matched_detections(ours: list, ref: list[dict[str, torch.Tensor]], box_atol: float = 1e-3,
                       score_atol: float = 1e-4) -> tuple[int, int]:
    """(detections of ours with a partner in ref: same label, score and box within the tolerances; total)."""
    matched = total = 0
    for d, r in zip(ours, ref):
        rb, rs, rl = r["boxes"].numpy(), r["scores"].numpy(), r["labels"].numpy()
        free = np.ones(len(rs), bool)
        for box, score, label in zip(d.boxes, d.scores, d.labels):
            ok = free & (rl == label) & (np.abs(rs - score) <= score_atol) & (np.abs(rb - box).max(1) <= box_atol)
            if ok.any():
                free[np.flatnonzero(ok)[0]] = False
                matched += 1
        total += max(len(d), len(rs))
    return matched, total


def run(quick: bool = False) -> list[Row]:
    repeats = 5 if quick else 15
    tv = torchvision_ssdlite()
    image = scene_image(640, 480)
    eager = same_weights_detector(tv)
    t0 = time.perf_counter()
    fast = same_weights_detector(tv, optimize=True)
    load_s = time.perf_counter() - t0

    def tv_fn():
        with torch.no_grad():
            return tv([tv_input(image)])

    ref = tv_fn()
    equal, note = same_detections(eager.detect([image]), ref)
    matched, total = matched_detections(fast.detect([image]), ref)
    times = interleaved({"tv": tv_fn, "eager": lambda: eager.detect([image]), "fast": lambda: fast.detect([image])},
                        repeats)
    t_tv, t_eager, t_fast = median(times["tv"]), median(times["eager"]), median(times["fast"])
    r10, r10b = t_eager / t_tv, t_fast / t_tv
    return [
        Row("10. SSDlite detect, fp32, batch 1, 640x480", fmt_s(t_eager), fmt_s(t_tv), f"{r10:.2f}x", "<= 0.50x",
            status(r10 <= 0.50, equal), f"eager network; vs torchvision: {note}; median of {repeats} interleaved runs"),
        Row("10b. SSDlite detect, frozen graph (the app's)", fmt_s(t_fast), fmt_s(t_tv), f"{r10b:.2f}x", "<= 0.50x",
            status(r10b <= 0.50, matched >= 0.97 * total),
            f"optimize=True ({load_s:.1f} s to load+freeze); {matched} of {total} detections match torchvision's "
            f"(label, score within 1e-4, box within 1e-3 px; the rest swap places at near-equal scores)"),
        Row("10c. SSDlite frames per second, 640x480", f"{1.0 / t_fast:.1f} fps", "-", "-", "(info)", "info",
            f"the frozen graph, batch 1, {torch.get_num_threads()} threads; pre- and postprocessing included"),
    ]


def main() -> None:
    bench_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
