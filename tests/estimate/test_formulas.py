"""The accuracy estimate's formulas pinned by values computed by hand (issue 24's mutation check covers
core/evaluation/estimate): the per-image mean and the per-set mean of the agreements, the scale
agreement's per-axis map back, each corruption's parameter in its unit (sigma and kernel lengths scale
with the shorter side, the noise's std, the JPEG quality, the patches' sides), the dropout pass's seed,
rate and image sizes, and one measure_images pass recomposed from its parts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.detector import Detector
from core.evaluation.estimate.corruptions import corrupt
from core.evaluation.estimate.dropout import detect_with_dropout
from core.evaluation.estimate.pooled import mean_confidence, union_agreement
from core.evaluation.estimate.scoring import SignalSettings, measure_images
from core.evaluation.estimate.signals import SCALE_FACTOR, agreement, flip_boxes, shrink_and_pad, unshrink_boxes

UNIT = np.array([[0, 0, 10, 10]], np.float64)


# --- signals -------------------------------------------------------------------------------------------


def test_an_image_is_the_mean_of_its_pairs_and_the_set_the_mean_of_its_images() -> None:
    """Image 1: pairs of IoU 1/2 (50 of 100) and 2/3 (80 of 120): 7/12. Image 2: 1. Image 3: IoU 0.
    The set: (7/12 + 1 + 0) / 3 = 19/36 (a median would say 7/12, a per-image maximum 2/3)."""
    a = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float64)
    b = np.array([[22, 0, 32, 10], [0, 0, 10, 5]], np.float64)
    assert agreement([(a, b)]).value == pytest.approx(7 / 12, abs=1e-12)
    found = agreement([(a, b), (UNIT, UNIT), (UNIT, UNIT + 50.0)])
    assert found.value == pytest.approx(19 / 36, abs=1e-12)
    assert (found.scored, found.pairs, found.one_sided, found.empty) == (3, 4, 0, 0)


def test_the_scale_agreement_maps_each_axis_by_its_own_rounded_scale() -> None:
    """301 x 199 at 0.8: 240.8 -> 241 columns, 159.2 -> 159 rows; a box at (241, 159, 241, 159) on the
    canvas is the image's far corner (301, 199)."""
    np.testing.assert_allclose(unshrink_boxes(np.array([[241, 159, 241, 159]]), (199, 301, 3), 0.8),
                               [[301, 199, 301, 199]], atol=1e-12)
    # the default factor is 0.8: 300 x 200 -> 240 x 160
    assert SCALE_FACTOR == SignalSettings().scale
    np.testing.assert_allclose(unshrink_boxes(np.array([[24, 16, 48, 32]]), (200, 300, 3)), [[30, 20, 60, 40]])
    assert (shrink_and_pad(np.zeros((200, 300, 3), np.uint8) + 9)[:160, :240] == 9).all()


def test_the_shrink_averages_pixels() -> None:
    """Columns alternating 0 and 200, halved: each new pixel is the area mean of a 0 and a 200, 100."""
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, 1::2] = 200
    canvas = shrink_and_pad(image, 0.5)
    assert (canvas[:10, :20] == 100).all() and (canvas[10:] == 100).all()  # the pad is the mean colour, 100


def test_flip_maps_x_to_width_minus_x() -> None:
    np.testing.assert_allclose(flip_boxes(np.array([[10, 20, 30, 40], [0, 0, 5, 5]]), 50),
                               [[20, 20, 40, 40], [45, 0, 50, 5]])


# --- corruptions -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wide() -> np.ndarray:
    """150 x 600 px of random pixels: the shorter side is 150, half of the 300 the parameters are given for."""
    return np.random.default_rng(5).integers(0, 256, (150, 600, 3), dtype=np.uint8)


