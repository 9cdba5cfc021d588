"""Where BoS's feature-map dropout goes in every architecture, and what the perturbed pass does."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.config import ARCHITECTURES, preset
from core.detector import Detector
from core.evaluation.estimate.dropout import (DROPOUT_SITES, detect_with_dropout, dropout_sites, feature_dropout,
                                              torch_model_of)
from core.evaluation.estimate.signals import agreement
from core.model import build_model


def _tiny(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(preset(arch, num_classes=3, width=0.125).model).eval()


def test_every_architecture_has_sites() -> None:
    assert set(DROPOUT_SITES) == set(ARCHITECTURES)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_sites_are_the_stride_4_and_8_maps_and_the_hooks_come_off(arch: str) -> None:
    model = _tiny(arch)
    size = model.cfg.image_size
    shapes: list[tuple[int, ...]] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape))) for m in dropout_sites(model)]
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        plain = model(x)
    for h in hooks:
        h.remove()
    assert [round(size / s[-1]) for s in shapes] == [4, 8]
    with torch.no_grad():
        with feature_dropout(model, 0.0):
            same = model(x)
        with feature_dropout(model, 0.5):
            perturbed = model(x)
        after = model(x)  # the hooks are gone
    for a, b, c, d in zip(plain, same, perturbed, after):
        assert torch.equal(a, b) and torch.equal(a, d)
        assert not torch.equal(a, c)
    assert not model.training


def test_batchnorm_statistics_are_not_touched() -> None:
    model = _tiny("ssdlite320_mobilenet_v3_large")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad(), feature_dropout(model, 0.3):
        model(torch.rand(2, 3, 320, 320))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_rate_out_of_range() -> None:
    with pytest.raises(ValueError, match="dropout rate"):
        with feature_dropout(_tiny("ssd300"), 1.0):
            pass


@pytest.fixture(scope="module")
def demo() -> Detector:
    from core import load_detector

    return load_detector("demo")


@pytest.fixture(scope="module")
def scenes() -> list[np.ndarray]:
    from core.data.scenes import render_scene

    return [render_scene(7, i, (300, 300))[0] for i in range(4)]


def test_dropout_pass_of_the_demo_model(demo: Detector, scenes: list[np.ndarray]) -> None:
    """p = 0 gives the detector's own boxes (BoS exactly 1); the same seed gives the same masks; p = 0.15
    moves boxes but keeps most of them (the trained model is stable on its own data)."""
    clean = demo.detect(scenes, score_thresh=0.3)
    none = detect_with_dropout(demo, scenes, seed=0, p=0.0, score_thresh=0.3)
    for c, n in zip(clean, none):
        np.testing.assert_allclose(c.boxes, n.boxes, atol=1e-3)
        np.testing.assert_array_equal(c.labels, n.labels)
    assert agreement([(c.boxes, n.boxes) for c, n in zip(clean, none)]).value == pytest.approx(1.0, abs=1e-6)
    one = detect_with_dropout(demo, scenes, seed=3, score_thresh=0.3)
    again = detect_with_dropout(demo, scenes, seed=3, score_thresh=0.3)
    other = detect_with_dropout(demo, scenes, seed=4, score_thresh=0.3)
    for a, b in zip(one, again):
        np.testing.assert_array_equal(a.boxes, b.boxes)
    assert any(a.boxes.shape != b.boxes.shape or not np.array_equal(a.boxes, b.boxes) for a, b in zip(one, other))
    bos = agreement([(c.boxes, d.boxes) for c, d in zip(clean, one)]).value
    assert bos is not None and 0.5 < bos < 1.0


def test_an_exported_network_has_no_model_to_perturb(demo: Detector) -> None:
    class Exported:
        model = None
        weights_path = "net.onnx"

    assert torch_model_of(demo) is demo.model
    assert torch_model_of(Exported()) is None
    with pytest.raises(ValueError, match="net.onnx: feature-map dropout needs the PyTorch model"):
        detect_with_dropout(Exported(), [np.zeros((8, 8, 3), np.uint8)], seed=0)
