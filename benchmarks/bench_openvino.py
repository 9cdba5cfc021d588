"""Targets 8 and 9: the OpenVINO runtime (fp32 and NNCF int8) against torchvision and PyTorch.

    .venv/bin/python -m benchmarks.bench_openvino [--quick] [--threads N]

8. VGG16-SSD300 with torchvision-layout weights (seeded random: nothing is downloaded), batch 1,
   a 640x480 scene: the whole ``Detector.detect`` on OpenVINO fp32 and int8 against torchvision's
   whole ``ssd300_vgg16`` call, interleaved. fp32 must give torchvision's detections (labels equal,
   boxes within 1e-2 px); int8 (calibrated on synthetic scenes, since the weights are random) is
   measured for speed only.
9. The demo model on held-out synthetic scenes (seed 2024, never used in training or validation):
   VOC07 mAP of PyTorch (the frozen fp32 graph the app used before), OpenVINO fp32 and OpenVINO int8
   (calibrated on the model's own training scenes, as the app does by default), and the frames
   per second of each runtime on 300x300 scenes, batch 1, interleaved.

Conversion and quantization happen in a temporary cache folder, so their one-off cost is measured
(in the notes) and never mixed into the per-image times.
"""
from __future__ import annotations

import tempfile
import time

import torch

from benchmarks._common import Row, bench_main, fmt_s, interleaved, median, status
from benchmarks._models import same_detections, same_weights_detector, scene_image, torchvision_ssd300, tv_input
from core.detector import DEMO_WEIGHTS, load_detector


def _vgg_rows(quick: bool, cache: str) -> list[Row]:
    repeats = 3 if quick else 7
    tv = torchvision_ssd300()
    image = scene_image(640, 480)
    t0 = time.perf_counter()
    fp32 = same_weights_detector(tv, runtime="openvino", cache_dir=cache)
    load_fp32 = time.perf_counter() - t0
    calib = [scene_image(640, 480, index=i + 1) for i in range(16 if quick else 64)]
    t0 = time.perf_counter()
    int8 = same_weights_detector(tv, runtime="openvino", precision="int8", calibration=calib, cache_dir=cache)
    load_int8 = time.perf_counter() - t0

    def tv_fn():  # type: ignore[no-untyped-def]
        with torch.no_grad():
            return tv([tv_input(image)])

    equal, note = same_detections(fp32.detect([image]), tv_fn(), box_atol=1e-2, score_atol=1e-4)
    times = interleaved({"tv": tv_fn, "fp32": lambda: fp32.detect([image]), "int8": lambda: int8.detect([image])},
                        repeats)
    t_tv = median(times["tv"])
    r_fp32, r_int8 = median(times["fp32"]) / t_tv, median(times["int8"]) / t_tv
    return [
        Row("8. detect, OpenVINO fp32, batch 1, 640x480", fmt_s(median(times["fp32"])), fmt_s(t_tv),
            f"{r_fp32:.2f}x", "<= 0.60x", status(r_fp32 <= 0.60, equal),
            f"vs torchvision ssd300_vgg16 (same random weights): {note}; converted and compiled in {load_fp32:.1f} s "
            f"(once: cached after); median of {repeats} interleaved runs"),
        Row("8b. detect, OpenVINO int8, batch 1, 640x480", fmt_s(median(times["int8"])), fmt_s(t_tv),
            f"{r_int8:.2f}x", "<= 0.35x", status(r_int8 <= 0.35),
            f"NNCF post-training quantization on {len(calib)} synthetic 640x480 scenes in {load_int8:.1f} s (once: "
            f"cached after); random weights, so only the speed is compared"),
    ]


def _demo_rows(quick: bool, cache: str) -> list[Row]:
    from core.data.synthetic import render_scene, synthetic_index
    from core.engine.demo import TEST_SEED
    from core.evaluation import evaluate
    from core.evaluation.run import run_detector

    figure = "9. demo model: OpenVINO int8 mAP - fp32 mAP"
    if not DEMO_WEIGHTS.exists():
        return [Row(figure, "n/a", "n/a", "n/a", "|diff| <= 0.01", f"n/a: {DEMO_WEIGHTS.name} not built yet")]
    count = 100 if quick else 500
    dets = {"torch": load_detector(DEMO_WEIGHTS, optimize=True),
            "openvino fp32": load_detector(DEMO_WEIGHTS, runtime="openvino", cache_dir=cache)}
    t0 = time.perf_counter()
    # quick: 64 of the training scenes; full: the app's default (300 training scenes, from the checkpoint)
    calib = [render_scene(1, i, (300, 300))[0] for i in range(64)] if quick else None
    dets["openvino int8"] = load_detector(DEMO_WEIGHTS, runtime="openvino", precision="int8", calibration=calib,
                                          cache_dir=cache)
    quant_s = time.perf_counter() - t0
    calib_record = dets["openvino int8"].runtime_info["calibration"]
    gt = synthetic_index(count, TEST_SEED, (300, 300))
    maps = {}
    for name, det in dets.items():
        found = run_detector(det, gt, batch_size=8, score_thresh=0.01)
        maps[name] = evaluate(gt, found, detector_class_names=det.class_names, source=name).voc(True).mAP
    images = [render_scene(TEST_SEED, i, (300, 300))[0] for i in range(4)]
    k = iter(range(10**9))
    times = interleaved({n: (lambda d=d: d.detect([images[next(k) % 4]])) for n, d in dets.items()},
                        10 if quick else 30)
    fps = {n: 1.0 / median(t) for n, t in times.items()}
    d_int8 = maps["openvino int8"] - maps["openvino fp32"]
    d_fp32 = maps["openvino fp32"] - maps["torch"]
    where = f"VOC07 mAP@0.5 on {count} held-out synthetic scenes (seed {TEST_SEED})"
    return [
        Row(figure, f"{maps['openvino int8']:.4f}", f"{maps['openvino fp32']:.4f}", f"{d_int8:+.4f}",
            "|diff| <= 0.01", status(abs(d_int8) <= 0.01),
            f"{where}; int8 calibrated on {calib_record['count']} images of {calib_record['source']}, "
            f"quantized in {quant_s:.0f} s (once: cached after)"),
        Row("9b. demo model: OpenVINO fp32 mAP - PyTorch mAP", f"{maps['openvino fp32']:.4f}",
            f"{maps['torch']:.4f}", f"{d_fp32:+.5f}", "|diff| <= 1e-4", status(abs(d_fp32) <= 1e-4), where),
        Row("9c. demo model: frames per second, batch 1", f"{fps['openvino fp32']:.1f} / {fps['openvino int8']:.1f} fps",
            f"{fps['torch']:.1f} fps", f"{fps['openvino fp32'] / fps['torch']:.1f}x / "
            f"{fps['openvino int8'] / fps['torch']:.1f}x", "(info)", "info",
            "OpenVINO fp32 / int8 against PyTorch (frozen fp32 graph); whole detect() on 300x300 scenes, "
            "median of interleaved runs"),
    ]


def run(quick: bool = False) -> list[Row]:
    with tempfile.TemporaryDirectory() as cache:
        return _vgg_rows(quick, cache) + _demo_rows(quick, cache)


def main() -> None:
    bench_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