def test_blur_and_motion_blur_scale_with_the_shorter_side(wide: np.ndarray) -> None:
    """Blur 1 is sigma 1.0 at a 300 px side: 0.5 here. Motion blur 3 is 7 px at 300: round(3.5) = 4 here,
    a horizontal box."""
    import cv2

    want = cv2.GaussianBlur(wide, (0, 0), sigmaX=0.5, borderType=cv2.BORDER_REFLECT)
    np.testing.assert_array_equal(corrupt(wide, "blur", 1), want)
    np.testing.assert_array_equal(corrupt(wide, "motion_blur", 3),
                                  cv2.blur(wide, (4, 1), borderType=cv2.BORDER_REFLECT))


def test_noise_has_the_levels_std_and_comes_from_the_seed() -> None:
    """Noise 1 is a std of 10 grey levels, drawn by np.random.default_rng(seed)."""
    grey = np.full((200, 200, 3), 128, np.uint8)
    out = corrupt(grey, "noise", 1, seed=3)
    assert float((out.astype(np.float64) - 128).std()) == pytest.approx(10.0, abs=0.2)
    noise = np.random.default_rng(3).normal(0.0, 10, grey.shape).astype(np.float32)
    np.testing.assert_array_equal(out, np.clip(np.rint(128 + noise), 0, 255).astype(np.uint8))


def test_jpeg_and_downscale_use_their_parameter(wide: np.ndarray) -> None:
    """JPEG 3 is quality 15; downscale 1 shrinks 600 x 150 to 180 x 45 (0.3 of each side, area mean) and
    back up bilinearly."""
    import cv2

    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(wide[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 15])
    assert ok
    np.testing.assert_array_equal(corrupt(wide, "jpeg", 3), cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])
    small = cv2.resize(wide, (180, 45), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(corrupt(wide, "downscale", 1), cv2.resize(small, (600, 150),
                                                                            interpolation=cv2.INTER_LINEAR))


def test_occlusion_patches_are_8_to_20_percent_of_the_shorter_side() -> None:
    """On 300 x 300, patch sides are 24 to 60 px: every grey region's box has both sides >= 24, and a
    region that is one rectangle (no overlap) has both sides <= 60; over 30 seeds both ends are reached
    within 6 px."""
    import cv2

    dark = np.full((300, 300, 3), 50, np.uint8)
    lone: list[tuple[int, int]] = []
    for seed in range(30):
        grey = (corrupt(dark, "occlusion", 1, seed=seed) == 128).all(axis=2).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(grey, connectivity=4)
        for _x, _y, w, h, area in stats[1:n].tolist():
            assert w >= 24 and h >= 24, (seed, w, h)
            if area == w * h:
                lone.append((w, h))
    sides = [s for wh in lone for s in wh]
    assert max(sides) <= 60 and min(sides) <= 30 and max(sides) >= 54


def test_occlusion_stops_at_the_first_patch_that_reaches_the_fraction() -> None:
    """On 4 x 4 pixels every patch is 1 x 1 (round(4 * 0.08 .. 4 * 0.2) is 0 or 1, at least 1): occlusion 6
    (half) greys exactly 8 of the 16 pixels, occlusion 3 (0.15: 2/16 < 0.15 <= 3/16) exactly 3."""
    dark = np.zeros((4, 4, 3), np.uint8)
    for seed in range(5):
        assert int((corrupt(dark, "occlusion", 6, seed=seed) == 128).all(axis=2).sum()) == 8
        assert int((corrupt(dark, "occlusion", 3, seed=seed) == 128).all(axis=2).sum()) == 3


def test_salt_and_pepper_is_half_white() -> None:
    """Salt and pepper 6 hits 24 % of the pixels, each white or black with probability 1/2."""
    grey = np.full((200, 200, 3), 128, np.uint8)
    out = corrupt(grey, "salt_pepper", 6, seed=1)[..., 0]
    white, black = float((out == 255).mean()), float((out == 0).mean())
    assert white + black == pytest.approx(0.24, abs=0.01)
    assert white / (white + black) == pytest.approx(0.5, abs=0.03)


# --- the dropout pass ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> Detector:
    from core import load_detector

    return load_detector("demo")


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """Three scenes of different sizes (300 x 300, 360 x 240, 240 x 300 as width x height)."""
    from core.data.scenes import render_scene

    return [render_scene(7, i, size)[0] for i, size in enumerate([(300, 300), (360, 240), (240, 300)])]


def test_the_dropout_pass_is_the_hooked_model_under_the_seed(demo: Detector, images: list[np.ndarray]) -> None:
    """detect_with_dropout(seed=s) is the model run with F.dropout(p=0.15) on its sites after
    torch.manual_seed(s), decoded at each image's own size; the caller's random state is left as it was."""
    from core.evaluation.estimate.dropout import feature_dropout

    state = torch.get_rng_state()
    got = detect_with_dropout(demo, images, seed=5, score_thresh=0.3)
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(got[1].boxes, detect_with_dropout(demo, images, 5, 0.15, 0.3)[1].boxes)
    with torch.random.fork_rng(), torch.inference_mode(), feature_dropout(demo.model, 0.15):
        torch.manual_seed(5)
        logits, deltas = demo.model(demo.preprocess(images).float())
    want = demo.decode(logits.float(), deltas.float(), [(300, 300), (360, 240), (240, 300)], score_thresh=0.3)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.boxes, w.boxes)
        np.testing.assert_array_equal(g.scores, w.scores)


