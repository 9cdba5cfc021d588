"""Reproduce the bundled demo model and video (``core/resources/demo_model.pt``, ``core/resources/demo.mp4``).

    python -m core.engine.demo train  --out runs/demo     # both stages (each resumes from its last.pt if there)
    python -m core.engine.demo export --out runs/demo     # held-out mAP, writes core/resources/demo_model.pt
    python -m core.engine.demo video                      # renders core/resources/demo.mp4

The model is VGG16-SSD300 (COCO default boxes, whose 21 px smallest box suits the 12 px shapes
better than the VOC set's 30 px) at width 0.125 (every channel count divided by 8),
trained from scratch with this project's trainer on synthetic shape scenes (``TRAIN_SEED``), validated
on scenes of ``VAL_SEED`` (used to pick ``best.pt``) and finally measured on scenes of ``TEST_SEED``,
used by nothing else (the seeds live in core.engine.config), with the VOC07 11-point mAP at IoU 0.5.

Training runs in three stages with the same trainer: stage 1 (``DEMO_CONFIG``) trains from random
weights on 5,000 scenes; stage 2 (``DEMO_STAGE2``) starts from stage 1's best weights
(``TrainConfig.init_weights``) with a fresh Adam state and schedule on 20,000 scenes of the same seed
(the first 5,000 are stage 1's); stage 3 (``DEMO_STAGE3``) restarts from stage 2's best at half the
learning rate for two more epochs (a warm restart). Each stage can be resumed and is validated on its
own; each one's learning-rate decay gave the last gains of its run.

Augmentation is "light" (photometric distortion + horizontal flip) rather than the paper's
expand/crop chain: the scenes already vary object scale and position widely, and on two CPU
cores the zoom-out/zoom-in samples cost more convergence time than they buy in robustness.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.engine.config import TEST_SEED, TRAIN_SEED, VAL_SEED, VIDEO_SEED, TrainConfig
from core.engine.events import EventKind, TrainProgress
from core.engine.trainer import train, validate

TEST_COUNT = 500

DEMO_CONFIG = TrainConfig(
    data_format="synthetic", synthetic_count=5000, synthetic_seed=TRAIN_SEED, synthetic_size=300,
    val_count=200, val_seed=VAL_SEED, augment="light", cache_images=True,
    arch="ssd300", priors="coco", width=0.125,
    epochs=5, batch_size=8, optimizer="adam", lr=1e-3, weight_decay=0.0, warmup_iters=200,
    milestones=(0.75, 0.92), gamma=0.1, device="cpu", num_workers=1, num_threads=1, seed=0,
    out_dir="runs/demo", checkpoint_every=100, val_every_epochs=1,
)
DEMO_STAGE2 = replace(
    DEMO_CONFIG, synthetic_count=20_000, epochs=4, lr=1e-3, warmup_iters=200, milestones=(0.7, 0.9),
    num_threads=2, checkpoint_every=200,
)
DEMO_STAGE3 = replace(DEMO_STAGE2, epochs=2, lr=5e-4, warmup_iters=100, milestones=(0.6, 0.85))
STAGES = (("stage1", DEMO_CONFIG), ("stage2", DEMO_STAGE2), ("stage3", DEMO_STAGE3))


def _print_progress(p: TrainProgress) -> None:
    if p.kind != EventKind.STEP:
        print(p.message, flush=True)
    elif p.iteration % 20 == 0:
        print(f"it {p.iteration}/{p.total_iterations} ep {p.epoch} loss {p.loss:.3f} (loc {p.loc_loss:.3f} "
              f"conf {p.conf_loss:.3f}) lr {p.lr:.2e} {p.images_per_s:.1f} img/s wait {p.data_wait_fraction:.2f} "
              f"eta {p.eta_s / 60:.1f} min", flush=True)


def held_out_map(weights: str | Path, count: int = TEST_COUNT, seed: int = TEST_SEED) -> float:
    """VOC07 mAP@0.5 of a checkpoint on ``count`` synthetic scenes of ``seed`` (300x300)."""
    from core.data.synthetic import synthetic_index
    from core.resolve import load_detector

    det = load_detector(weights)
    gt = synthetic_index(count, seed, (DEMO_CONFIG.synthetic_size, DEMO_CONFIG.synthetic_size))
    return validate(det.model, det.config, det.class_names, gt, det.device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.engine.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=("train", "export", "video"))
    parser.add_argument("--out", default=DEMO_CONFIG.out_dir, help="run folder (default runs/demo)")
    parser.add_argument("--resources", default=None, help="folder for demo_model.pt / demo.mp4 (default core/resources/)")
    args = parser.parse_args(argv)

    from core.detector import RESOURCES

    resources = Path(args.resources) if args.resources else RESOURCES
    {"train": lambda: train_stages(Path(args.out)), "export": lambda: export_demo(Path(args.out), resources),
     "video": lambda: render_demo_video(resources)}[args.stage]()
    return 0


def train_stages(out_dir: Path) -> None:
    """Train the three stages into ``out_dir/stage1..3``, each resuming from its own ``last.pt`` if there."""
    previous: Path | None = None
    for name, stage_cfg in STAGES:
        out = out_dir / name
        last = out / "last.pt"
        cfg = replace(stage_cfg, out_dir=str(out), resume=str(last) if last.exists() else None,
                      init_weights=str(previous) if previous is not None else None)
        t0 = time.monotonic()
        result = train(cfg, on_progress=_print_progress)
        print(f"{name} done: {result} in {time.monotonic() - t0:.0f} s", flush=True)
        previous = out / "best.pt" if (out / "best.pt").exists() else result.checkpoint


def _stage_costs(out_dir: Path) -> list[dict[str, Any]]:
    """Every stage's full run (its final model.pt, not just up to best.pt): iterations, time, mAP."""
    from core.weights import load_weights

    stages = []
    for name, _ in STAGES:
        final = out_dir / name / "model.pt"
        sm = load_weights(final).meta if final.exists() else {}
        stages.append({"stage": name, "iterations": sm.get("iterations"), "train_time_s": sm.get("train_time_s"),
                       "val_map_voc07": sm.get("val_map_voc07")})
    return stages


