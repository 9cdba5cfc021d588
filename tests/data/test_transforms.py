"""Each SSD transform alone, checked against the pixels: filled boxes of distinct colours are drawn,
the transform runs, and every output box must still enclose exactly its colour."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from core.config import IMAGE_MEAN_255, ssd300
from core.data.transforms import (
    Compose, Expand, MinIoURandomCrop, PhotometricDistort, RandomHorizontalFlip, Resize, ToFloat,
    ToNetworkInput, build_transforms,
)

COLOURS = np.array([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255)], np.float32)


def drawn(w: int = 160, h: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Black image with five non-overlapping filled boxes; label l has colour COLOURS[l - 1]."""
    boxes = np.array([[10, 10, 50, 40], [60, 15, 75, 90], [90, 50, 150, 110], [20, 70, 40, 80],
                      [120, 5, 155, 30]], np.float32)
    img = np.zeros((h, w, 3), np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
        img[y1:y2, x1:x2] = COLOURS[k]
    return img, boxes, np.arange(1, 6, dtype=np.int64)


def colour_box(image: np.ndarray, colour: np.ndarray, tol: float = 60) -> np.ndarray | None:
    """Bounding box (x1, y1, x2, y2, continuous pixels) of the pixels near ``colour``."""
    mask = np.all(np.abs(image.astype(np.float32) - colour) < tol, axis=2)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def assert_boxes_match_pixels(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray,
                              colours: np.ndarray = COLOURS, atol: float = 0.0) -> None:
    assert len(boxes) == len(labels)
    for box, lab in zip(boxes, labels):
        found = colour_box(image, colours[lab - 1])
        assert found is not None, f"colour of label {lab} vanished but its box {box} remains"
        np.testing.assert_allclose(found, box, atol=atol, err_msg=f"label {lab}")
    # Colours whose box was dropped must not be visible either (no object without a label).
    for lab in set(range(1, len(colours) + 1)) - set(labels.tolist()):
        assert colour_box(image, colours[lab - 1]) is None, f"label {lab} still visible but dropped"


def test_drawn_helper_is_consistent() -> None:
    assert_boxes_match_pixels(*drawn())


def test_expand_moves_boxes_with_pixels_and_fills_mean() -> None:
    rng = np.random.default_rng(1)
    t = Expand(IMAGE_MEAN_255, p=1.0, rng=rng)
    for _ in range(5):
        img, boxes, labels = t(*drawn())
        assert img.shape[0] >= 120 and img.shape[1] >= 160 and img.shape[0] <= 480
        assert_boxes_match_pixels(img, boxes, labels)
        mean_px = np.all(np.abs(img - np.asarray(IMAGE_MEAN_255, np.float32)) < 1e-3, axis=2)
        assert mean_px.sum() == img.shape[0] * img.shape[1] - 160 * 120


def test_expand_probability_zero_is_identity() -> None:
    img, boxes, labels = drawn()
    out = Expand(IMAGE_MEAN_255, p=0.0)(img, boxes, labels)
    assert out[0] is img and out[1] is boxes


def _coordinates(h: int = 120, w: int = 160) -> np.ndarray:
    """float32 [H, W, 3] whose pixel (y, x) holds (x, y, 0): a crop reveals its own offset."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xx, yy, np.zeros_like(xx)], axis=2)


def _crop_with_rect(option: float | None, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run the crop twice with the same draws (they depend on shapes and boxes only): once on the
    drawn image, once on the coordinate image to read back the patch rectangle."""
    img0, boxes0, labels0 = drawn()
    opts = MinIoURandomCrop.OPTIONS if option is None else (option,)
    img, boxes, labels = MinIoURandomCrop(options=opts, rng=np.random.default_rng(seed))(img0, boxes0, labels0)
    coords = MinIoURandomCrop(options=opts, rng=np.random.default_rng(seed))(_coordinates(), boxes0, labels0)[0]
    assert coords.shape == img.shape
    x1, y1 = coords[0, 0, :2]
    rect = np.array([x1, y1, x1 + img.shape[1], y1 + img.shape[0]], np.float32)
    return img, boxes, labels, rect


def test_min_iou_crop_keeps_centred_boxes_clipped_to_the_patch() -> None:
    img0, boxes0, labels0 = drawn()
    cropped = 0
    for seed in range(30):
        img, boxes, labels, rect = _crop_with_rect(None, seed)
        if img.shape[:2] == (120, 160):
            np.testing.assert_array_equal(boxes, boxes0)
            continue
        cropped += 1
        ch, cw = img.shape[:2]
        assert cw >= int(0.3 * 160) - 1 and ch >= int(0.3 * 120) - 1
        assert 0.5 - 0.05 <= cw / ch <= 2.0 + 0.05
        cx, cy = (boxes0[:, 0] + boxes0[:, 2]) / 2, (boxes0[:, 1] + boxes0[:, 3]) / 2
        inside = (cx > rect[0]) & (cx < rect[2]) & (cy > rect[1]) & (cy < rect[3])
        assert labels.tolist() == labels0[inside].tolist()
        expect = boxes0[inside].copy()
        expect[:, 0::2] = np.clip(expect[:, 0::2], rect[0], rect[2]) - rect[0]
        expect[:, 1::2] = np.clip(expect[:, 1::2], rect[1], rect[3]) - rect[1]
        np.testing.assert_allclose(boxes, expect)
        # ... and each box is exactly where its colour is in the cropped pixels.
        for box, lab in zip(boxes, labels):
            np.testing.assert_allclose(colour_box(img, COLOURS[lab - 1]), box)
    assert cropped >= 10


def test_min_iou_crop_respects_the_minimum_overlap() -> None:
    img0, boxes0, _ = drawn()
    cropped = 0
    for seed in range(20):
        img, _, _, rect = _crop_with_rect(0.7, seed)
        cropped += img.shape[:2] != (120, 160)
        ix1, iy1 = np.maximum(boxes0[:, 0], rect[0]), np.maximum(boxes0[:, 1], rect[1])
        ix2, iy2 = np.minimum(boxes0[:, 2], rect[2]), np.minimum(boxes0[:, 3], rect[3])
        inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
        areas = (boxes0[:, 2] - boxes0[:, 0]) * (boxes0[:, 3] - boxes0[:, 1])
        iou = inter / (areas + (rect[2] - rect[0]) * (rect[3] - rect[1]) - inter)
        # Either a patch where some box reaches 0.7, or (no patch found) the whole image.
        assert iou.max() >= 0.7 or img.shape[:2] == (120, 160)
    assert cropped >= 5


def test_min_iou_crop_none_option_and_empty_image() -> None:
    img, boxes, labels = drawn()
    out = MinIoURandomCrop(options=(None,))(img, boxes, labels)
    assert out[0] is img
    empty_b, empty_l = np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    out = MinIoURandomCrop(options=(0.9,), rng=np.random.default_rng(0))(img, empty_b, empty_l)
    assert out[1].shape == (0, 4) and out[0].shape[0] <= 120


def test_flip_mirrors_boxes_with_pixels() -> None:
    img, boxes, labels = RandomHorizontalFlip(p=1.0)(*drawn())
    assert_boxes_match_pixels(img, boxes, labels)
    np.testing.assert_array_equal(boxes[0], [110, 10, 150, 40])


def test_resize_scales_boxes_with_pixels() -> None:
    img, boxes, labels = Resize(300)(*drawn())
    assert img.shape == (300, 300, 3)
    assert_boxes_match_pixels(img, boxes, labels, atol=2.0)  # linear interpolation blurs edges by ~1 px


def test_photometric_distort_changes_colours_not_geometry() -> None:
    img0, boxes0, labels0 = drawn()
    rng = np.random.default_rng(5)
    changed = 0
    for _ in range(10):
        img, boxes, labels = PhotometricDistort(rng=rng)(img0, boxes0, labels0)
        assert img.dtype == np.float32 and img.shape == img0.shape
        assert img.min() >= 0 and img.max() <= 255
        assert boxes is boxes0 and labels is labels0
        changed += not np.allclose(img, img0)
        # A per-pixel colour map: each flat box stays flat and keeps its extent.
        for box, lab in zip(boxes, labels):
            x1, y1, x2, y2 = box.astype(int)
            region = img[y1:y2, x1:x2].reshape(-1, 3)
            assert np.ptp(region, axis=0).max() < 1e-3
            found = colour_box(img, region[0], tol=1.0)
            assert found is not None
            assert found[0] <= box[0] and found[1] <= box[1] and found[2] >= box[2] and found[3] >= box[3]
    assert changed >= 8


def test_photometric_distort_reproducible_with_seed() -> None:
    img, boxes, labels = drawn()
    a = PhotometricDistort(rng=np.random.default_rng(9))(img, boxes, labels)[0]
    b = PhotometricDistort(rng=np.random.default_rng(9))(img, boxes, labels)[0]
    c = PhotometricDistort(rng=np.random.default_rng(10))(img, boxes, labels)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_to_network_input_subtracts_mean_normalises_and_drops_degenerate() -> None:
    img, boxes, labels = Resize(64)(*drawn())
    boxes = np.concatenate([boxes, [[10, 10, 10.01, 30]]]).astype(np.float32)  # 0.01 px wide
    labels = np.concatenate([labels, [3]])
    x, b, lab = ToNetworkInput(IMAGE_MEAN_255)(img, boxes, labels)
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (3, 64, 64)
    np.testing.assert_allclose(x[:, 0, 0].numpy(), img[0, 0].astype(np.float32) - np.array(IMAGE_MEAN_255), rtol=1e-6)
    assert lab.tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(b, boxes[:5] / 64)


def test_geometric_chain_keeps_boxes_on_their_pixels() -> None:
    """Expand -> crop -> flip together, many draws: boxes always follow the pixels."""
    rng = np.random.default_rng(6)
    chain = Compose([ToFloat(), Expand(IMAGE_MEAN_255, rng=rng), MinIoURandomCrop(rng=rng),
                     RandomHorizontalFlip(rng=rng)])
    for _ in range(20):
        img, boxes, labels = chain(*drawn())
        for box, lab in zip(boxes, labels):
            np.testing.assert_allclose(colour_box(img, COLOURS[lab - 1]), box)


def test_build_transforms_train_and_eval() -> None:
    cfg = replace(ssd300(6).model, image_size=96)
    img, boxes, labels = drawn()
    x, b, lab = build_transforms(cfg, train=False)(img, boxes, labels)
    assert x.shape == (3, 96, 96)
    np.testing.assert_allclose(b, boxes / np.array([160, 120, 160, 120]), atol=1e-6)
    rng = np.random.default_rng(7)
    train = build_transforms(cfg, train=True, rng=rng)
    assert [type(t).__name__ for t in train.transforms] == [
        "ToFloat", "PhotometricDistort", "Expand", "MinIoURandomCrop", "RandomHorizontalFlip", "Resize",
        "ToNetworkInput"]
    for _ in range(20):
        x, b, lab = train(img, boxes, labels)
        assert x.shape == (3, 96, 96) and torch.isfinite(x).all()
        assert b.dtype == np.float32 and lab.dtype == np.int64 and len(b) == len(lab)
        assert np.all((b >= 0) & (b <= 1))
        assert np.all(b[:, 2] - b[:, 0] > 1e-3) and np.all(b[:, 3] - b[:, 1] > 1e-3)


@pytest.mark.parametrize("seed", [11, 12])
def test_train_chain_reproducible_from_global_seed(seed: int) -> None:
    cfg = replace(ssd300(6).model, image_size=64)
    t = build_transforms(cfg, train=True)
    np.random.seed(seed)
    a = t(*drawn())
    np.random.seed(seed)
    b = t(*drawn())
    torch.testing.assert_close(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
