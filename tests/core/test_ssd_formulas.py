"""The SSD arithmetic the README states, each pinned by values worked out by hand: the box coder with its
variances, the default boxes with their clamps, the MultiBox loss (smooth L1, 3:1 hard negatives, divided by
the positives), and the postprocessing through its public function: softmax without the background,
score threshold (strictly above), greedy NMS (suppress above N_t), soft-NMS (linear ``1 - IoU`` at
IoU >= N_t, Gaussian ``exp(-IoU^2 / sigma)``), per-class top-k and the detections kept per image.

The boxes below are chosen so that every IoU is exact in float32: A = (0, 0, 0.5, 0.25) and
B = (0, 0, 0.25, 0.25) overlap by exactly 1/2 (B inside A, half its area), C = (0.5, 0.5, 1, 1) overlaps neither.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.config import LossConfig, MatcherConfig, PostprocessConfig, PriorConfig, ssd300
from core.ssd.loss import MultiBoxLoss
from core.ssd.matching import BoxCoder, Matcher
from core.ssd.postprocess import postprocess
from core.ssd.priors import prior_boxes
from core.ssd.soft_nms import soft_nms_padded

LN = math.log

# ------------------------------------------------------------------------------------------------ box coder


def test_the_box_coder_decodes_with_the_variances_by_hand() -> None:
    """prior (cx, cy, w, h) = (0.5, 0.5, 0.2, 0.4); deltas (1, -2, 5 ln 2, 0) with variances (0.1, 0.2):
    cx = 0.5 + 1 * 0.1 * 0.2 = 0.52, cy = 0.5 - 2 * 0.1 * 0.4 = 0.42, w = 0.2 * exp(0.2 * 5 ln 2) = 0.4,
    h = 0.4 * exp(0) = 0.4: the box (0.32, 0.22, 0.72, 0.62)."""
    coder = BoxCoder()
    assert coder.variances == (0.1, 0.2) and ssd300().model.variances == (0.1, 0.2)
    prior = torch.tensor([[0.5, 0.5, 0.2, 0.4]], dtype=torch.float64)
    deltas = torch.tensor([[1.0, -2.0, 5 * LN(2), 0.0]], dtype=torch.float64)
    box = coder.decode(deltas, prior)
    torch.testing.assert_close(box, torch.tensor([[0.32, 0.22, 0.72, 0.62]], dtype=torch.float64))
    torch.testing.assert_close(coder.encode(box, prior), deltas)
    # other variances scale the offsets: (0.2, 0.5): cx = 0.5 + 0.2 * 0.2 = 0.54, w = 0.2 * exp(2.5 ln 2)
    box2 = BoxCoder((0.2, 0.5)).decode(deltas, prior)
    w = 0.2 * 2 ** 2.5
    torch.testing.assert_close(box2, torch.tensor([[0.54 - w / 2, 0.34 - 0.2, 0.54 + w / 2, 0.34 + 0.2]],
                                                  dtype=torch.float64))


def test_a_wild_size_offset_is_clipped_at_log_1000_over_16() -> None:
    """torchvision's clamp: w = pw * exp(min(dw * 0.2, log(1000 / 16))) = 0.2 * 62.5 = 12.5 at most."""
    prior = torch.tensor([[0.5, 0.5, 0.2, 0.4]], dtype=torch.float64)
    box = BoxCoder().decode(torch.tensor([[0.0, 0.0, 100.0, -100.0]], dtype=torch.float64), prior)
    h = 0.4 * math.exp(-20.0)
    torch.testing.assert_close(box, torch.tensor([[0.5 - 6.25, 0.5 - h / 2, 0.5 + 6.25, 0.5 + h / 2]],
                                                 dtype=torch.float64))


# ------------------------------------------------------------------------------------------------ priors


