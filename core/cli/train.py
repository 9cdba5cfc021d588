"""`ssd train`: train a detector."""
from __future__ import annotations

import argparse
import sys

from core.cli.progress import ProgressBar


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a detector",
                       description="Train an SSD detector. Writes last.pt (resumable), model.pt, best.pt and "
                                   "metrics.csv into --out. Under torchrun every process runs this same command "
                                   "(DistributedDataParallel; --batch-size is per process).")
    d = p.add_argument_group("data")
    d.add_argument("--data", default=None, help="VOC root(s, comma-separated) or COCO instances JSON (not for synthetic)")
    d.add_argument("--format", dest="data_format", required=True, choices=("voc", "coco", "synthetic"))
    d.add_argument("--train-split", default="trainval", help="VOC image set to train on (default trainval)")
    d.add_argument("--val-split", default="test",
                   help="VOC image set / COCO val JSON for validation; 'none' disables (default test)")
    d.add_argument("--synthetic-count", type=int, default=2000, help="synthetic training scenes (default 2000)")
    d.add_argument("--synthetic-seed", type=int, default=1)
    d.add_argument("--synthetic-size", type=int, default=300, help="side of synthetic scenes in px (default 300)")
    d.add_argument("--val-count", type=int, default=200, help="held-out synthetic scenes (default 200)")
    d.add_argument("--val-seed", type=int, default=1_000_003, help="seed of the held-out synthetic scenes")
    d.add_argument("--augment", default="ssd", choices=("ssd", "light", "none"),
                   help="ssd: the paper's chain; light: photometric + flip; none (default ssd)")
    d.add_argument("--cache-images", action="store_true", help="keep decoded training images in memory")
    m = p.add_argument_group("model")
    m.add_argument("--model", dest="arch", default="ssd300", choices=("ssd300", "ssd512"))
    m.add_argument("--priors", default="voc", choices=("voc", "coco"))
    m.add_argument("--width", type=float, default=1.0, help="channel multiplier (default 1.0, the paper's net)")
    m.add_argument("--backbone", dest="backbone_weights", default=None,
                   help="ImageNet VGG16 weights (torchvision layout) to initialise the trunk")
    m.add_argument("--init", dest="init_weights", default=None,
                   help="detector weights (same architecture, width and classes) to fine-tune from")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=10)
    o.add_argument("--batch-size", type=int, default=16, help="images per step and process (default 16)")
    o.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"))
    o.add_argument("--lr", type=float, default=1e-3)
    o.add_argument("--momentum", type=float, default=0.9)
    o.add_argument("--weight-decay", type=float, default=5e-4)
    o.add_argument("--warmup-iters", type=int, default=500)
    o.add_argument("--milestones", default="0.6667,0.8333",
                   help="lr decay points as fractions of the run, comma-separated (default 0.6667,0.8333)")
    o.add_argument("--gamma", type=float, default=0.1)
    o.add_argument("--max-iterations", type=int, default=None, help="stop after this many iterations in all")
    o.add_argument("--amp", action="store_true", help="fp16 mixed precision (CUDA only)")
    r = p.add_argument_group("run")
    r.add_argument("--out", required=True, help="run folder for checkpoints and metrics.csv")
    r.add_argument("--resume", default=None, help="a last.pt to continue from")
    r.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    r.add_argument("--workers", dest="num_workers", type=int, default=2, help="data loader processes (default 2)")
    r.add_argument("--threads", dest="num_threads", type=int, default=None,
                   help="torch CPU threads (default: torch's; 1 is fastest on a CPU shared with other jobs)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--checkpoint-every", type=int, default=500, help="iterations between checkpoints (0: epoch ends)")
    r.add_argument("--val-every", dest="val_every_epochs", type=int, default=1,
                   help="epochs between validations (0: only at the end)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from core.engine import TrainConfig, TrainProgress, train

    try:
        milestones = tuple(float(v) for v in args.milestones.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--milestones must be comma-separated fractions, got {args.milestones!r}") from None
    fields = {k: getattr(args, k) for k in (
        "data_format", "train_split", "synthetic_count", "synthetic_seed", "synthetic_size", "val_count",
        "val_seed", "augment", "cache_images", "arch", "priors", "width", "backbone_weights", "init_weights", "epochs",
        "batch_size", "optimizer", "lr", "momentum", "weight_decay", "warmup_iters", "gamma", "device", "amp",
        "num_workers", "num_threads", "seed", "checkpoint_every", "val_every_epochs", "resume", "max_iterations")}
    val_split = None if str(args.val_split).lower() == "none" else args.val_split
    cfg = TrainConfig(data_path=args.data, val_split=val_split, milestones=milestones, out_dir=args.out, **fields)
    bar: ProgressBar | None = None

    def show(p: TrainProgress) -> None:
        nonlocal bar
        if bar is None:
            bar = ProgressBar("train", p.total_iterations)
            bar.n = p.iteration if p.iteration < p.total_iterations else 0
        if p.message:
            sys.stderr.write(f"\n{p.message}\n")
        if p.message.startswith("resumed"):
            return
        bar.update(p.iteration - bar.n, suffix=f"loss {p.loss:.3f} (loc {p.loc_loss:.3f} conf {p.conf_loss:.3f}) "
                                                f"lr {p.lr:.2e}")

    result = train(cfg, on_progress=show)
    if bar is not None:
        bar.close()
    vm = "" if result.val_map is None else f", validation VOC07 mAP@0.5 {result.val_map:.4f}"
    state = "stopped" if result.stopped else "finished"
    print(f"{state} after {result.iterations} iterations{vm}; model -> {result.checkpoint}, "
          f"metrics -> {result.metrics_csv}", file=sys.stderr)
    return 0
