"""Target 7: training throughput (images/s) and the share of step time spent waiting for data.

    .venv/bin/python -m benchmarks.bench_train [--quick] [--device auto] [--batch 32] [--width 1.0]

Runs core.engine.train.train on synthetic 300x300 scenes with the paper's augmentation chain and
reads its TrainProgress events (``images_per_s``, ``data_wait_fraction``, both over recent steps).
On the CPU the default is a small network (width 0.25) and batch 8 so that the run takes a minute;
on a GPU, batch 32 with AMP and the full network. There is no torchvision reference for this figure.
"""
from __future__ import annotations

import argparse
import tempfile

import torch

from benchmarks._common import Row, print_table, status


def run(quick: bool = False, device: str = "auto", batch: int | None = None, width: float | None = None,
        workers: int = 2) -> list[Row]:
    from core.engine import EventKind, TrainConfig, train

    cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    batch = batch or (32 if cuda else 8)
    width = width or (1.0 if cuda else 0.25)
    iters = 12 if quick else 40
    events = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(data_format="synthetic", synthetic_count=batch * iters, synthetic_size=300, val_split=None,
                          augment="ssd", width=width, epochs=1, batch_size=batch, max_iterations=iters,
                          device="cuda" if cuda else "cpu", amp=cuda, num_workers=workers, out_dir=tmp,
                          checkpoint_every=0, val_every_epochs=0, warmup_iters=5)
        train(cfg, on_progress=events.append)
    steady = [e for e in events if e.iteration > 2 and e.kind == EventKind.STEP] or events
    last = steady[-1]
    where = f"{'CUDA ' + torch.cuda.get_device_name(0) + ', AMP' if cuda else 'CPU, fp32'}"
    return [Row(f"7. training, batch {batch}, width {width}", f"{last.images_per_s:.1f} img/s", "-", "-",
                "loader never the bottleneck", status(last.data_wait_fraction < 0.1),
                f"{where}, {workers} loader workers, 'ssd' augmentation; {iters} iterations; "
                f"data wait {100 * last.data_wait_fraction:.0f}% of step time (target < 10%)")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--width", type=float, default=None)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    print_table(run(args.quick, args.device, args.batch, args.width, args.workers))


if __name__ == "__main__":
    main()