def test_default_boxes_by_hand_with_their_clamps() -> None:
    """A 2x2 map of a 100 px input, step 50 (centres 0.25, 0.75), s_k = 60/100 = 0.6,
    s'_k = sqrt(60 * 240)/100 = 1.2 (clamped to 1), ratio 2: (0.6 sqrt 2, 0.6 / sqrt 2) and its transpose."""
    cfg = PriorConfig(feature_maps=(2,), steps=(50,), min_sizes=(60,), max_sizes=(240,), aspect_ratios=((2,),))
    p = prior_boxes(cfg, 100, dtype=torch.float64)
    r = math.sqrt(2)
    cell = [[0.6, 0.6], [1.0, 1.0], [0.6 * r, 0.6 / r], [0.6 / r, 0.6 * r]]
    expected = [[cx, cy, w, h] for cy in (0.25, 0.75) for cx in (0.25, 0.75) for w, h in cell]
    torch.testing.assert_close(p, torch.tensor(expected, dtype=torch.float64))
    unclipped = prior_boxes(PriorConfig((2,), (50,), (60,), (240,), ((2,),), clip=False), 100, dtype=torch.float64)
    assert float(unclipped[1, 2]) == pytest.approx(1.2) and float(unclipped[2, 2]) == pytest.approx(0.6 * r)
    # three cells at step 50 of a 100 px input: centres 0.25, 0.75, 1.25; clip_centers clamps the last to 1
    three = PriorConfig((3,), (50,), (60,), (240,), ((),), clip_centers=True)
    centres = prior_boxes(three, 100, dtype=torch.float64)[::2, 0][:3]
    torch.testing.assert_close(centres, torch.tensor([0.25, 0.75, 1.0], dtype=torch.float64))
    free = prior_boxes(PriorConfig((3,), (50,), (60,), (240,), ((),)), 100, dtype=torch.float64)
    assert float(free[4, 0]) == pytest.approx(1.25)
    # without steps the centres split the map evenly: (j + 0.5) / 3
    even = prior_boxes(PriorConfig((3,), (), (60,), (240,), ((),)), 100, dtype=torch.float64)
    torch.testing.assert_close(even[::2, 0][:3], torch.tensor([1 / 6, 1 / 2, 5 / 6], dtype=torch.float64))


# ------------------------------------------------------------------------------------------------ loss


