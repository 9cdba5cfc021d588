"""Matcher rules and the box coder."""
from __future__ import annotations

import pytest
import torch
from torchvision.models.detection._utils import BoxCoder as TVBoxCoder
from torchvision.models.detection._utils import SSDMatcher
from torchvision.ops import box_iou

from core.ssd.boxes import cxcywh_to_xyxy
from core.config import MatcherConfig, ssd300, ssd512
from core.ssd.matching import BoxCoder, Matcher, _first_max, _grid_levels, build_targets
from core.ssd.priors import prior_boxes


def _priors() -> torch.Tensor:
    return prior_boxes(ssd300().model.priors, 300)


def test_threshold_is_inclusive_and_below_is_background() -> None:
    priors = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 4.0, 1.0], [10, 10, 11, 11]])
    gt = torch.tensor([[[0.0, 0.0, 1.0, 1.0], [20.0, 20.0, 21.0, 21.0]]])
    labels = torch.tensor([[5, 0]])  # second row is padding
    res = Matcher(MatcherConfig(0.5))(gt, labels, priors)
    # IoUs with the object: 1.0, 0.5 (exactly the threshold), 0.25, 0.
    assert res.labels.tolist() == [[5, 5, 0, 0]]
    assert res.matched_idxs.tolist() == [[0, 0, -1, -1]]


def test_each_object_is_forced_onto_its_best_prior() -> None:
    priors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 4.0], [50, 50, 60, 60]])
    # A thin object overlaps no prior by 0.5; it still gets its best prior (index 1, IoU 0.2).
    gt = torch.tensor([[[0.0, 0.0, 10.0, 0.8]]])
    res = Matcher()(gt, torch.tensor([[3]]), priors)
    assert res.labels.tolist() == [[0, 3, 0]]


def test_batched_matcher_equals_torchvision_per_image() -> None:
    g = torch.Generator().manual_seed(0)
    priors = _priors()
    priors_xyxy = cxcywh_to_xyxy(priors)
    b, m = 6, 7
    xy = torch.rand(b, m, 2, generator=g) * 0.7
    wh = torch.rand(b, m, 2, generator=g) * 0.3 + 0.02
    boxes = torch.cat((xy, xy + wh), dim=-1)
    counts = [0, 1, 3, 7, 5, 2]
    labels = torch.zeros(b, m, dtype=torch.int64)
    for i, n in enumerate(counts):
        labels[i, :n] = torch.randint(1, 20, (n,), generator=g)
    res = Matcher()(boxes, labels, priors_xyxy)
    tv = SSDMatcher(0.5)
    for i, n in enumerate(counts):
        if n == 0:
            assert (res.matched_idxs[i] == -1).all() and (res.labels[i] == 0).all()
            continue
        ref = tv(box_iou(boxes[i, :n], priors_xyxy))
        assert torch.equal(res.matched_idxs[i], ref)


def test_encode_decode_round_trip_and_torchvision_equivalence() -> None:
    priors = _priors()
    g = torch.Generator().manual_seed(1)
    xy = torch.rand(priors.shape[0], 2, generator=g) * 0.6
    boxes = torch.cat((xy, xy + torch.rand(priors.shape[0], 2, generator=g) * 0.4 + 0.01), dim=-1)
    coder = BoxCoder((0.1, 0.2))
    deltas = coder.encode(boxes, priors)
    assert torch.allclose(coder.decode(deltas, priors), boxes, atol=1e-5)
    tv = TVBoxCoder(weights=(10.0, 10.0, 5.0, 5.0))
    ref = tv.encode_single(boxes * 300, cxcywh_to_xyxy(priors) * 300)
    assert torch.allclose(deltas, ref, atol=1e-3)


def test_build_targets_marks_background_with_finite_deltas() -> None:
    priors = _priors()
    gt = torch.tensor([[[0.1, 0.1, 0.5, 0.6]], [[0.0, 0.0, 0.0, 0.0]]])
    labels = torch.tensor([[2], [0]])
    tl, td = build_targets(Matcher(), BoxCoder(), gt, labels, priors)
    assert tl.shape == (2, 8732) and td.shape == (2, 8732, 4)
    assert (tl[0] > 0).sum() >= 1 and (tl[1] == 0).all()
    assert torch.isfinite(td).all()