@pytest.mark.parametrize("arch", ["ssdlite320_mobilenet_v3_large", "ssdlite300_mobilenet_v2", "ssd300_mobilenet_v1"])
def test_mobilenet_sites_end_their_stride(arch: str) -> None:
    """In the MobileNets the sites are the last block at stride 4 and the last at stride 8: the ends of
    those stages, as BoS's ResNet stage outputs (the block after each is at the next stride)."""
    from core.config import preset
    from core.evaluation.estimate.dropout import DROPOUT_SITES
    from core.model import build_model

    model = build_model(preset(arch, num_classes=3, width=0.125).model).eval()
    size = model.cfg.image_size
    trunk = dict(model.backbone.named_modules())["features.0"]
    strides: dict[str, int] = {}
    hooks = [c.register_forward_hook(lambda _m, _i, out, n=n: strides.__setitem__(n, round(size / out.shape[-1])))
             for n, c in trunk.named_children()]
    with torch.no_grad():
        model(torch.rand(1, 3, size, size))
    for h in hooks:
        h.remove()
    names = list(strides)
    for site, stride in zip(DROPOUT_SITES[arch], (4, 8)):
        block = site.split(".")[-1]
        after = names[names.index(block) + 1]
        assert (strides[block], strides[after]) == (stride, 2 * stride), (site, strides)


# --- one measuring pass ----------------------------------------------------------------------------------