def export_demo(out_dir: Path, resources: Path) -> None:
    """Measure the last stage's best weights on the held-out scenes and write ``resources/demo_model.pt``."""
    import torch

    from core.model import build_model
    from core.weights import load_state_into, load_weights, save_checkpoint

    run = out_dir / STAGES[-1][0]
    source = run / "best.pt" if (run / "best.pt").exists() else run / "model.pt"
    lw = load_weights(source)
    model = build_model(lw.config.model)
    load_state_into(model, lw.state_dict, source)
    meta = dict(lw.meta)
    stages = _stage_costs(out_dir)
    if all(st["train_time_s"] is not None for st in stages):
        meta["train_time_s"] = float(sum(st["train_time_s"] for st in stages))
        meta["iterations"] = int(sum(st["iterations"] for st in stages))
    meta["stages"] = stages
    t0 = time.monotonic()
    resources.mkdir(parents=True, exist_ok=True)
    out = resources / "demo_model.pt"
    tmp = run / "demo_model_candidate.pt"
    save_checkpoint(tmp, model, lw.config, lw.class_names, meta=meta)
    m = held_out_map(tmp)
    meta.update({"held_out_map_voc07": m, "held_out_seed": TEST_SEED, "held_out_count": TEST_COUNT,
                 "reproduce": "python -m core.engine.demo train && python -m core.engine.demo export"})
    save_checkpoint(out, model, lw.config, lw.class_names, meta=meta)
    print(json.dumps({"source": str(source), "held_out_map_voc07": m, "eval_s": time.monotonic() - t0,
                      "train_time_s": meta.get("train_time_s"), "iterations": meta.get("iterations"),
                      "bytes": out.stat().st_size, "torch": torch.__version__}, indent=1))


def render_demo_video(resources: Path) -> None:
    """Render ``resources/demo.mp4`` from the video seed."""
    from core.data.synthetic import render_video

    # Square, like the 300x300 training scenes: a 16:9 frame squeezed into the square input turns
    # circles into ellipses (the first demo model's VOC07 mAP on the video frames: 0.42 at 640x360, 0.57 at 480x480).
    path = render_video(resources / "demo.mp4", seconds=20, fps=25, seed=VIDEO_SEED, size=(480, 480),
                        overwrite=True)  # the recipe renders the bundled file again
    print(f"{path}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    sys.exit(main())
