"""Target 4: training targets for a batch of 32 images with 1 to 20 objects each.

    .venv/bin/python -m benchmarks.bench_matching [--quick] [--threads N]

Reference: torchvision's SSD per-image loop (``box_iou`` + ``SSDMatcher`` + ``BoxCoder.encode_single``
on the foreground, as ``SSD.compute_loss`` does) over the 8732 SSD300 default boxes. Both sides work
in normalised coordinates: the maths is scale-free, and identical inputs make ties (two priors with
the same IoU for an object) break the same way, so the targets can be compared exactly.
Ours: ``core.ssd.matching.build_targets`` on the padded batch (padding included in the time).
"""
from __future__ import annotations


import torch
from torchvision.models.detection._utils import BoxCoder as TVBoxCoder
from torchvision.models.detection._utils import SSDMatcher
from torchvision.ops import box_iou

from benchmarks._common import Row, bench_main, fmt_s, interleaved, median, status
from core.ssd.boxes import cxcywh_to_xyxy
from core.config import ssd300
from core.ssd.matching import BoxCoder, Matcher, build_targets
from core.ssd.priors import prior_boxes


def make_batch(batch: int = 32, seed: int = 0) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per image: boxes float [n, 4] x1y1x2y2 in pixels of 300x300, labels int64 [n] in 1..90, n in 1..20."""
    g = torch.Generator().manual_seed(seed)
    boxes, labels = [], []
    for _ in range(batch):
        n = int(torch.randint(1, 21, (1,), generator=g))
        xy = torch.rand(n, 2, generator=g) * 250
        wh = torch.rand(n, 2, generator=g) * 140 + 8
        boxes.append(torch.cat((xy, (xy + wh).clamp(max=300)), dim=1))
        labels.append(torch.randint(1, 91, (n,), generator=g))
    return boxes, labels


def torchvision_targets(boxes: list[torch.Tensor], labels: list[torch.Tensor], anchors: torch.Tensor,
                        matcher: SSDMatcher, coder: TVBoxCoder) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """torchvision's per-image loop: class targets [B, P] and the foreground regression targets per image."""
    cls_t, reg_t = [], []
    for b, l in zip(boxes, labels):
        matched = matcher(box_iou(b, anchors))
        fg = torch.where(matched >= 0)[0]
        reg_t.append(coder.encode_single(b[matched[fg]], anchors[fg]))
        c = torch.zeros(anchors.shape[0], dtype=torch.int64)
        c[fg] = l[matched[fg]]
        cls_t.append(c)
    return torch.stack(cls_t), reg_t


def our_targets(boxes: list[torch.Tensor], labels: list[torch.Tensor], priors: torch.Tensor,
                matcher: Matcher, coder: BoxCoder) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to [B, M, 4] (normalised) as the collate function does, then one batched call."""
    m = max(len(b) for b in boxes)
    gb = torch.zeros(len(boxes), m, 4)
    gl = torch.zeros(len(boxes), m, dtype=torch.int64)
    for i, (b, l) in enumerate(zip(boxes, labels)):
        gb[i, : len(b)] = b / 300.0
        gl[i, : len(l)] = l
    return build_targets(matcher, coder, gb, gl, priors)


def run(quick: bool = False) -> list[Row]:
    repeats = 5 if quick else 15
    priors = prior_boxes(ssd300().model.priors, 300)
    anchors = cxcywh_to_xyxy(priors)
    boxes, labels = make_batch()
    tv_boxes = [b / 300.0 for b in boxes]
    tv_m, tv_c = SSDMatcher(0.5), TVBoxCoder((10.0, 10.0, 5.0, 5.0))
    m, c = Matcher(), BoxCoder()
    with torch.no_grad():
        ref_cls, ref_reg = torchvision_targets(tv_boxes, labels, anchors, tv_m, tv_c)
        cls_t, reg_t = our_targets(boxes, labels, priors, m, c)
    equal = torch.equal(cls_t, ref_cls)
    worst = 0.0
    for i, r in enumerate(ref_reg):
        worst = max(worst, float((reg_t[i][cls_t[i] > 0] - r).abs().max()))
    equal = equal and worst <= 1e-4

    def ref_fn():
        with torch.no_grad():
            return torchvision_targets(tv_boxes, labels, anchors, tv_m, tv_c)

    def ours_fn():
        with torch.no_grad():
            return our_targets(boxes, labels, priors, m, c)

    times = interleaved({"ref": ref_fn, "ours": ours_fn}, repeats)
    speedup = median(times["ref"]) / median(times["ours"])
    n_obj = sum(len(b) for b in boxes)
    return [Row("4. matching + encoding, batch 32", fmt_s(median(times["ours"])), fmt_s(median(times["ref"])),
                f"{speedup:.1f}x faster", ">= 3x", status(speedup >= 3.0, equal),
                f"{n_obj} objects over 32 images, 8732 priors; class targets identical, regression targets "
                f"within {worst:.1e}; "
                f"median of {repeats} interleaved runs")]


def main() -> None:
    bench_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
