"""Labelling speed of ``ssd pseudo-label``: frames per second for the demo teacher and a torchvision zoo teacher.

    .venv/bin/python -m benchmarks.bench_teachers [--quick] [--threads N]

Each teacher labels the same synthetic clip (320x240) through :func:`core.pseudo_label.pseudo_label` (decode,
detect, write the VOC dataset) and, interleaved run by run, the bare ``teacher.detect`` on the same frames
already decoded (the reference): the ratio says what the labelling pipeline costs on top of the model. The zoo
teacher is ``fasterrcnn_mobilenet_v3_large_320_fpn`` with random weights (``weights=None``): torchvision's
full pre- and postprocessing at its COCO input size, so its speed is the real model's.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from benchmarks._common import Row, bench_main, interleaved, median, status

ZOO = "fasterrcnn_mobilenet_v3_large_320_fpn"
#: The pipeline (decode, write JPEG + XML) may cost at most this much of the teacher's own speed.
TARGET = 0.80


def _zoo_weights(folder: Path) -> str:
    from torchvision.models import get_model

    torch.manual_seed(0)
    path = folder / "zoo_random.pth"
    torch.save(get_model(ZOO, weights=None, weights_backbone=None, num_classes=91).state_dict(), path)
    return f"torchvision:{ZOO}@{path}"


def _teacher_rows(name: str, teacher: str, clip: Path, frames: int, repeats: int, tmp: Path) -> Row:
    from core.data.frames import open_frames, sample_frames
    from core.pseudo_label import PseudoLabelConfig, pseudo_label
    from core.resolve import load_detector

    det = load_detector(teacher)
    with open_frames(str(clip)) as src:
        images = [f.image for f in sample_frames(src, str(clip), 1, frames)]
    runs = iter(range(1000))

    def label() -> None:
        cfg = PseudoLabelConfig(sources=(str(clip),), teacher=teacher, out_dir=str(tmp / f"{name}_{next(runs)}"),
                                score_thresh=0.3, max_frames=frames, batch_size=8)
        result = pseudo_label(cfg, teacher=det)
        assert result.frames_written == frames, result

    def detect_only() -> None:
        for i in range(0, len(images), 8):
            det.detect(images[i:i + 8], score_thresh=0.3)

    t = time.perf_counter()
    times = interleaved({"label": label, "detect": detect_only}, repeats=repeats, warmup=1)
    print(f"[teachers] {name}: {time.perf_counter() - t:.0f} s", flush=True)
    fps, ref = frames / median(times["label"]), frames / median(times["detect"])
    ratio = fps / ref
    return Row(f"13{'' if name == 'demo' else 'b'}. pseudo-label fps, {name} teacher", f"{fps:.1f} fps",
               f"{ref:.1f} fps (detect only)", f"{ratio:.2f}x", f">= {TARGET:.2f}x", status(ratio >= TARGET),
               f"{frames} frames of a 320x240 clip, batch 8, decode + detect + VOC files, median of {repeats} "
               f"interleaved runs; {teacher.split('@')[0]}" + (" with random weights" if name == "zoo" else ""))


def run(quick: bool = False) -> list[Row]:
    from core.data.synthetic import render_video

    frames = 16 if quick else 48
    repeats = 2 if quick else 3
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        t = time.perf_counter()
        clip = render_video(tmp / "clip.mp4", seconds=frames / 8 + 1, fps=8, seed=3, size=(320, 240))
        print(f"[teachers] clip rendered in {time.perf_counter() - t:.0f} s", flush=True)
        rows = [_teacher_rows("demo", "demo", clip, frames, repeats, tmp)]
        rows.append(_teacher_rows("zoo", _zoo_weights(tmp), clip, frames, repeats, tmp))
    return rows


if __name__ == "__main__":
    bench_main(run, __doc__.splitlines()[0])
