"""The postprocess of issue 23 gives the same detections as before and as torchvision.

Three references: the implementation it replaced (tests/core/postprocess_reference.py, for every NMS
method), torchvision's own ``postprocess_detections`` (on SSDlite320 head outputs), and the definition
written as plain loops (tests/core/postprocess_plain.py), which also fixes the order of equal scores:
by class, then by prior. Inputs: random logits with distinct scores, a network's real head outputs,
heavy ties (rows repeated, as a flat image region gives, and 1/91 everywhere, as torchvision's
initialisation gives), ties at the per-class top-k boundary, empty outputs, batches, and a
threshold exactly at a score.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import nms

from benchmarks._models import scene_image, torchvision_ssdlite, tv_input
from core.config import PostprocessConfig
from core.ssd import candidates as candidates_module
from core.ssd import nms as nms_module
from core.ssd import postprocess as postprocess_module
from core.ssd.candidates import Candidates
from core.ssd.matching import BoxCoder
from core.ssd.nms import greedy_nms_same_class, nms_same_class_np
from core.ssd.postprocess import _next_k, postprocess
from core.ssd.soft_nms import soft_nms_padded
from tests.core.postprocess_plain import plain_candidates, plain_postprocess
from tests.core.postprocess_reference import postprocess as old_postprocess

SSDLITE = PostprocessConfig(score_thresh=0.001, nms_thresh=0.55, topk_candidates=300, detections_per_img=300)
SSD300 = PostprocessConfig()
METHODS = ("hard", "soft-linear", "soft-gaussian")


def _priors(g: torch.Generator, p: int) -> torch.Tensor:
    """p priors (cx, cy, w, h normalised) in a few clusters, so that boxes overlap and NMS has work."""
    centres = torch.rand(8, 2, generator=g) * 0.7 + 0.15
    cxcy = centres[torch.randint(0, 8, (p,), generator=g)] + 0.04 * torch.randn(p, 2, generator=g)
    return torch.cat([cxcy, 0.05 + 0.25 * torch.rand(p, 2, generator=g)], 1)


def _inputs(seed: int, b: int, p: int, c: int, scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, p, c, generator=g) * scale, torch.randn(b, p, 4, generator=g) * 0.3, _priors(g, p)


def _assert_same(ours: tuple, ref: tuple, box_atol: float = 0.0, score_atol: float = 0.0) -> None:
    """Same labels in the same order; boxes and scores within the tolerances (exact by default)."""
    (b1, s1, l1), (b2, s2, l2) = (tuple(np.asarray(t) for t in x) for x in (ours, ref))
    np.testing.assert_array_equal(l1, l2)
    np.testing.assert_allclose(s1, s2, atol=score_atol, rtol=0)
    np.testing.assert_allclose(b1, b2.reshape(b1.shape), atol=box_atol, rtol=0)


def _plain(logits: torch.Tensor, deltas: torch.Tensor, priors: torch.Tensor, cfg: PostprocessConfig) -> tuple:
    scores = F.softmax(logits.float(), dim=-1)[:, 1:].numpy()
    boxes = BoxCoder().decode(deltas.float(), priors.float()).clamp(0, 1).numpy()
    return plain_postprocess(scores, boxes, cfg)


# ---------------------------------------------------------------- the implementation it replaced


@pytest.mark.parametrize("cfg, c, scale", [
    (SSD300, 21, 2.0),
    (SSDLITE, 91, 1.5),  # SSDlite's defaults: nearly every score is above 0.001
    (PostprocessConfig(score_thresh=0.3), 21, 3.0),  # few candidates
    (PostprocessConfig(topk_candidates=5, detections_per_img=50), 21, 2.0),  # the per-class cap binds
    (PostprocessConfig(score_thresh=0.2, nms_thresh=0.3, detections_per_img=300), 21, 2.5),  # k must grow
])
@pytest.mark.parametrize("method", METHODS)
def test_equals_the_previous_implementation_on_distinct_scores(cfg: PostprocessConfig, c: int, scale: float,
                                                               method: str) -> None:
    logits, deltas, priors = _inputs(int(scale * 10) + c, 2, 1500, c, scale)
    ours = postprocess(logits, deltas, priors, BoxCoder(), cfg, nms=method)
    old = old_postprocess(logits, deltas, priors, BoxCoder(), cfg, nms=method)
    for a, b in zip(ours, old):
        assert len(b[1]) > 0
        # The reference's order is defined only for distinct scores (it used topk); these are.
        assert len(np.unique(b[1].numpy())) == len(b[1])
        _assert_same(a, b, box_atol=1e-4 / 320, score_atol=1e-6)


# ---------------------------------------------------------------- torchvision on a network's outputs


@pytest.fixture(scope="module")
def ssdlite_head() -> tuple:
    """torchvision's SSDlite320 (random weights, scores spread and distinct) on two scenes: its head
    outputs, anchors, and its own postprocessing of them."""
    tv = torchvision_ssdlite()
    images, _ = tv.transform([tv_input(scene_image(640, 480, i)) for i in range(2)])
    with torch.no_grad():
        features = list(tv.backbone(images.tensors).values())
        head = tv.head(features)
        anchors = tv.anchor_generator(images, features)
        ref = tv.postprocess_detections(head, anchors, images.image_sizes)
    return head, anchors[0], ref


def test_equals_torchvision_on_ssdlite_head_outputs(ssdlite_head) -> None:
    head, anchors, ref = ssdlite_head
    a = anchors / 320.0
    priors = torch.cat([(a[:, :2] + a[:, 2:]) / 2, a[:, 2:] - a[:, :2]], 1)
    ours = postprocess(head["cls_logits"], head["bbox_regression"], priors, BoxCoder(), SSDLITE)
    for (boxes, scores, labels), r in zip(ours, ref):
        assert len(scores) == 300 and len(np.unique(r["scores"].numpy())) == 300
        _assert_same((boxes * 320, scores, labels), (r["boxes"], r["scores"], r["labels"]),
                     box_atol=1e-3, score_atol=1e-6)
    old = old_postprocess(head["cls_logits"], head["bbox_regression"], priors, BoxCoder(), SSDLITE)
    for a_, b_ in zip(ours, old):
        _assert_same(a_, b_, box_atol=1e-4 / 320, score_atol=1e-6)


def test_ties_at_the_topk_boundary_with_identical_boxes_equal_torchvision(tv_model) -> None:
    """Rows 9 to 19 are one row repeated (one prior, one offset): each class has 11 entries tied, at the
    top of class 1 and across the per-class cap of 5. Whichever tied entries torchvision's topk keeps,
    their boxes are the same, so the detections must be too."""
    p, cfg = 40, PostprocessConfig(score_thresh=0.05, topk_candidates=5, detections_per_img=50)
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(1, p, 4, generator=g)
    logits[0, :10, 1] = 6.0 + torch.arange(10) * 0.01
    logits[0, 10:20] = logits[0, 9]  # ten copies of one row: one box, one score
    deltas = torch.zeros(1, p, 4)
    priors = _priors(g, p)
    priors[10:20] = priors[9]
    anchors = torch.cat([priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2], 1) * 300
    saved = tv_model.score_thresh, tv_model.topk_candidates, tv_model.detections_per_img
    tv_model.score_thresh, tv_model.topk_candidates, tv_model.detections_per_img = 0.05, 5, 50
    try:
        ref = tv_model.postprocess_detections({"cls_logits": logits, "bbox_regression": deltas}, [anchors],
                                              [(300, 300)])[0]
    finally:
        tv_model.score_thresh, tv_model.topk_candidates, tv_model.detections_per_img = saved
    [(boxes, scores, labels)] = postprocess(logits, deltas, priors, BoxCoder(), cfg)
    assert int((labels == 1).sum()) >= 1
    canon = lambda b, s, l: sorted(zip((-s).tolist(), l.tolist(), np.round(b.numpy(), 3).tolist()))  # noqa: E731
    assert canon(boxes * 300, scores, labels) == canon(ref["boxes"], ref["scores"], ref["labels"])
    _assert_same((boxes, scores, labels), _plain(logits[0], deltas[0], priors, cfg))


# ---------------------------------------------------------------- the definition, ties included


def _tied_inputs(seed: int, p: int, c: int, distinct_rows: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logit rows drawn from ``distinct_rows`` patterns (priors with equal scores, different boxes, as a
    flat image region gives), with values on a coarse grid (equal scores across classes too)."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.round(torch.randn(distinct_rows, c, generator=g) * 4) / 2
    logits = patterns[torch.randint(0, distinct_rows, (p,), generator=g)]
    return logits[None], torch.randn(1, p, 4, generator=g) * 0.2, _priors(g, p)


@pytest.mark.parametrize("cfg", [
    SSD300, SSDLITE,
    PostprocessConfig(topk_candidates=7, detections_per_img=60),
    PostprocessConfig(score_thresh=0.1, topk_candidates=30, detections_per_img=200, nms_thresh=0.3),
])
@pytest.mark.parametrize("matrix", [False, True], ids=["list", "matrix"])
def test_equals_the_definition_with_heavy_ties(cfg: PostprocessConfig, matrix: bool, monkeypatch) -> None:
    if matrix:  # the path for regions of very many entries, on inputs small enough for the plain loops
        monkeypatch.setattr(candidates_module, "_SORT_AT_MOST", 0)
        monkeypatch.setattr(candidates_module, "_SORT_PER_K", 0)
    for seed, (p, c, rows) in enumerate([(600, 21, 6), (900, 9, 40), (400, 31, 3)]):
        logits, deltas, priors = _tied_inputs(seed, p, c, rows)
        [ours] = postprocess(logits, deltas, priors, BoxCoder(), cfg)
        assert len(ours[1]) > 0 and len(np.unique(ours[1].numpy())) < len(ours[1])  # ties in the output
        _assert_same(ours, _plain(logits[0], deltas[0], priors, cfg))


@pytest.mark.parametrize("method", ["soft-linear", "soft-gaussian"])
def test_soft_nms_with_heavy_ties_equals_the_previous_implementation(method: str) -> None:
    """The previous soft-NMS already ordered equal scores by prior (stable sorts); the new selection keeps
    that order, at the per-class cut too, and stopping early keeps boxes tied with the last one wanted."""
    cfg = PostprocessConfig(score_thresh=0.02, topk_candidates=9, detections_per_img=40)
    for seed, (p, c, rows) in enumerate([(300, 11, 5), (500, 6, 30)]):
        logits, deltas, priors = _tied_inputs(seed, p, c, rows)
        [ours] = postprocess(logits, deltas, priors, BoxCoder(), cfg, nms=method)
        [old] = old_postprocess(logits, deltas, priors, BoxCoder(), cfg, nms=method)
        assert len(np.unique(old[1].numpy())) < len(old[1]) == cfg.detections_per_img
        _assert_same(ours, old)


def test_k_grows_when_nms_removes_most_of_the_first_candidates(monkeypatch) -> None:
    """Boxes in 6 tight clusters: NMS keeps about one box per cluster and class of the first 2 x 50, so the
    first k (100) gives too few, and k grows until every candidate is in."""
    g = torch.Generator().manual_seed(9)
    p = 1200
    centres = torch.rand(6, 2, generator=g) * 0.6 + 0.2
    priors = torch.cat([centres[torch.randint(0, 6, (p,), generator=g)] + 0.002 * torch.randn(p, 2, generator=g),
                        torch.full((p, 2), 0.2)], 1)
    logits, deltas = torch.randn(1, p, 5, generator=g), torch.zeros(1, p, 4)
    cfg = PostprocessConfig(score_thresh=0.05, detections_per_img=50)
    asked: list[int] = []
    first = Candidates.first
    monkeypatch.setattr(Candidates, "first", lambda self, k: asked.append(k) or first(self, k))
    [ours] = postprocess(logits, deltas, priors, BoxCoder(), cfg)
    assert asked[0] == 100 and len(asked) >= 2 and len(ours[1]) == 24  # 6 clusters x 4 classes
    assert all(b >= a + a // 2 for a, b in zip(asked, asked[1:]))  # each round at least half as many again
    _assert_same(ours, _plain(logits[0], deltas[0], priors, cfg))


def test_other_float_types_give_the_float32_detections() -> None:
    """Head outputs and priors in float64 are taken to float32 first (torchvision's dtype): the same detections,
    bit for bit, as their float32 copies, and float32 results."""
    logits, deltas, priors = _inputs(6, 1, 400, 21, 2.0)
    want = postprocess(logits, deltas, priors, BoxCoder(), SSD300)[0]
    got = postprocess(logits.double(), deltas.double(), priors.double(), BoxCoder(), SSD300)[0]
    assert [t.dtype for t in got] == [torch.float32, torch.float32, torch.int64] and len(got[1]) > 0
    _assert_same(got, want)


def test_next_k_asks_for_the_missing_survivors_at_the_observed_rate() -> None:
    """The next round's k: the missing survivors at this round's survival rate, a quarter to spare, and at
    least half as many again as this round (SSDlite's untrained network keeps 128 of its first 600)."""
    assert _next_k(600, 128, 300) == 600 + math.ceil(1.25 * 172 / (128 / 600))  # 1,608
    assert _next_k(100, 90, 100) == 150  # nearly there: the minimum growth
    assert _next_k(100, 0, 50) == 100 + math.ceil(1.25 * 50 * 100)  # none survived: as if one had


def test_spread_scores_need_only_the_rows_of_the_best_row_maxima() -> None:
    """With spread scores the first 600 of SSDlite's 3,234 x 90 come from the bounded region (rows whose
    best score reaches the 600th best row maximum), a few hundred more entries, not from every row."""
    g = torch.Generator().manual_seed(3)
    scores = F.softmax(torch.randn(3234, 91, generator=g) * 3, dim=-1)[:, 1:].numpy()
    cands = Candidates(scores, 0.001, 300)
    prior, col, values, complete = cands.first(600)
    assert not complete and not cands._region.complete and 600 <= cands._region.count < 1200
    want = plain_candidates(scores, 0.001, 300)[:600]
    assert list(zip(values.tolist(), col.tolist(), prior.tolist())) == want


def test_rows_with_equal_maxima_and_lower_entries_are_a_region_of_one_value_with_a_mask() -> None:
    """Every row's best score is one value (three classes per row share it) and the rest are lower: the
    bound is that value and the region (over 8,192 entries) is one value but not every entry of its rows,
    so each class takes only its rows at that value, in prior order, as the definition's order says."""
    g = np.random.default_rng(8)
    scores = (g.random((3234, 90), dtype=np.float32) * 0.28 + 0.002).astype(np.float32)
    top = np.float32(0.3)
    for row in range(3234):
        scores[row, g.choice(90, 3, replace=False)] = top
    cands = Candidates(scores, 0.001, 300)
    for k in (600, 2000):
        prior, col, values, _ = cands.first(k)
        assert isinstance(cands._region, candidates_module._EqualRegion) and not cands._region.whole
        assert cands.shared_priors() is None
        assert list(zip(values.tolist(), col.tolist(), prior.tolist())) == plain_candidates(scores, 0.001, 300)[:k]


def test_untrained_network_scores_one_over_91_everywhere() -> None:
    """torchvision's initialisation of SSDlite320 gives every one of the 3,234 x 90 scores 1/91: the
    first candidates are class 1's first 300 priors, then class 2's, ..."""
    g = torch.Generator().manual_seed(0)
    p = 3234
    logits = torch.zeros(1, p, 91)
    deltas = torch.randn(1, p, 4, generator=g) * 0.1
    priors = _priors(g, p)
    [(boxes, scores, labels)] = postprocess(logits, deltas, priors, BoxCoder(), SSDLITE)
    assert len(scores) == 300 and bool((scores == scores[0]).all())
    assert labels.tolist() == sorted(labels.tolist()) and labels[0] == 1
    _assert_same((boxes, scores, labels), _plain(logits[0], deltas[0], priors, SSDLITE))


@pytest.mark.parametrize("rows, lower, piled", [
    (100, False, True),  # every candidate in the region (complete), 1 survivor per class: 90 detections
    (3234, True, False),  # the first 1,000 priors score higher: the region is theirs, NMS runs once
    (3234, True, True),  # ... but their boxes pile up: too few survivors in the region, the general rounds decide
    (400, False, None),  # boxes apart: all of class 1's 300 candidates survive, the last one included
], ids=["complete", "bounded", "fallback", "apart"])
def test_one_value_for_every_class_runs_nms_once_and_repeats_its_survivors(rows: int, lower: bool,
                                                                           piled: bool | None, monkeypatch) -> None:
    """Every class's candidates the same priors with one score: the survivors of one NMS, class after class,
    equal to the definition's detections, also where the region cannot give them all."""
    g = torch.Generator().manual_seed(4)
    logits = torch.zeros(1, rows, 91)
    if lower:
        logits[0, :1000, 0] = -5.0  # a weaker background: these priors' classes score higher
    deltas = torch.randn(1, rows, 4, generator=g) * 0.1
    priors = _priors(g, rows)
    if piled:
        priors[: min(rows, 1000)] = torch.tensor([0.5, 0.5, 0.2, 0.2])
        deltas[0, : min(rows, 1000)] = 0.0
    if piled is None:  # a 20 x 20 grid of boxes 0.02 wide, 0.05 apart: no two overlap
        grid = (torch.arange(rows) % 20, torch.arange(rows) // 20)
        priors = torch.stack([0.025 + 0.05 * grid[0], 0.025 + 0.05 * grid[1], torch.full((rows,), 0.02),
                              torch.full((rows,), 0.02)], 1)
        deltas.zero_()
    answers: list[object] = []
    repeated = postprocess_module._repeated_sequence
    monkeypatch.setattr(postprocess_module, "_repeated_sequence", lambda *a: answers.append(repeated(*a)) or answers[-1])
    found = postprocess(logits, deltas, priors, BoxCoder(), SSDLITE)[0]
    want = _plain(logits[0], deltas[0], priors, SSDLITE)
    _assert_same(found, want)
    assert len(answers) == 1 and (answers[0] is None) == (lower and piled)  # the fallback: the general rounds
    # Piled boxes leave one survivor per class; torchvision's per-class top 300 are all piled priors.
    assert len(found[1]) == (90 if piled else 300)
    if piled is None:
        assert found[2].tolist() == [1] * 300  # class 1's 300 candidates, every one kept


@pytest.mark.parametrize("matrix", [False, True], ids=["list", "matrix"])
def test_candidates_are_the_first_k_of_the_definition(matrix: bool, monkeypatch) -> None:
    """Candidates.first(k) for growing k on one object (the region is reused or rebuilt) equals the
    first k of every class's first ``cap`` entries above the threshold, sorted in detection order."""
    if matrix:
        monkeypatch.setattr(candidates_module, "_SORT_AT_MOST", 0)
        monkeypatch.setattr(candidates_module, "_SORT_PER_K", 0)
    rng = np.random.default_rng(5)
    for trial in range(12):
        p, c = int(rng.integers(1, 300)), int(rng.integers(1, 12))
        # Coarse values: many ties, inside and across columns and at every cut.
        scores = (rng.integers(0, 6, (p, c)) / 10 * rng.random((1, c)) ** (trial % 3)).astype(np.float32)
        thresh, cap = float(rng.choice([0.0, 0.05, 0.2])), [None, 1, 3, 40][trial % 4]
        want = plain_candidates(scores, thresh, cap)
        cands = Candidates(scores, thresh, cap)
        seen_complete = False
        for k in (1, 2, 5, 17, 60, 500):
            prior, col, values, complete = cands.first(k)
            seen_complete = seen_complete or complete
            got = list(zip(values.tolist(), col.tolist(), prior.tolist()))
            assert got == [(s, cc, pp) for s, cc, pp in want[:k]], (trial, k)
            assert not (complete and len(want) > k)  # it may not know that it has them all, never the reverse
        assert seen_complete or len(want) > 500  # a k above the count is answered by every row: complete


def test_candidates_of_a_region_of_one_value_are_the_first_k_of_the_definition(monkeypatch) -> None:
    """A region whose entries are all one value (1/91 everywhere, or one value above zeros) is read in class
    order, each class's entries by prior: equal to the definition for growing k and every cap."""
    monkeypatch.setattr(candidates_module, "_SORT_AT_MOST", 0)
    monkeypatch.setattr(candidates_module, "_SORT_PER_K", 0)
    rng = np.random.default_rng(8)
    for trial in range(8):
        p, c = int(rng.integers(5, 200)), int(rng.integers(1, 9))
        scores = np.full((p, c), np.float32(1 / 91), np.float32)
        if trial % 2:  # one value on a random part, zeros elsewhere (below the threshold)
            scores[rng.random((p, c)) < 0.6] = 0.0
        cap = [None, 1, 3, 40][trial % 4]
        want = plain_candidates(scores, 0.001, cap)
        cands = Candidates(scores, 0.001, cap)
        for k in (1, 2, 5, 17, 60, 500):
            prior, col, values, complete = cands.first(k)
            assert list(zip(values.tolist(), col.tolist(), prior.tolist())) == want[:k], (trial, k)
            assert not (complete and len(want) > k)
        assert type(cands._region).__name__ == "_EqualRegion", trial


def test_nms_reuses_the_answer_of_a_class_with_the_same_boxes(monkeypatch) -> None:
    """Classes whose boxes are the same priors in the same order (an untrained network's ties) are decided
    once; every class still equals torchvision's per-class NMS, and a memo kept across calls
    answers a later call on the same boxes."""
    g = torch.Generator().manual_seed(6)
    priors = _priors(g, 150)
    boxes = torch.cat([priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2], 1)
    shared = torch.randperm(150, generator=g)[:100]  # 100 > _MEMO_FROM: remembered
    other = torch.randperm(150, generator=g)[:90]
    ids = torch.cat([shared, shared, other, shared]).numpy()
    classes = np.repeat([0, 1, 2, 3], [100, 100, 90, 100])
    ref = _per_class_kernel(boxes[ids], torch.from_numpy(classes), 0.45).numpy()
    calls: list[int] = []
    one_class = nms_module._one_class
    memo: dict[bytes, np.ndarray] = {}
    monkeypatch.setattr(nms_module, "_one_class", lambda b, t: calls.append(len(b)) or one_class(b, t))
    keep = nms_module.nms_same_class_np(boxes[ids].numpy(), classes, 0.45, box_ids=ids, memo=memo)
    assert calls == [100, 90]  # class 0's answer serves classes 1 and 3
    assert np.array_equal(keep, ref) and keep[:100].sum() < 100  # NMS removed some: a real decision
    again = nms_module.nms_same_class_np(boxes[ids[:100]].numpy(), classes[:100] * 0 + 7, 0.45,
                                         box_ids=ids[:100], memo=memo)
    assert calls == [100, 90] and np.array_equal(again, ref[:100])


# ---------------------------------------------------------------- edges


@pytest.mark.parametrize("method", METHODS)
def test_empty_outputs(method: str) -> None:
    g = torch.Generator().manual_seed(1)
    priors = _priors(g, 50)
    background = torch.zeros(2, 50, 5)
    background[..., 0] = 30.0  # every real class below 1e-12
    nothing_above = postprocess(background, torch.zeros(2, 50, 4), priors, BoxCoder(), SSD300, nms=method)
    only_background = postprocess(torch.randn(1, 50, 1), torch.zeros(1, 50, 4), priors, BoxCoder(), SSD300,
                                  nms=method)
    no_priors = postprocess(torch.zeros(1, 0, 5), torch.zeros(1, 0, 4), torch.zeros(0, 4), BoxCoder(), SSD300,
                            nms=method)
    for boxes, scores, labels in nothing_above + only_background + no_priors:
        assert boxes.shape == (0, 4) and scores.shape == (0,) and labels.shape == (0,)
        assert scores.dtype == torch.float32 and labels.dtype == torch.int64


@pytest.mark.parametrize("method", METHODS)
def test_a_batch_equals_its_images_one_by_one(method: str) -> None:
    logits, deltas, priors = _inputs(3, 3, 800, 21, 2.0)
    logits[1] = -logits[1]  # a different image
    batch = postprocess(logits, deltas, priors, BoxCoder(), SSD300, nms=method)
    for i in range(3):
        [single] = postprocess(logits[i:i + 1], deltas[i:i + 1], priors, BoxCoder(), SSD300, nms=method)
        _assert_same(batch[i], single)


def test_a_threshold_exactly_at_a_score_keeps_only_scores_above_it(tv_model) -> None:
    logits, deltas, priors = _inputs(11, 1, 300, 6, 2.0)
    scores = F.softmax(logits[0], dim=-1)[:, 1:]
    at = float(scores.flatten().sort().values[-40])  # the 40th best score, exactly (a float32)
    below = float(np.nextafter(np.float32(at), np.float32(0)))
    cfg = PostprocessConfig(score_thresh=at, nms_thresh=1.0)  # nothing suppressed: every candidate comes out
    for thresh, n in ((at, 39), (below, 40)):
        for method in METHODS:
            # sigma 1e9: the Gaussian's decay rounds to exactly 1, so soft-NMS removes nothing either.
            [(_, s, _)] = postprocess(logits, deltas, priors, BoxCoder(), cfg, score_thresh=thresh, nms=method,
                                      sigma=1e9)
            assert len(s) == n and float(s.min()) >= (at if n == 40 else np.nextafter(np.float32(at), 1))
    # torchvision compares the same way (the threshold rounded to float32, strictly above).
    anchors = torch.cat([priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2], 1) * 300
    saved = tv_model.score_thresh, tv_model.nms_thresh
    tv_model.score_thresh, tv_model.nms_thresh = at, 1.0
    try:
        ref = tv_model.postprocess_detections({"cls_logits": logits, "bbox_regression": deltas}, [anchors],
                                              [(300, 300)])[0]
    finally:
        tv_model.score_thresh, tv_model.nms_thresh = saved
    assert len(ref["scores"]) == 39


# ---------------------------------------------------------------- NMS and soft-NMS


def _per_class_kernel(boxes: torch.Tensor, classes: torch.Tensor, thresh: float) -> torch.Tensor:
    """torchvision's nms kernel run class by class on boxes in the given order -> bool [K] kept."""
    keep = torch.zeros(len(boxes), dtype=torch.bool)
    for c in classes.unique():
        idx = (classes == c).nonzero().squeeze(1)
        keep[idx[nms(boxes[idx], -torch.arange(len(idx), dtype=torch.float32), thresh)]] = True
    return keep


def test_nms_decides_a_pair_at_the_threshold_as_torchvisions_kernel() -> None:
    """IoU([0,0,1,1], [0,0,1,0.5]) is exactly 0.5. The kernel compares the float IoU with the threshold in
    double: at 0.5 - 1e-12 the second box goes (torch's ``iou > 0.5 - 1e-12`` in float32 would keep it,
    as the previous implementation did)."""
    boxes = torch.tensor([[0, 0, 1, 1.0], [0, 0, 1, 0.5], [2, 2, 3, 3]])
    classes = torch.tensor([0, 0, 0])
    assert greedy_nms_same_class(boxes, classes, 0.5).tolist() == [True, True, True]
    assert greedy_nms_same_class(boxes, classes, 0.5 - 1e-12).tolist() == [True, False, True]
    assert torch.equal(greedy_nms_same_class(boxes, classes, 0.5 - 1e-12),
                       _per_class_kernel(boxes, classes, 0.5 - 1e-12))


def test_nms_hand_computed() -> None:
    """Unit squares shifted along x, in score order: IoU(0, 1) = 0.8 / 1.2 = 2/3, IoU(1, 2) = 0.5 / 1.5 = 1/3,
    IoU(0, 2) = 0.3 / 1.7 = 0.176. Box 3 equals box 0 but is of another class, which never suppresses."""
    boxes = torch.tensor([[0, 0, 1, 1.0], [0.2, 0, 1.2, 1], [0.7, 0, 1.7, 1], [0, 0, 1, 1]])
    classes = torch.tensor([0, 0, 0, 1])
    assert greedy_nms_same_class(boxes, classes, 0.5).tolist() == [True, False, True, True]
    # At 0.3 box 2 overlaps box 1 by more, but box 1 is gone: greedy, not pairwise.
    assert greedy_nms_same_class(boxes, classes, 0.3).tolist() == [True, False, True, True]
    assert greedy_nms_same_class(boxes, classes, 0.15).tolist() == [True, False, False, True]


def test_nms_long_chains_and_big_classes_equal_the_kernel(monkeypatch) -> None:
    """A chain of 40 boxes, each overlapping only its neighbours (the greedy result keeps every other one:
    a box's fate depends on every box before it), and clustered classes decided all at once or, with a
    memo, class by class: always torchvision's kernel's answer."""
    x = torch.arange(40, dtype=torch.float32) * 0.2
    chain = torch.stack([x, torch.zeros(40), x + 0.5, torch.ones(40)], 1)  # IoU(i, i+1) = 0.3 / 0.7
    keep = greedy_nms_same_class(chain, torch.zeros(40, dtype=torch.int64), 0.4)
    assert keep.tolist() == [i % 2 == 0 for i in range(40)]
    g = torch.Generator().manual_seed(2)
    priors = _priors(g, 700)
    boxes = torch.cat([priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2], 1)
    classes = torch.randint(0, 5, (700,), generator=g)
    ref = _per_class_kernel(boxes, classes, 0.45)
    assert torch.equal(greedy_nms_same_class(boxes, classes, 0.45), ref)
    for memo_from in (10**9, 0, 64):  # with a memo: no class, every class, the large classes one by one
        monkeypatch.setattr(nms_module, "_MEMO_FROM", memo_from)
        memo: dict[bytes, np.ndarray] = {}
        keep = nms_module.nms_same_class_np(boxes.numpy(), classes.numpy(), 0.45, box_ids=np.arange(700), memo=memo)
        assert np.array_equal(keep, ref.numpy()) and len(memo) == (0 if memo_from > 700 else 5)


def test_soft_nms_stopping_early_keeps_the_same_best_boxes() -> None:
    logits, deltas, priors = _inputs(4, 1, 400, 8, 2.0)
    scores = F.softmax(logits[0], -1)[:, 1:]
    boxes = BoxCoder().decode(deltas[0], priors).clamp(0, 1)
    top = scores.t().topk(60, dim=1)
    padded_boxes, padded_scores = boxes[top.indices], top.values
    valid = padded_scores > 0.01
    for method in ("soft-linear", "soft-gaussian"):
        full_s, full_k = soft_nms_padded(padded_boxes, padded_scores, valid, method, 0.45, 0.5, 0.01)
        part_s, part_k = soft_nms_padded(padded_boxes, padded_scores, valid, method, 0.45, 0.5, 0.01, max_out=25)
        best = lambda s, k: s[k].sort(descending=True).values[:25]  # noqa: E731
        assert int(part_k.sum()) < int(full_k.sum())  # it did stop early
        assert torch.equal(best(full_s, full_k), best(part_s, part_k))


def test_a_prefix_of_a_decided_box_sequence_gets_the_start_of_its_answer() -> None:
    """With a memo, a class whose boxes are the first n of a sequence already decided by torchvision's kernel
    takes the first n kept flags of that answer; each class's result is still the kernel's own on its boxes."""
    g = torch.Generator().manual_seed(11)
    n = 150
    base = torch.rand(n, 2, generator=g) * 0.8
    boxes = torch.cat([base, base + 0.05 + torch.rand(n, 2, generator=g) * 0.2], 1)
    ids = np.r_[np.arange(n), np.arange(100), np.arange(80)]  # class 1 and 2: prefixes of class 0's priors
    cls = np.r_[np.zeros(n, np.int64), np.ones(100, np.int64), np.full(80, 2, np.int64)]
    all_boxes = boxes.numpy()[ids]
    memo: dict[bytes, np.ndarray] = {}
    keep = nms_same_class_np(all_boxes, cls, 0.45, box_ids=ids, memo=memo)
    assert len(memo) == 1  # the kernel ran for class 0 only; classes 1 and 2 (over 64 boxes) took its prefix
    for c, count in ((0, n), (1, 100), (2, 80)):
        want = np.zeros(count, bool)
        want[nms(boxes[:count], -torch.arange(count, dtype=torch.float32), 0.45).numpy()] = True
        assert np.array_equal(keep[cls == c], want)
    assert not keep[cls == 0].all() and keep[cls == 0].any()  # NMS removed some and kept some
