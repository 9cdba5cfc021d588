"""Longer training runs of the SSD family, each to a recorded held-out VOC07 mAP (issue 11).

    python -m benchmarks.train_family train --model NAME [--out runs/family]   # both stages, resumable
    python -m benchmarks.train_family eval  --model NAME [--out runs/family]   # held-out mAP -> result.json
    python -m benchmarks.train_family train --model NAME --smoke               # 3 iterations per stage
    python -m benchmarks.train_family train --model NAME --recipe short        # stage 1 for 2 epochs only

NAME is one of :data:`RECIPES` (the four architectures issue 11 added). Each trains from scratch with
this project's trainer exactly as the demo model does (core.engine.demo): synthetic 300x300 shape
scenes of ``TRAIN_SEED``, "light" augmentation, Adam, batch 8, one thread per process; stage 1 on 5,000
scenes for 5 epochs, stage 2 from stage 1's best weights on 20,000 scenes for 4 epochs (13,125
iterations in all); ``best.pt`` is chosen on 200 scenes of ``VAL_SEED``, and ``eval`` measures it on 500
scenes of ``TEST_SEED`` (used by nothing else) with the VOC07 11-point mAP at IoU 0.5, as the demo
model's figure. ``result.json`` in the run folder records the mAP, the iterations and the training time.

The widths (``--width`` overrides them) keep each run within a few hours on two CPU cores: SSDlite320
at its published width (the exact torchvision network; about the demo model's multiply-adds, but
depthwise convolutions run slower per multiply-add), the qfgaohao MobileNet-SSDs at 0.5, the
ResNet-50 SSD at 0.25. A training step (batch 8, one thread) costs about 2.3x (SSDlite320), 1.2x
(SSDLite300-V2), 0.9x (MobileNetV1-SSD) and 2.0x (ResNet-50) the demo model's, whose 18,125
iterations took 2.8 h: roughly 4.6, 2.4, 1.8 and 4 h for these 13,125.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from core.engine.demo import DEMO_CONFIG, DEMO_STAGE2, TEST_COUNT, _print_progress, held_out_map
from core.engine.config import TEST_SEED

#: Architecture -> channel width of its run.
RECIPES: dict[str, float] = {
    "ssdlite320_mobilenet_v3_large": 1.0,
    "ssdlite300_mobilenet_v2": 0.5,
    "ssd300_mobilenet_v1": 0.5,
    "ssd300_resnet50": 0.25,
}


#: ``--recipe short``: stage 1's data and settings for 2 epochs (1,250 iterations), stage 2 left out.
SHORT_EPOCHS = 2


def stages(arch: str, out: Path, smoke: bool = False, width: float | None = None,
           recipe: str = "full", epochs: int | None = None) -> list[tuple[str, object]]:
    """(name, TrainConfig) of each stage of ``arch``'s run in ``out``; ``smoke``: 3 iterations each.

    ``recipe="short"`` is stage 1 alone for :data:`SHORT_EPOCHS` epochs: the run that fits in a session
    on two shared cores, recorded as such (its mAP is not the full recipe's); ``epochs`` replaces its
    epoch count.
    """
    common = dict(arch=arch, priors=None, width=RECIPES[arch] if width is None else width)
    first = replace(DEMO_CONFIG, **common, out_dir=str(out / "stage1"))
    second = replace(DEMO_STAGE2, **common, out_dir=str(out / "stage2"))
    if recipe == "short":
        first = replace(first, epochs=epochs or SHORT_EPOCHS, num_threads=1)
    if smoke:
        tiny = dict(synthetic_count=24, val_count=8, epochs=1, max_iterations=3, warmup_iters=1, checkpoint_every=0)
        first, second = replace(first, **tiny), replace(second, **tiny)
    return [("stage1", first)] if recipe == "short" else [("stage1", first), ("stage2", second)]


def train_run(arch: str, out: Path, smoke: bool = False, width: float | None = None, recipe: str = "full",
              epochs: int | None = None) -> None:
    """Both stages; each resumes from its ``last.pt`` when there, stage 2 starts from stage 1's best."""
    from core.engine.trainer import train

    previous: Path | None = None
    for name, cfg in stages(arch, out, smoke, width, recipe, epochs):
        last = Path(cfg.out_dir) / "last.pt"
        cfg = replace(cfg, resume=str(last) if last.exists() else None,
                      init_weights=str(previous) if previous is not None else None)
        t0 = time.monotonic()
        result = train(cfg, on_progress=_print_progress)
        print(f"{arch} {name}: {result.iterations} iterations in {time.monotonic() - t0:.0f} s", flush=True)
        best = Path(cfg.out_dir) / "best.pt"
        previous = best if best.exists() else result.checkpoint


def eval_run(arch: str, out: Path, count: int = TEST_COUNT) -> dict:
    """Held-out VOC07 mAP of the last stage's best weights; writes and returns ``out/result.json``."""
    from core.io.fileio import write_json
    from core.weights import load_weights

    names = [s for s in ("stage1", "stage2") if (out / s / "model.pt").exists()]
    if not names:
        raise SystemExit(f"{out}: no finished stage (stage1/model.pt); run 'train' first")
    source = out / names[-1] / "best.pt"
    if not source.exists():
        source = out / names[-1] / "model.pt"
    done = [load_weights(out / s / "model.pt").meta for s in names]
    epochs = (done[-1].get("train_config") or {}).get("epochs")
    recipe = "full" if len(names) == 2 else "short"
    t0 = time.monotonic()
    result = {
        "arch": arch, "recipe": recipe, "stages": names, "epochs": epochs,
        "width": load_weights(source).config.model.width, "weights": str(source),
        "held_out_map_voc07": held_out_map(source, count=count), "held_out_seed": TEST_SEED, "held_out_count": count,
        "iterations": int(sum(m.get("iterations", 0) for m in done)),
        "train_time_s": float(sum(m.get("train_time_s", 0.0) for m in done)),
        "reproduce": f"python -m benchmarks.train_family train --model {arch} --recipe {recipe}"
                     + (f" --epochs {epochs}" if recipe == "short" else "") + " && "
                     f"python -m benchmarks.train_family eval --model {arch}",
    }
    result["eval_s"] = time.monotonic() - t0
    # Other processes share the cores: the training time is only comparable with the load it ran under.
    result["load_average_at_eval"] = list(os.getloadavg())
    write_json(out / "result.json", result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_family", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=("train", "eval"))
    parser.add_argument("--model", required=True, choices=tuple(RECIPES))
    parser.add_argument("--out", default="runs/family", help="parent of the run folders (default runs/family)")
    parser.add_argument("--width", type=float, default=None, help="channel width (default: the recipe's)")
    parser.add_argument("--recipe", choices=("full", "short"), default="full",
                        help="full: both stages (13,125 iterations); short: stage 1 for 2 epochs (1,250)")
    parser.add_argument("--epochs", type=int, default=None, help="--recipe short: epochs of stage 1 (default 2)")
    parser.add_argument("--smoke", action="store_true", help="3 iterations per stage and 8 held-out scenes")
    args = parser.parse_args(argv)
    out = Path(args.out) / args.model
    if args.stage == "train":
        train_run(args.model, out, args.smoke, args.width, args.recipe, args.epochs)
    else:
        print(json.dumps(eval_run(args.model, out, count=8 if args.smoke else TEST_COUNT), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
