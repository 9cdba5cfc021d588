"""The detector's fp32 preprocessing gives torchvision's SSD transform to the last bit.

core.detector normalises a uint8 picture by a table of the 256 values per channel (OpenCV's LUT)
before the bilinear resize; torchvision's ``GeneralizedRCNNTransform`` divides, subtracts and divides
the whole float picture, then resizes. The tensors must be equal, not close: the fp32 detections'
parity with torchvision rests on it.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from core.config import preset
from core.detector import Detector, _normalisation_table, _normalise
from core.model import build_model

SIZES = [(480, 640), (211, 333), (320, 320), (1, 1), (3, 7), (720, 1280), (500, 100)]


def _pictures() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    pictures = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in SIZES]
    # Every value in every channel, and a crop (a strided view of a larger picture).
    pictures.append(np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), 3, axis=2))
    pictures.append(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)[10:250:2, 5:390])
    return pictures


def _torchvision(arch: str) -> torchvision.models.detection.SSD:
    build = getattr(torchvision.models.detection, arch)
    return build(weights=None, weights_backbone=None).eval()


@pytest.mark.parametrize("arch, ours_arch", [("ssd300_vgg16", "ssd300"),
                                             ("ssdlite320_mobilenet_v3_large", "ssdlite320_mobilenet_v3_large")])
def test_preprocess_equals_torchvision_transform_bitwise(arch: str, ours_arch: str) -> None:
    cfg = preset(ours_arch, 91)
    det = Detector(build_model(cfg.model), cfg, ["__background__"] + [f"c{i}" for i in range(1, 91)])
    tv = _torchvision(arch)
    for picture in _pictures():
        ours = det.preprocess([picture])
        with torch.no_grad():
            ref = tv.transform([torch.from_numpy(picture).permute(2, 0, 1).float() / 255.0])[0].tensors
        assert ours.shape == ref.shape
        assert torch.equal(ours, ref), f"{arch} {picture.shape}: max difference {(ours - ref).abs().max().item()}"
    # A batch of different sizes is the pictures one by one, stacked.
    batch = det.preprocess(_pictures()[:3])
    assert torch.equal(batch, torch.cat([det.preprocess([p]) for p in _pictures()[:3]]))


def test_normalisation_table_is_the_torch_operations() -> None:
    """Entry [0, v, c] is (v / 255 - mean[c]) / std[c] as torch computes it on a float picture."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    table = _normalisation_table(mean, std)
    assert table.shape == (1, 256, 3) and table.dtype == np.float32
    for v in (0, 1, 127, 128, 254, 255):
        for c in range(3):
            expected = (torch.tensor(float(v)) / 255.0 - mean.flatten()[c]) / std.flatten()[c]
            assert table[0, v, c] == expected.item(), (v, c)
    picture = torch.from_numpy(np.random.default_rng(3).integers(0, 256, (9, 13, 3), dtype=np.uint8))
    assert torch.equal(_normalise(picture.permute(2, 0, 1)[None], mean, std),
                       torch.from_numpy(table[0][picture.long(), torch.arange(3)]).permute(2, 0, 1)[None])
