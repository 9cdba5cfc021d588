"""Child process for the resume and torchrun tests (run as a script, not collected by pytest).

    python tests/engine/train_child.py OUT_DIR MODE   MODE: full | hang-after-5 | resume | ddp | hang-in-save

hang-in-save: the checkpoint of iteration 2 writes a few bytes, prints WRITING and hangs (the parent kills it).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from core.engine import EventKind, Trainer  # noqa: E402
from tests.engine.helpers import tiny_config  # noqa: E402


def main() -> None:
    out, mode = Path(sys.argv[1]), sys.argv[2]
    torch.set_num_threads(1)  # the same reduction order in every process, so weights compare bit for bit
    # 6 scenes, 2 per step: 3 steps per epoch, 2 epochs; checkpoints after steps 2, 3 (epoch end), 4 and 6.
    cfg = tiny_config(out, synthetic_count=6, epochs=2, checkpoint_every=2, augment="light")
    if mode == "ddp":  # validation on rank 0 while rank 1 waits: no deadlock at the barrier
        cfg = tiny_config(out, synthetic_count=6, epochs=2, checkpoint_every=2, augment="light",
                          val_split="test", val_count=2, val_seed=99)
    if mode == "hang-in-save":
        cfg = tiny_config(out, synthetic_count=6, epochs=2, checkpoint_every=1)
        real_save = torch.save

        def save(obj, f, *args, **kwargs):  # type: ignore[no-untyped-def]
            if isinstance(obj, dict) and obj.get("iteration") == 2:
                f.write(b"the first bytes of a checkpoint")
                f.flush()
                print("WRITING", flush=True)
                time.sleep(600)
            return real_save(obj, f, *args, **kwargs)

        torch.save = save
    if mode == "resume":
        cfg = tiny_config(out, synthetic_count=6, epochs=2, checkpoint_every=2, augment="light",
                          resume=str(out / "last.pt"))

    def on_progress(p) -> None:
        if p.kind not in (EventKind.STEP, EventKind.RESUMED):
            return
        print(f"ITER {p.iteration} {p.loss!r} {p.message}", flush=True)
        if mode == "hang-after-5" and p.iteration == 5:
            time.sleep(600)  # the parent SIGKILLs us here, between checkpoints

    trainer = Trainer(cfg, on_progress=on_progress)
    result = trainer.run()
    if mode == "ddp":
        rank = trainer.dist.rank
        torch.save({k: v.detach().cpu() for k, v in trainer._module.state_dict().items()}, out / f"rank{rank}.pt")
        print(f"RANK {rank} ITERATIONS {result.iterations}", flush=True)
    print(f"DONE {result.iterations}", flush=True)


if __name__ == "__main__":
    main()