def _random_gt(g: torch.Generator, n: int) -> torch.Tensor:
    """n boxes x1y1x2y2 in [0, 1], from tiny to larger than the image (clipped), with exact duplicates."""
    xy = torch.rand(n, 2, generator=g) * 0.9
    wh = torch.rand(n, 2, generator=g) ** 2 * 0.9 + 0.005
    boxes = torch.cat((xy, (xy + wh).clamp(max=1.0)), dim=1)
    if n >= 4:
        boxes[n // 2] = boxes[0]  # two objects with the same box: ties in every IoU
    return boxes


@pytest.mark.parametrize("arch,priors_name", [("ssd300", "voc"), ("ssd300", "coco"), ("ssd512", "voc")])
def test_grid_iou_is_bit_identical_to_torchvision(arch: str, priors_name: str) -> None:
    cfg = (ssd300 if arch == "ssd300" else ssd512)(21, priors=priors_name).model
    priors_xyxy = cxcywh_to_xyxy(prior_boxes(cfg.priors, cfg.image_size))
    gt = _random_gt(torch.Generator().manual_seed(3), 50)
    levels = _grid_levels(priors_xyxy)
    assert levels is not None and len(levels) == len(cfg.priors.feature_maps)
    assert torch.equal(Matcher().pairwise_iou(gt, priors_xyxy), box_iou(gt, priors_xyxy))


def test_first_max_matches_torch_max_on_ties() -> None:
    x = torch.rand(9, 300, generator=torch.Generator().manual_seed(4))
    x[2, 10:20] = 1.5
    x[6, 15:25] = 1.5  # ties across rows and within rows
    x[:, 40] = 0.25  # a whole column tied
    for dim in (0, 1):
        values, idx = _first_max(x, dim)
        ref_values, ref_idx = x.max(dim=dim)
        assert torch.equal(values, ref_values) and torch.equal(idx, ref_idx)


@pytest.mark.parametrize("shuffle_priors", [False, True])
def test_matcher_equals_torchvision_across_blocks_ties_and_padding(shuffle_priors: bool) -> None:
    """Many images (several IoU blocks, one image larger than a block), padding rows between
    objects, duplicate boxes; shuffled priors have no grid structure and take the dense path."""
    g = torch.Generator().manual_seed(5)
    priors_xyxy = cxcywh_to_xyxy(_priors())
    if shuffle_priors:
        priors_xyxy = priors_xyxy[torch.randperm(priors_xyxy.shape[0], generator=g)]
    matcher = Matcher()
    counts = [0, 3, 70, 1, 20, 0, 12, 30, 30, 5]
    m = max(counts) + 4
    boxes = torch.zeros(len(counts), m, 4)
    labels = torch.zeros(len(counts), m, dtype=torch.int64)
    slots: list[torch.Tensor] = []
    for i, n in enumerate(counts):
        slot = torch.randperm(m, generator=g)[:n].sort().values  # objects scattered among padding rows
        boxes[i, slot] = _random_gt(g, n)
        labels[i, slot] = torch.randint(1, 20, (n,), generator=g)
        slots.append(slot)
    res = matcher(boxes, labels, priors_xyxy)
    assert (matcher._levels is None) == shuffle_priors
    tv = SSDMatcher(0.5)
    for i, (n, slot) in enumerate(zip(counts, slots)):
        if n == 0:
            assert (res.matched_idxs[i] == -1).all() and (res.labels[i] == 0).all()
            continue
        ref = tv(box_iou(boxes[i, slot], priors_xyxy))  # indices into the image's real objects
        expected = torch.where(ref >= 0, slot[ref.clamp(min=0)], -1)
        assert torch.equal(res.matched_idxs[i], expected)
        assert torch.equal(res.labels[i], torch.where(ref >= 0, labels[i, slot][ref.clamp(min=0)], 0))
        fg = ref >= 0
        assert torch.equal(res.boxes[i][fg], boxes[i, slot][ref[fg]])
