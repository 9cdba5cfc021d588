"""The SSD family's structure: presets, default boxes, the ResNet-50 SSD, ImageNet initialisation."""
from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch
import torchvision

from core.config import ARCHITECTURES, SSDConfig, default_arch, preset
from core.weights.backbones import init_backbone
from core.model import build_model
from core.ssd.priors import prior_boxes
from core.cli.info import describe, describe_architectures
from core.weights import load_weights, save_checkpoint


def test_every_architecture_has_a_preset_and_a_description() -> None:
    for name, info in ARCHITECTURES.items():
        cfg = preset(name, 5, width=0.25)
        assert cfg.model.arch == name and cfg.model.image_size == info.image_size
        assert SSDConfig.from_dict(cfg.to_dict()) == cfg
        assert "parameters" in info.description and "multiply-adds" in info.description
        assert name in describe_architectures()
    assert ARCHITECTURES[default_arch("cpu")].light and not ARCHITECTURES[default_arch("cuda")].light
    with pytest.raises(ValueError, match="ssd300_resnet50 has no default-box set priors='voc'"):
        preset("ssd300_resnet50", 5, priors="voc")


def test_prior_counts() -> None:
    counts = {"ssd300_mobilenet_v1": 3000, "ssdlite300_mobilenet_v2": 3000, "ssdlite320_mobilenet_v3_large": 3234,
              "ssd300_resnet50": 8732}
    for name, n in counts.items():
        cfg = preset(name, 3).model
        assert cfg.priors.num_priors == n
        assert prior_boxes(cfg.priors, cfg.image_size).shape == (n, 4)


def test_mobilenet_priors_follow_qfgaohao_formula() -> None:
    """qfgaohao's generate_ssd_priors loop, written plainly: (map, shrinkage, min, max), ratios 2 and 3."""
    specs = [(19, 16, 60, 105), (10, 32, 105, 150), (5, 64, 150, 195), (3, 100, 195, 240), (2, 150, 240, 285),
             (1, 300, 285, 330)]
    ref = []
    for f, shrink, lo, hi in specs:
        scale = 300 / shrink
        for j, i in itertools.product(range(f), repeat=2):
            x, y = (i + 0.5) / scale, (j + 0.5) / scale
            s = lo / 300
            ref += [[x, y, s, s], [x, y, math.sqrt(lo * hi) / 300, math.sqrt(lo * hi) / 300]]
            for r in (2, 3):
                ref += [[x, y, s * math.sqrt(r), s / math.sqrt(r)], [x, y, s / math.sqrt(r), s * math.sqrt(r)]]
    got = prior_boxes(preset("ssd300_mobilenet_v1", 21).model.priors, 300)
    assert torch.allclose(got, torch.tensor(ref).clamp(0, 1), atol=1e-6)


def test_resnet_priors_follow_nvidia_default_boxes() -> None:
    """NVIDIA's DefaultBoxes: sizes outer, cells inner, all four numbers clamped; ours are cell-major."""
    fm, steps, scales = (38, 19, 10, 5, 3, 1), (8, 16, 32, 64, 100, 300), (21, 45, 99, 153, 207, 261, 315)
    ars = ((2,), (2, 3), (2, 3), (2, 3), (2,), (2,))
    ref = []
    for k, f in enumerate(fm):
        s1, s2 = scales[k] / 300, scales[k + 1] / 300
        sizes = [(s1, s1), (math.sqrt(s1 * s2),) * 2]
        for a in ars[k]:
            sizes += [(s1 * math.sqrt(a), s1 / math.sqrt(a)), (s1 / math.sqrt(a), s1 * math.sqrt(a))]
        fk = 300 / steps[k]
        cells = list(itertools.product(range(f), repeat=2))
        boxes = [[(j + 0.5) / fk, (i + 0.5) / fk, w, h] for w, h in sizes for i, j in cells]
        ref.append(torch.tensor(boxes).clamp(0, 1).view(len(sizes), f * f, 4).transpose(0, 1).reshape(-1, 4))
    got = prior_boxes(preset("ssd300_resnet50", 81).model.priors, 300)
    assert torch.allclose(got, torch.cat(ref), atol=1e-6)


