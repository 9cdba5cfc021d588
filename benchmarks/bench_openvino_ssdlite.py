"""Targets 11 and 12: the OpenVINO runtime (fp32 and NNCF int8) for SSDlite320-MobileNetV3, as rows 8 and 9 for VGG.

    .venv/bin/python -m benchmarks.bench_openvino_ssdlite [--quick] [--threads N] [--ssdlite-weights PATH]

11. SSDlite320 with torchvision-layout random weights (BatchNorm statistics measured on synthetic scenes, so
    the 300 scores are spread and distinct: ``benchmarks._models.torchvision_ssdlite``), batch 1, a 640x480
    scene: the whole ``Detector.detect`` on OpenVINO fp32 and int8 against torchvision's whole
    ``ssdlite320_mobilenet_v3_large`` call, interleaved. fp32 must give torchvision's detections (labels
    equal, boxes within 1e-2 px); int8 (calibrated on synthetic scenes: the weights are random) is
    measured for speed only.
12. A trained SSDlite320 on held-out synthetic scenes (seed 2024, as the demo model's row 9): VOC07 mAP of
    PyTorch (the frozen fp32 graph), OpenVINO fp32 and OpenVINO int8 (calibrated on the model's own
    training scenes, the app's default), and each runtime's frames per second, batch 1, interleaved.
    The weights: ``--ssdlite-weights`` (a checkpoint, or a run folder of ``benchmarks.train_family``);
    by default the family recipe's run, ``runs/family/ssdlite320_mobilenet_v3_large`` under the
    repository. When that is absent, a short SSDlite320 (width 1.0, 400 iterations on synthetic scenes,
    seeds fixed) is trained into ``runs/bench/ssdlite320_short`` and reused by later runs; the rows say so.

Conversion and quantization happen in a temporary cache folder, so their one-off cost is measured (in
the notes) and never mixed into the per-image times.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from benchmarks._common import Row, bench_main
from benchmarks._models import torchvision_ssdlite
from benchmarks.bench_openvino import map_rows, speed_rows

ROOT = Path(__file__).resolve().parents[1]
ARCH = "ssdlite320_mobilenet_v3_large"
#: Where ``python -m benchmarks.train_family train --model ssdlite320_mobilenet_v3_large`` writes its run.
FAMILY_RUN = ROOT / "runs" / "family" / ARCH
#: The fallback's run folder and length (1-2 s per iteration on two cores: 7-15 min, once).
SHORT_RUN = ROOT / "runs" / "bench" / "ssdlite320_short"
SHORT_ITERATIONS = 400


def resolve_weights(path: str | Path | None) -> tuple[Path | None, str]:
    """The trained SSDlite320 checkpoint of row 12 and how it was found.

    Args:
        path: a checkpoint, a run folder (``benchmarks.train_family``'s, with ``stage1``/``stage2``, or one
            trainer run), or None for :data:`FAMILY_RUN`.

    Returns:
        (checkpoint or None when the default run is absent, a phrase naming where it came from).

    Raises:
        ValueError: ``path`` was given but holds no checkpoint (the message names it).
    """
    folder = FAMILY_RUN if path is None else Path(path)
    if folder.is_file():
        return folder, f"{folder}"
    for sub in ("stage2/best.pt", "stage2/model.pt", "stage1/best.pt", "stage1/model.pt", "best.pt", "model.pt"):
        if (folder / sub).is_file():
            return folder / sub, f"{folder / sub}"
    if path is not None:
        raise ValueError(f"--ssdlite-weights {path}: no such checkpoint, and no best.pt or model.pt in that "
                         f"folder (or in its stage1/stage2)")
    return None, ""


def train_short(out: Path = SHORT_RUN, iterations: int = SHORT_ITERATIONS) -> Path:
    """A short SSDlite320 run on synthetic scenes (width 1.0, seeds fixed), or its checkpoint when it is done.

    The family recipe's first stage (benchmarks.train_family: Adam 1e-3, batch 8, light augmentation,
    300x300 scenes of the demo's training seed), cut to ``iterations`` over 800 scenes. A run
    interrupted part-way resumes from its ``last.pt``.
    """
    from benchmarks.train_family import stages
    from core.engine.demo import _print_progress
    from core.engine.trainer import train

    done = out / "model.pt"
    if done.is_file() and _iterations(done) >= iterations:
        return done
    cfg = stages(ARCH, out)[0][1]
    cfg = replace(cfg, out_dir=str(out), synthetic_count=800, val_count=50, epochs=4, max_iterations=iterations,
                  warmup_iters=50, checkpoint_every=100, num_threads=torch.get_num_threads())
    last = out / "last.pt"
    threads = torch.get_num_threads()
    try:
        result = train(replace(cfg, resume=str(last) if last.exists() else None), on_progress=_print_progress)
    finally:
        torch.set_num_threads(threads)
    if result.stopped or result.iterations < iterations:
        raise RuntimeError(f"the short SSDlite320 run in {out} stopped at iteration {result.iterations} of "
                           f"{iterations}; run the benchmark again to resume it")
    return result.checkpoint


def _iterations(weights: Path) -> int:
    """Training iterations a checkpoint records (0 when it records none)."""
    from core.weights import load_weights

    return int(load_weights(weights).meta.get("iterations", 0))


def trained_weights(weights_arg: str | Path | None) -> tuple[Path, str]:
    """Row 12's checkpoint (see :func:`resolve_weights`, else :func:`train_short`) and a note saying which."""
    weights, origin = resolve_weights(weights_arg)
    if weights is not None:
        return weights, f"{origin} ({_iterations(weights)} training iterations)"
    t0 = time.perf_counter()
    weights = train_short()
    return weights, (f"no trained SSDlite320 in {FAMILY_RUN.relative_to(ROOT)}, so a short run of this benchmark "
                     f"({weights.relative_to(ROOT)}: width 1.0, {_iterations(weights)} iterations on 800 "
                     f"synthetic scenes, seeds fixed; {time.perf_counter() - t0:.0f} s in this run)")


def run(quick: bool = False, ssdlite_weights: str | Path | None = None) -> list[Row]:
    with tempfile.TemporaryDirectory() as cache:
        rows = speed_rows(torchvision_ssdlite(), ARCH, ("11. SSDlite detect, OpenVINO fp32, batch 1, 640x480",
                                                        "11b. SSDlite detect, OpenVINO int8, batch 1, 640x480"),
                          quick, cache, repeats=(5, 15))
        weights, origin = trained_weights(ssdlite_weights)
        return rows + map_rows(weights, ("12. SSDlite: OpenVINO int8 mAP - fp32 mAP",
                                         "12b. SSDlite: OpenVINO fp32 mAP - PyTorch mAP",
                                         "12c. SSDlite: frames per second, batch 1"),
                               quick, cache, origin=f"; weights: {origin}")


def add_options(parser: argparse.ArgumentParser) -> None:
    """``--ssdlite-weights``, shared by this script and ``benchmarks.run_all``."""
    parser.add_argument("--ssdlite-weights", default=None, metavar="PATH",
                        help=f"trained SSDlite320 checkpoint or run folder for row 12 (default "
                             f"{FAMILY_RUN.relative_to(ROOT)}; when absent a short run is trained into "
                             f"{SHORT_RUN.relative_to(ROOT)})")


def main() -> None:
    bench_main(run, __doc__.splitlines()[0], add_options)


if __name__ == "__main__":
    main()