def test_multibox_loss_by_hand() -> None:
    """One positive, seven negatives, two classes.

    Positive logits (ln 31, 0) with label 1: cross-entropy ln 32. Negatives (0, a) with label 0:
    ln(1 + e^a) = ln 4, ln 8, ln 2, ln 16, ln 2, ln 2, ln 2. Three hard negatives per positive: ln 16 + ln 8 + ln 4.
    L_conf = (ln 32 + ln 16 + ln 8 + ln 4) / 1 = 14 ln 2. Smooth L1 (beta 1) of the offsets' errors
    (0.5, 2, 0, -1): 0.125 + 1.5 + 0 + 0.5 = 2.125. Total = L_conf + 1 * L_loc.
    """
    logits = torch.tensor([[[LN(31), 0.0], [0.0, LN(3)], [0.0, LN(7)], [0.0, 0.0], [0.0, LN(15)],
                            [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    labels = torch.tensor([[1, 0, 0, 0, 0, 0, 0, 0]])
    target = torch.zeros(1, 8, 4)
    pred = torch.zeros(1, 8, 4)
    pred[0, 0] = torch.tensor([0.5, 2.0, 0.0, -1.0])
    pred[0, 1:] = 7.0  # negatives' offsets never count
    assert LossConfig().neg_pos_ratio == 3 and LossConfig().loc_weight == 1
    out = MultiBoxLoss()(logits, pred, labels, target)
    assert float(out.conf) == pytest.approx(14 * LN(2), rel=1e-6)
    assert float(out.loc) == pytest.approx(2.125, rel=1e-6)
    assert float(out.total) == pytest.approx(14 * LN(2) + 2.125, rel=1e-6) and out.num_pos == 1
    # ratio 2: ln 32 + ln 16 + ln 8 = 12 ln 2; loc weight 2 doubles L_loc in the total
    two = MultiBoxLoss(LossConfig(neg_pos_ratio=2, loc_weight=2.0))(logits, pred, labels, target)
    assert float(two.conf) == pytest.approx(12 * LN(2), rel=1e-6)
    assert float(two.total) == pytest.approx(12 * LN(2) + 2 * 2.125, rel=1e-6)
    # two positives (prior 4 too: logits (0, ln 15), label 1, cross-entropy ln(16/15)): 6 hard negatives,
    # ln 8 + ln 4 + 4 ln 2 = 9 ln 2, and both terms divided by N = 2; prior 4's offsets (7 for 0) cost 4 * 6.5
    labels[0, 4] = 1
    two_pos = MultiBoxLoss()(logits, pred, labels, target)
    assert float(two_pos.conf) == pytest.approx((LN(32) + LN(16 / 15) + 9 * LN(2)) / 2, rel=1e-6)
    assert float(two_pos.loc) == pytest.approx((2.125 + 4 * 6.5) / 2, rel=1e-6)
    # (with fewer negatives than 3 per positive, the positives fill the rest of the mined ranks and count
    # twice, exactly as in torchvision's SSD.compute_loss; test_parity pins that equality)


def test_a_positive_is_never_mined_as_a_negative() -> None:
    """Positives are masked out of the mining with -inf (as torchvision's): with negatives whose loss is
    exactly 0 (logits (100, 0) for the background), the third mined negative is one of those (adding 0),
    not the positive again. L_conf = ln 32 + ln 8 + ln 4 + 0 = 10 ln 2."""
    logits = torch.tensor([[[LN(31), 0.0], [0.0, LN(3)], [0.0, LN(7)]] + [[100.0, 0.0]] * 4])
    labels = torch.tensor([[1, 0, 0, 0, 0, 0, 0]])
    out = MultiBoxLoss()(logits, torch.zeros(1, 7, 4), labels, torch.zeros(1, 7, 4))
    assert float(out.conf) == pytest.approx(10 * LN(2), rel=1e-6)


def test_matcher_threshold_is_half_by_default() -> None:
    assert MatcherConfig().iou_threshold == 0.5


def test_a_prior_matches_an_object_of_its_own_image_only() -> None:
    """Image 0 holds a padding row and A = (0, 0, 10, 6) (column 1, label 5); image 1 holds C = (0, 0, 10, 10)
    (column 0, label 7) and D far away (column 1, label 9). Prior P = (0, 0, 10, 9) overlaps A by 60/90 and
    C by 90/100: in image 0 it matches A, never C, the better object of the next image (which sits right
    after A in the batch's object list). Priors Q, R, S are A, C and D exactly, each object's forced best."""
    priors = torch.tensor([[0.0, 0, 10, 9], [0, 0, 10, 6], [0, 0, 10, 10], [50, 50, 60, 60]])
    gt = torch.tensor([[[0.0, 0, 0, 0], [0, 0, 10, 6]], [[0, 0, 10, 10], [50, 50, 60, 60]]])
    labels = torch.tensor([[0, 5], [7, 9]])
    res = Matcher()(gt, labels, priors)
    # image 0: P -> A (2/3), Q -> A (1), R -> A (60/100), S none; image 1: P, Q, R -> C (.9, .6, 1), S -> D
    assert res.matched_idxs.tolist() == [[1, 1, 1, -1], [0, 0, 0, 1]]
    assert res.labels.tolist() == [[5, 5, 5, 0], [7, 7, 7, 9]]


def test_matching_in_blocks_of_whole_images() -> None:
    """A block holds whole images of at most ``block_rows`` objects, and at least one image: an image with
    more objects than that is a block of its own. The matches do not depend on the blocks."""
    g = torch.Generator().manual_seed(3)
    priors = torch.rand(40, 2, generator=g) * 80
    priors = torch.cat([priors, priors + 5 + torch.rand(40, 2, generator=g) * 20], 1)
    gt = torch.rand(3, 4, 2, generator=g) * 80
    gt = torch.cat([gt, gt + 5 + torch.rand(3, 4, 2, generator=g) * 20], 2)
    labels = torch.tensor([[1, 2, 3, 0], [4, 0, 0, 0], [5, 6, 0, 0]])
    whole = Matcher()(gt, labels, priors)
    small = Matcher()
    small.block_rows = 2  # image 0 (3 objects) alone, then images 1 and 2 (1 + 2 objects) one at a time
    blocked = small(gt, labels, priors)
    assert torch.equal(blocked.matched_idxs, whole.matched_idxs) and (whole.labels > 0).sum() >= 4


def test_the_iou_workspace_follows_the_dtype() -> None:
    """One matcher, float32 then float64 objects: each IoU is torchvision's in its own precision."""
    from torchvision.ops import box_iou

    from core.ssd.boxes import cxcywh_to_xyxy

    priors = cxcywh_to_xyxy(prior_boxes(ssd300().model.priors, 300))
    matcher = Matcher()
    gt = torch.tensor([[0.1, 0.1, 0.4, 0.5], [0.3, 0.2, 0.9, 0.7]])
    for dtype in (torch.float32, torch.float64, torch.float32):
        iou = matcher.pairwise_iou(gt.to(dtype), priors.to(dtype))
        assert iou.dtype == dtype and torch.equal(iou, box_iou(gt.to(dtype), priors.to(dtype)))


# ------------------------------------------------------------------------------------------------ postprocess

# priors = the boxes A, B, C in (cx, cy, w, h); zero offsets decode to the priors themselves
PRIORS = torch.tensor([[0.25, 0.125, 0.5, 0.25], [0.125, 0.125, 0.25, 0.25], [0.75, 0.75, 0.5, 0.5]])
BOXES = {"A": [0.0, 0.0, 0.5, 0.25], "B": [0.0, 0.0, 0.25, 0.25], "C": [0.5, 0.5, 1.0, 1.0]}
# logits (background, cat, dog), each row summing to 10 in exp: A = (.1, .8, .1), B = (.1, .7, .2), C = (.3, .1, .6)
LOGITS = torch.tensor([[0.0, LN(8), 0.0], [0.0, LN(7), LN(2)], [LN(3), 0.0, LN(6)]])


def _run(cfg: PostprocessConfig, **kw) -> list[tuple[str, int, float]]:  # type: ignore[no-untyped-def]
    [(boxes, scores, labels)] = postprocess(LOGITS[None], torch.zeros(1, 3, 4), PRIORS, BoxCoder(), cfg, **kw)
    names = {tuple(v): k for k, v in BOXES.items()}
    return [(names[tuple(b)], int(lab), float(s)) for b, s, lab in zip(boxes.tolist(), scores, labels)]


def _check(got: list, expected: list) -> None:
    assert [(n, lab) for n, lab, _ in got] == [(n, lab) for n, lab, _ in expected]
    assert [s for *_, s in got] == pytest.approx([s for *_, s in expected], rel=1e-6)


def test_hard_nms_keeps_an_overlap_exactly_at_the_threshold_and_drops_one_above() -> None:
    # cat: A .8, B .7 (IoU(A, B) = 0.5 exactly: torchvision suppresses only above N_t); dog: C .6, B .2
    cfg = PostprocessConfig(score_thresh=0.15, nms_thresh=0.5)
    _check(_run(cfg), [("A", 1, 0.8), ("B", 1, 0.7), ("C", 2, 0.6), ("B", 2, 0.2)])
    _check(_run(PostprocessConfig(score_thresh=0.15, nms_thresh=0.49)), [("A", 1, 0.8), ("C", 2, 0.6), ("B", 2, 0.2)])
    # the score threshold keeps scores strictly above it: dog's B (0.2 in float32) at exactly 0.2 is dropped
    dog_b = float(torch.softmax(LOGITS[1], -1)[2])
    _check(_run(cfg, score_thresh=dog_b), [("A", 1, 0.8), ("B", 1, 0.7), ("C", 2, 0.6)])
    # the background column is no class: C's 0.3 background never becomes a detection (the two 0.1 tie)
    low = _run(PostprocessConfig(score_thresh=0.05, nms_thresh=0.5))
    _check(low[:4], [("A", 1, 0.8), ("B", 1, 0.7), ("C", 2, 0.6), ("B", 2, 0.2)])
    assert sorted(low[4:]) == [("A", 2, pytest.approx(0.1)), ("C", 1, pytest.approx(0.1))]


def test_top_k_per_class_and_detections_per_image() -> None:
    one_each = PostprocessConfig(score_thresh=0.15, nms_thresh=0.5, topk_candidates=1)
    _check(_run(one_each), [("A", 1, 0.8), ("C", 2, 0.6)])
    _check(_run(one_each, nms="soft-linear"), [("A", 1, 0.8), ("C", 2, 0.6)])
    three = PostprocessConfig(score_thresh=0.15, nms_thresh=0.5, detections_per_img=3)
    _check(_run(three), [("A", 1, 0.8), ("B", 1, 0.7), ("C", 2, 0.6)])
    _check(_run(three, nms="soft-gaussian"), [("A", 1, 0.8), ("C", 2, 0.6), ("B", 1, 0.7 * math.exp(-0.5))])


def test_soft_nms_linear_decays_an_overlap_exactly_at_nt() -> None:
    """Bodla et al.: s_B *= 1 - IoU where IoU >= N_t. IoU(A, B) = 0.5 = N_t: B's cat score 0.7 -> 0.35."""
    cfg = PostprocessConfig(score_thresh=0.15, nms_thresh=0.5)
    _check(_run(cfg, nms="soft-linear"), [("A", 1, 0.8), ("C", 2, 0.6), ("B", 1, 0.35), ("B", 2, 0.2)])
    # just above the overlap, nothing decays
    _check(_run(PostprocessConfig(score_thresh=0.15, nms_thresh=0.51), nms="soft-linear"),
           [("A", 1, 0.8), ("B", 1, 0.7), ("C", 2, 0.6), ("B", 2, 0.2)])
    # a decayed score that falls below the threshold is dropped (0.35 <= 0.36)
    _check(_run(PostprocessConfig(score_thresh=0.36, nms_thresh=0.5), nms="soft-linear"),
           [("A", 1, 0.8), ("C", 2, 0.6)])


def test_soft_nms_gaussian_decays_by_exp_minus_iou_squared_over_sigma() -> None:
    """s_B = 0.7 * exp(-0.5^2 / sigma): sigma 0.5 (the default) -> 0.7 e^-0.5 = 0.4246; sigma 0.25 -> 0.7 e^-1."""
    with pytest.raises(ValueError, match="sigma must be > 0, got 0"):
        _run(PostprocessConfig(), nms="soft-gaussian", sigma=0.0)
    assert PostprocessConfig().soft_sigma == 0.5 and PostprocessConfig().nms_thresh == 0.45
    cfg = PostprocessConfig(score_thresh=0.15, nms_thresh=0.5)
    _check(_run(cfg, nms="soft-gaussian"),
           [("A", 1, 0.8), ("C", 2, 0.6), ("B", 1, 0.7 * math.exp(-0.5)), ("B", 2, 0.2)])
    _check(_run(cfg, nms="soft-gaussian", sigma=0.25),
           [("A", 1, 0.8), ("C", 2, 0.6), ("B", 1, 0.7 * math.exp(-1.0)), ("B", 2, 0.2)])


def test_soft_nms_padded_by_hand() -> None:
    """The padded form: one group of three boxes, A taken first; B decays by 1 - 0.5, the third box (IoU 0
    with A, 1/3 with B: (0.25 x 0.25) / (0.25 x 0.25 + 0.5 x 0.25 - ...)) only after B is taken."""
    boxes = torch.tensor([[BOXES["A"], BOXES["B"], [0.0, 0.0, 0.25, 0.125]]])
    # IoU(A, third) = 0.03125 / 0.125 = 1/4; IoU(B, third) = 0.03125 / 0.0625 = 1/2
    scores = torch.tensor([[0.9, 0.8, 0.6]])
    valid = torch.ones(1, 3, dtype=torch.bool)
    final, kept = soft_nms_padded(boxes, scores, valid, "soft-linear", 0.5, 0.5, 0.1)
    # A taken: B *= 1 - 0.5 -> 0.4; third: IoU 1/4 < 0.5, unchanged 0.6. Third (0.6) taken next: B's IoU with it
    # is 1/2 -> B = 0.4 * 0.5 = 0.2; then B is taken.
    torch.testing.assert_close(final, torch.tensor([[0.9, 0.2, 0.6]]))
    assert kept.tolist() == [[True, True, True]]
    # with the score threshold at exactly B's final 0.2 (float32), B is dropped: kept means strictly above
    final, kept = soft_nms_padded(boxes, scores, valid, "soft-linear", 0.5, 0.5, float(final[0, 1]))
    assert kept.tolist() == [[True, False, True]]
    # a box whose score is exactly the threshold from the start is never taken
    one = torch.tensor([[[0.0, 0.0, 1.0, 1.0]], [[0.0, 0.0, 1.0, 1.0]]])
    _, kept = soft_nms_padded(one, torch.tensor([[0.25], [0.5]]), torch.ones(2, 1, dtype=torch.bool), "soft-linear",
                              0.5, 0.5, 0.25)
    assert kept.tolist() == [[False], [True]]
    # a padding slot never takes part
    final, kept = soft_nms_padded(boxes, scores, torch.tensor([[True, False, True]]), "soft-linear", 0.5, 0.5, 0.1)
    assert kept.tolist() == [[True, False, True]] and float(final[0, 2]) == pytest.approx(0.6)


def test_numpy_decode_gives_the_torch_decode_to_the_last_bit() -> None:
    """BoxCoder.decode_np (NumPy, torch's exp) and BoxCoder.decode (torch) on the same rows: the same bits,
    also for regressions beyond the exp clip, infinities and NaN (kept, as clamp keeps them)."""
    g = torch.Generator().manual_seed(5)
    deltas = torch.randn(700, 4, generator=g) * 4
    deltas[:5, 2:] = torch.tensor([[40.0, -40.0], [float("inf"), 1.0], [float("nan"), 0.0], [0.0, -float("inf")],
                                   [1e-30, 1e30]])
    deltas[5, 0] = float("inf")  # an infinite centre: infinite corners
    priors = torch.cat([torch.rand(700, 2, generator=g), torch.rand(700, 2, generator=g) * 0.5 + 1e-3], 1)
    coder = BoxCoder()
    want = coder.decode(deltas, priors).numpy()
    got = coder.decode_np(deltas.numpy(), priors.numpy())
    assert got.dtype == np.float32 and got.shape == (700, 4)
    np.testing.assert_array_equal(got, want)  # NaN where NaN, every other value bit-equal
    assert np.isnan(got[2]).any() and np.isinf(got).any()
    # Some rows (repeated, in any order), clamped to [0, 1] as the postprocess's .clamp_(0, 1): NaN stays NaN.
    rows = torch.randint(0, 700, (300,), generator=g)
    clipped = coder.decode_np(deltas.numpy(), priors.numpy(), rows.numpy(), clip01=True)
    np.testing.assert_array_equal(clipped, coder.decode(deltas[rows], priors[rows]).clamp_(0, 1).numpy())
    assert (clipped == 1).any() and (clipped == 0).any() and ((clipped > 0) & (clipped < 1)).any()