def test_measure_images_is_its_parts(demo: Detector, images: list[np.ndarray]) -> None:
    """Batches of 2 (so the dropout seeds are 4 and 5), scale 0.6, threshold 0.4, with the temporal signal:
    each signal is the agreement of the clean boxes scoring >= 0.4 with those of its pass, mapped back
    with each image's own size."""
    settings = SignalSettings(score_thresh=0.4, scale=0.6, seed=4, batch_size=2)
    got = measure_images(demo, images, settings, temporal=True)

    def high(dets: list) -> list[np.ndarray]:
        return [np.asarray(d.boxes, np.float64)[np.asarray(d.scores) >= 0.4] for d in dets]

    batches = [images[:2], images[2:]]
    clean = [d for b in batches for d in demo.detect(b)]
    ref = high(clean)
    bos = [b for k, batch in enumerate(batches) for b in high(detect_with_dropout(demo, batch, 4 + k, 0.15))]
    flipped = high([d for b in batches for d in demo.detect([np.ascontiguousarray(im[:, ::-1]) for im in b])])
    scaled = high([d for b in batches for d in demo.detect([shrink_and_pad(im, 0.6) for im in b])])
    pairs = {"bos": list(zip(ref, bos)),
             "flip": list(zip(ref, [flip_boxes(b, im.shape[1]) for b, im in zip(flipped, images)])),
             "scale": list(zip(ref, [unshrink_boxes(b, im.shape, 0.6) for b, im in zip(scaled, images)]))}
    want = {**{k: agreement(p) for k, p in pairs.items()},
            **{f"{k}_union": union_agreement(p) for k, p in pairs.items()},
            "confidence": mean_confidence([d.scores for d in clean], 0.05),
            "temporal": agreement(zip(ref[:-1], ref[1:]))}
    assert got.signals == want
    assert all(0.0 < want[k].value < 1.0 for k in ("bos", "flip", "scale"))  # nothing trivial
    assert want["temporal"].value == 0.0 and want["temporal"].pairs >= 2  # three different scenes: no box stays
    assert got.boxes_per_image == pytest.approx(np.mean([len(b) for b in ref]))
    scores = np.concatenate([d.scores[d.scores >= 0.4] for d in clean])
    assert got.mean_score == pytest.approx(float(scores.mean()))
    assert len(scores) >= 3 and float(np.median(scores)) != pytest.approx(float(scores.mean()))
    assert all(np.array_equal(g.boxes, c.boxes) for g, c in zip(got.detections, clean))


def test_the_default_threshold_is_0_3(demo: Detector) -> None:
    """At the default settings only boxes scoring >= 0.3 count (scene 4 of seed 7 has one at 0.288)."""
    from core.data.scenes import render_scene

    image = render_scene(7, 4, (300, 300))[0]
    scores = demo.detect([image])[0].scores
    assert ((scores >= 0.25) & (scores < 0.3)).any()
    assert measure_images(demo, [image]).boxes_per_image == int((scores >= 0.3).sum())


def test_a_box_scoring_exactly_the_threshold_counts(demo: Detector, images: list[np.ndarray]) -> None:
    scores = demo.detect(images[:1])[0].scores
    t = float(scores[2])  # the float32 score itself: "at least" takes it
    got = measure_images(demo, images[:1], SignalSettings(score_thresh=t))
    assert got.boxes_per_image == 3 and got.mean_score == pytest.approx(float(scores[:3].mean()))
    assert got.signals["flip"].pairs <= 3


@pytest.mark.parametrize("field, value, message", [
    ("score_thresh", 0.0, "signal score threshold must be in \\(0, 1\\), got 0.0"),
    ("score_thresh", 1.0, "signal score threshold must be in \\(0, 1\\), got 1.0"),
    ("scale", 0.0, "scale factor must be in \\(0, 1\\), got 0.0"),
    ("scale", 1.0, "scale factor must be in \\(0, 1\\), got 1.0"),
    ("batch_size", 0, "batch size must be >= 1, got 0"),
    ("confidence_floor", 1.0, "confidence floor must be in \\[0, 1\\), got 1.0"),
    ("confidence_floor", -0.01, "confidence floor must be in \\[0, 1\\), got -0.01"),
])
def test_settings_out_of_range(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SignalSettings(**{field: value})
    assert SignalSettings(batch_size=1).batch_size == 1
    assert SignalSettings(confidence_floor=0.0).confidence_floor == 0.0  # every box may enter the confidence


def test_an_exported_network_is_measured_without_bos(demo: Detector, images: list[np.ndarray],
                                                     tmp_path: Path) -> None:
    """An ONNX file has no PyTorch model to perturb: flip and scale are measured, BoS is not, and a note says why."""
    from core import load_detector
    from core.runtime.export import export_model

    onnx = load_detector(export_model(demo.weights_path, "onnx", tmp_path / "demo.onnx"))
    got = measure_images(onnx, images[:1])
    assert set(got.signals) == {"flip", "scale", "flip_union", "scale_union", "confidence"}
    assert got.signals["flip"].scored == 1
    assert "BoS needs the PyTorch model" in got.notes[0]
