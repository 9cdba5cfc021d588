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

from pathlib import Path

import torch

from benchmarks._common import Row, bench_main, fmt_s, interleaved, median, status
from benchmarks._models import same_detections, same_weights_detector, scene_image, torchvision_ssd300, tv_input
from benchmarks.bench_family import matched_detections
from core.detector import DEMO_WEIGHTS
from core.resolve import load_detector


def speed_rows(tv: torch.nn.Module, tv_name: str, figures: tuple[str, str], quick: bool, cache: str,
               repeats: tuple[int, int] = (3, 7)) -> list[Row]:
    """Rows "OpenVINO fp32 / int8 whole detect() against torchvision's whole call" for ``tv``'s weights.

    Args:
        tv: a torchvision detection model in eval mode (its state dict loads through core.load_detector).
        tv_name: its builder's name, for the notes.
        figures: the two rows' names (fp32, int8).
        repeats: interleaved rounds (quick, full).
    """
    repeats_n = repeats[0] if quick else repeats[1]
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

    ref, ours = tv_fn(), fp32.detect([image])
    equal, note = same_detections(ours, ref, box_atol=1e-2, score_atol=1e-4)
    matched, total = matched_detections(ours, ref, box_atol=1e-2, score_atol=1e-4)
    times = interleaved({"tv": tv_fn, "fp32": lambda: fp32.detect([image]), "int8": lambda: int8.detect([image])},
                        repeats_n)
    t_tv = median(times["tv"])
    r_fp32, r_int8 = median(times["fp32"]) / t_tv, median(times["int8"]) / t_tv
    return [
        Row(figures[0], fmt_s(median(times["fp32"])), fmt_s(t_tv), f"{r_fp32:.2f}x", "<= 0.60x",
            status(r_fp32 <= 0.60, equal),
            f"vs torchvision {tv_name} (same random weights): {note}; {matched} of {total} "
            f"detections have a partner (label, box within 1e-2 px, score within 1e-4); converted and compiled in "
            f"{load_fp32:.1f} s (once: cached after); median of {repeats_n} interleaved runs"),
        Row(figures[1], fmt_s(median(times["int8"])), fmt_s(t_tv), f"{r_int8:.2f}x", "<= 0.35x",
            status(r_int8 <= 0.35),
            f"NNCF post-training quantization on {len(calib)} synthetic 640x480 scenes in {load_int8:.1f} s (once: "
            f"cached after); random weights, so only the speed is compared"),
    ]


def map_rows(weights: Path, figures: tuple[str, str, str], quick: bool, cache: str, origin: str = "") -> list[Row]:
    """Rows "int8 mAP - fp32 mAP", "OpenVINO fp32 mAP - PyTorch mAP" and each runtime's frames per second.

    VOC07 mAP@0.5 of ``weights`` on held-out synthetic 300x300 scenes (seed TEST_SEED: 100 quick, 500 full)
    with PyTorch (the frozen fp32 graph), OpenVINO fp32 and OpenVINO int8. int8 is calibrated as the app
    does by default (the checkpoint's recorded training data; quick: 64 of those scenes).
    """
    from core.data.synthetic import render_scene, synthetic_index
    from core.engine.demo import TEST_SEED
    from core.evaluation import evaluate
    from core.evaluation.run import run_detector

    count = 100 if quick else 500
    dets = {"torch": load_detector(weights, optimize=True),
            "openvino fp32": load_detector(weights, runtime="openvino", cache_dir=cache)}
    t0 = time.perf_counter()
    train_seed = dets["torch"].meta.get("train_config", {}).get("synthetic_seed", 1)
    calib = [render_scene(train_seed, i, (300, 300))[0] for i in range(64)] if quick else None
    dets["openvino int8"] = load_detector(weights, runtime="openvino", precision="int8", calibration=calib,
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
    where = f"VOC07 mAP@0.5 on {count} held-out synthetic scenes (seed {TEST_SEED}){origin}"
    return [
        Row(figures[0], f"{maps['openvino int8']:.4f}", f"{maps['openvino fp32']:.4f}", f"{d_int8:+.4f}",
            "|diff| <= 0.01", status(abs(d_int8) <= 0.01),
            f"{where}; int8 calibrated on {calib_record['count']} images of "
            f"{f'its training scenes (seed {train_seed})' if quick else calib_record['source']}, "
            f"quantized in {quant_s:.0f} s (once: cached after)"),
        Row(figures[1], f"{maps['openvino fp32']:.4f}", f"{maps['torch']:.4f}", f"{d_fp32:+.5f}", "|diff| <= 1e-4",
            status(abs(d_fp32) <= 1e-4), where),
        Row(figures[2], f"{fps['openvino fp32']:.1f} / {fps['openvino int8']:.1f} fps", f"{fps['torch']:.1f} fps",
            f"{fps['openvino fp32'] / fps['torch']:.1f}x / {fps['openvino int8'] / fps['torch']:.1f}x", "(info)",
            "info", f"OpenVINO fp32 / int8 against PyTorch (frozen fp32 graph); whole detect() on 300x300 scenes, "
                    f"{torch.get_num_threads()} threads, median of interleaved runs"),
    ]


def _vgg_rows(quick: bool, cache: str) -> list[Row]:
    return speed_rows(torchvision_ssd300(), "ssd300_vgg16", ("8. detect, OpenVINO fp32, batch 1, 640x480",
                                                             "8b. detect, OpenVINO int8, batch 1, 640x480"), quick, cache)


def _demo_rows(quick: bool, cache: str) -> list[Row]:
    figures = ("9. demo model: OpenVINO int8 mAP - fp32 mAP", "9b. demo model: OpenVINO fp32 mAP - PyTorch mAP",
               "9c. demo model: frames per second, batch 1")
    if not DEMO_WEIGHTS.exists():
        return [Row(figures[0], "n/a", "n/a", "n/a", "|diff| <= 0.01", f"n/a: {DEMO_WEIGHTS.name} not built yet")]
    return map_rows(DEMO_WEIGHTS, figures, quick, cache)


def run(quick: bool = False) -> list[Row]:
    with tempfile.TemporaryDirectory() as cache:
        return _vgg_rows(quick, cache) + _demo_rows(quick, cache)


def main() -> None:
    bench_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
