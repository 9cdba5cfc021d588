"""The corruption family of the meta-set: pure functions of (image, corruption, severity, seed), the
geometry kept, each stronger with its severity; values pinned by hand where they are simple."""
from __future__ import annotations

import numpy as np
import pytest

from core.evaluation.estimate.corruptions import (CORRUPTIONS, HELD_OUT, LEVELS, SEVERITIES, corrupt,
                                                  corruption_parameter)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    from core.data.scenes import render_scene

    return render_scene(3, 1, (300, 300))[0]  # spatial parameters are given for a 300-pixel side


def test_family_and_held_out_are_apart() -> None:
    assert len(CORRUPTIONS) == 7 and not set(CORRUPTIONS) & set(HELD_OUT)
    assert 1 + len(CORRUPTIONS) * SEVERITIES >= 40  # the calibration's sets


@pytest.mark.parametrize("name", CORRUPTIONS + HELD_OUT)
def test_same_inputs_same_pixels_and_stronger_with_severity(scene: np.ndarray, name: str) -> None:
    outs = [corrupt(scene, name, s, seed=11) for s in range(1, SEVERITIES + 1)]
    for out in outs:
        assert out.shape == scene.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(outs[2], corrupt(scene, name, 3, seed=11))
    distance = [float(np.abs(o.astype(np.float64) - scene).mean()) for o in outs]
    assert distance[0] > 0 and all(b > a for a, b in zip(distance, distance[1:])), distance


def test_values_by_hand() -> None:
    flat = np.full((40, 60, 3), 200, np.uint8)
    flat[:20] = 100  # mean 150
    assert (corrupt(flat, "brightness", 2)[:20] == 16).all()  # 100 * 0.16
    contrast = corrupt(flat, "contrast", 2)  # 150 + (x - 150) * 0.3
    assert (contrast[:20] == 135).all() and (contrast[20:] == 165).all()
    fog = corrupt(flat, "fog", 1)  # x * 0.75 + 200 * 0.25
    assert (fog[:20] == 125).all() and (fog[20:] == 200).all()
    gamma = corrupt(flat, "gamma", 2)  # 255 * (x / 255) ** 2
    assert (gamma[:20] == round(255 * (100 / 255) ** 2)).all()
    occluded = corrupt(flat, "occlusion", 3, seed=4)
    grey = (occluded == 128).all(axis=2)
    assert 0.15 <= grey.mean() <= 0.15 + 8 * 8 / (40 * 60)  # at least the fraction, at most one more 8x8 patch
    assert corruption_parameter("jpeg", 6) == LEVELS["jpeg"][5]


def test_bad_names_and_severities() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="unknown corruption 'rain'"):
        corrupt(image, "rain", 1)
    with pytest.raises(ValueError, match="severity of 'blur' must be 1..6, got 7"):
        corrupt(image, "blur", 7)
    with pytest.raises(ValueError, match="expected a uint8 HxWx3 image"):
        corrupt(image[..., 0], "blur", 1)