def test_resnet50_ssd_shapes_and_round_trip(tmp_path: Path) -> None:
    cfg = preset("ssd300_resnet50", 4, width=0.25)
    model = build_model(cfg.model).eval()
    x = torch.randn(2, 3, 300, 300)
    with torch.no_grad():
        feats = model.backbone(x)
        logits, deltas = model(x)
    assert [f.shape[-1] for f in feats] == [38, 19, 10, 5, 3, 1]
    assert [f.shape[1] for f in feats] == [256, 128, 128, 64, 64, 64]  # 1024, 512, 512, 256, 256, 256 at width 1
    assert logits.shape == (2, 8732, 4) and deltas.shape == (2, 8732, 4)
    layer3 = model.backbone.features[0].layer3[0]
    assert layer3.conv2.stride == (1, 1) and layer3.downsample[0].stride == (1, 1)  # conv4_x at stride 1
    bns = [m for m in model.backbone.extra.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 10 and all(c.bias is None for c in model.backbone.extra.modules()
                                  if isinstance(c, torch.nn.Conv2d))
    path = save_checkpoint(tmp_path / "r50.pt", model, cfg, ("__background__", "a", "b", "c"))
    lw = load_weights(path)
    assert lw.config == cfg and "NVIDIA" in describe(lw)
    again = build_model(lw.config.model).eval()
    again.load_state_dict(lw.state_dict)
    with torch.no_grad():
        assert torch.equal(again(x)[0], logits)


def test_imagenet_resnet50_initialises_the_trunk(tmp_path: Path) -> None:
    torch.manual_seed(0)
    clf = torchvision.models.resnet50(weights=None)
    path = tmp_path / "resnet50.pth"
    torch.save(clf.state_dict(), path)
    model = build_model(preset("ssd300_resnet50", 81).model)
    n = init_backbone(model, path)
    trunk = model.backbone.features[0]
    sd = clf.state_dict()
    assert n == len([k for k in sd if not k.startswith(("layer4.", "fc."))])
    assert torch.equal(trunk.conv1.weight, sd["conv1.weight"])
    assert torch.equal(trunk.layer3[5].bn3.running_var, sd["layer3.5.bn3.running_var"])
    assert torch.equal(trunk.layer3[0].downsample[0].weight, sd["layer3.0.downsample.0.weight"])
    with pytest.raises(ValueError, match="ResNet-50 needs width 1.0"):
        init_backbone(build_model(preset("ssd300_resnet50", 81, width=0.5).model), path)
    with pytest.raises(ValueError, match="is not a torchvision mobilenet_v3_large classifier"):
        init_backbone(build_model(preset("ssdlite320_mobilenet_v3_large", 3).model), path)
    with pytest.raises(ValueError, match="ImageNet resnet50 classifier: use it to initialise training"):
        from core.resolve import load_detector

        load_detector(path)


def test_imagenet_mobilenets_initialise_the_trunks(tmp_path: Path) -> None:
    torch.manual_seed(0)
    v3 = torchvision.models.mobilenet_v3_large(weights=None)
    torch.save(v3.state_dict(), tmp_path / "v3.pth")
    lite = build_model(preset("ssdlite320_mobilenet_v3_large", 3).model)
    n = init_backbone(lite, tmp_path / "v3.pth")
    f = lite.backbone.features
    assert torch.equal(f[0][1].block[0][0].weight, v3.features[1].block[0][0].weight)
    assert torch.equal(f[0][13][0].weight, v3.features[13].block[0][0].weight)  # C4's expansion
    assert torch.equal(f[1][0][0][0].weight, v3.features[13].block[1][0].weight)  # C4's depthwise
    # The reduced tail (C4's projection onwards, halved) keeps its own initialisation.
    assert f[1][0][2][0].weight.shape[0] == 80 and v3.features[13].block[3][0].weight.shape[0] == 160
    assert 200 < n < len(lite.backbone.features.state_dict())

    v2 = torchvision.models.mobilenet_v2(weights=None)
    torch.save(v2.state_dict(), tmp_path / "v2.pth")
    mb2 = build_model(preset("ssdlite300_mobilenet_v2", 21).model)
    assert init_backbone(mb2, tmp_path / "v2.pth") == len(mb2.backbone.features.state_dict())
    assert torch.equal(mb2.backbone.features[0][14][0].weight, v2.features[14].conv[0][0].weight)
    assert torch.equal(mb2.backbone.features[1][4][0].weight, v2.features[18][0].weight)
    with pytest.raises(ValueError, match="needs width 1.0"):
        init_backbone(build_model(preset("ssdlite300_mobilenet_v2", 21, width=0.5).model), tmp_path / "v2.pth")
    with pytest.raises(ValueError, match="ssd300_mobilenet_v1 has no ImageNet classifier"):
        init_backbone(build_model(preset("ssd300_mobilenet_v1", 21).model), tmp_path / "v2.pth")
