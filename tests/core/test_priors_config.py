"""Default boxes and presets."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator

from core.config import SSDConfig, preset, ssd300, ssd512
from core.ssd.priors import prior_boxes


def test_prior_counts() -> None:
    assert ssd300().model.priors.num_priors == 8732
    assert prior_boxes(ssd300().model.priors, 300).shape == (8732, 4)
    assert ssd512().model.priors.num_priors == 24564
    assert prior_boxes(ssd512().model.priors, 512).shape == (24564, 4)
    assert ssd512().model.priors.feature_maps == (64, 32, 16, 8, 4, 2, 1)
    assert ssd512().model.priors.steps == (8, 16, 32, 64, 128, 256, 512)


def test_priors_are_cached_per_config_and_device() -> None:
    cfg = ssd300().model.priors
    a = prior_boxes(cfg, 300, "cpu")
    assert prior_boxes(cfg, 300, torch.device("cpu")) is a
    assert prior_boxes(ssd300(priors="voc").model.priors, 300) is not a


def test_coco_priors_equal_torchvision_default_boxes() -> None:
    gen = DefaultBoxGenerator([[2], [2, 3], [2, 3], [2, 3], [2], [2]],
                              scales=[0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05], steps=[8, 16, 32, 64, 100, 300])
    grid = [[f, f] for f in (38, 19, 10, 5, 3, 1)]
    ref = gen._grid_default_boxes(grid, [300, 300])  # cx, cy, w, h normalised
    ours = prior_boxes(ssd300(priors="coco").model.priors, 300)
    assert torch.allclose(ours, ref, atol=1e-6)


def test_voc_priors_follow_the_caffe_formula() -> None:
    """The ssd.pytorch PriorBox loop, written plainly."""
    fm, steps = (38, 19, 10, 5, 3, 1), (8, 16, 32, 64, 100, 300)
    mins, maxs = (30, 60, 111, 162, 213, 264), (60, 111, 162, 213, 264, 315)
    ars = ((2,), (2, 3), (2, 3), (2, 3), (2,), (2,))
    ref = []
    for k, f in enumerate(fm):
        for i, j in itertools.product(range(f), repeat=2):
            fk = 300 / steps[k]
            cx, cy = (j + 0.5) / fk, (i + 0.5) / fk
            s = mins[k] / 300
            ref.append([cx, cy, s, s])
            sp = math.sqrt(s * (maxs[k] / 300))
            ref.append([cx, cy, sp, sp])
            for ar in ars[k]:
                ref.append([cx, cy, s * math.sqrt(ar), s / math.sqrt(ar)])
                ref.append([cx, cy, s / math.sqrt(ar), s * math.sqrt(ar)])
    ref_t = torch.tensor(ref).clamp(0, 1)
    assert torch.allclose(prior_boxes(ssd300(priors="voc").model.priors, 300), ref_t, atol=1e-6)


def test_config_round_trip_and_bad_values() -> None:
    cfg = ssd512(num_classes=8, priors="coco", width=0.5)
    assert SSDConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="arch"):
        preset("ssd700", 21)
    with pytest.raises(ValueError, match="invalid SSD config"):
        SSDConfig.from_dict({"model": {}}, source="x.pt")
    with pytest.raises(ValueError, match="num_classes"):
        ssd300(num_classes=1)
    assert ssd300().model.variances == (0.1, 0.2)
