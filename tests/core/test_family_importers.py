"""qfgaohao/pytorch-ssd files: a state dict in that repository's key layout, made by modules written here
from its published structure, loads into this project's MobileNet-SSDs and computes the same network."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.data.voc import VOC_CLASSES
from core.resolve import load_detector
from core.weights import load_weights, save_checkpoint


# --------------------------------------------------------------- qfgaohao's layout, written from its structure

def _conv_bn(c_in: int, c_out: int, stride: int, act: type = nn.ReLU) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), act())


def _conv_dw(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False), nn.BatchNorm2d(c_in), nn.ReLU(),
                         nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class _Inverted(nn.Module):
    """A MobileNetV2 block with one flat ``conv`` Sequential (expansion, depthwise, projection)."""

    def __init__(self, c_in: int, c_out: int, stride: int, t: float) -> None:
        super().__init__()
        h = round(c_in * t)
        self.res = stride == 1 and c_in == c_out
        layers: list[nn.Module] = [] if t == 1 else [nn.Conv2d(c_in, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU6()]
        layers += [nn.Conv2d(h, h, 3, stride, 1, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
                   nn.Conv2d(h, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.res else self.conv(x)


def _separable(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in), nn.BatchNorm2d(c_in), nn.ReLU6(),
                         nn.Conv2d(c_in, c_out, 1))


class QfgaohaoSSD(nn.Module):
    """base_net, extras, classification_headers, regression_headers; a tap is a layer index (the map after
    ``base_net[:i]``) or (i, "conv", k): the map inside block i after its first k layers."""

    def __init__(self, base_net: list[nn.Module], taps: list, extras: list[nn.Module], cls: list[nn.Module],
                 reg: list[nn.Module], num_classes: int) -> None:
        super().__init__()
        self.base_net, self.taps, self.num_classes = nn.ModuleList(base_net), taps, num_classes
        self.extras, self.classification_headers = nn.ModuleList(extras), nn.ModuleList(cls)
        self.regression_headers = nn.ModuleList(reg)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps, start = [], 0
        for tap in self.taps:
            end = tap[0] if isinstance(tap, tuple) else tap
            for layer in self.base_net[start:end]:
                x = layer(x)
            if isinstance(tap, tuple):
                sub = getattr(self.base_net[end], tap[1])
                x = sub[:tap[2]](x)
                maps.append(x)
                x = sub[tap[2]:](x)
                end += 1
            else:
                maps.append(x)
            start = end
        for layer in self.base_net[start:]:
            x = layer(x)
        for layer in self.extras:
            x = layer(x)
            maps.append(x)
        n = x.shape[0]
        conf = [h(m).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes)
                for h, m in zip(self.classification_headers, maps)]
        loc = [h(m).permute(0, 2, 3, 1).reshape(n, -1, 4) for h, m in zip(self.regression_headers, maps)]
        return torch.cat(conf, 1), torch.cat(loc, 1)


def mb1_ssd(n: int) -> QfgaohaoSSD:
    spec = [(32, 2), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5
    spec += [(1024, 2), (1024, 1)]
    base, c = [], 3
    for i, (o, s) in enumerate(spec):
        base.append(_conv_bn(c, o, s) if i == 0 else _conv_dw(c, o, s))
        c = o
    extras = [nn.Sequential(nn.Conv2d(a, m, 1), nn.ReLU(), nn.Conv2d(m, b, 3, 2, 1), nn.ReLU())
              for a, m, b in [(1024, 256, 512), (512, 128, 256), (256, 128, 256), (256, 128, 256)]]
    chans = [512, 1024, 512, 256, 256, 256]
    return QfgaohaoSSD(base, [12, 14], extras, [nn.Conv2d(ch, 6 * n, 3, padding=1) for ch in chans],
                       [nn.Conv2d(ch, 24, 3, padding=1) for ch in chans], n)


def mb2_ssd_lite(n: int) -> QfgaohaoSSD:
    base, c = [_conv_bn(3, 32, 2, nn.ReLU6)], 32
    for t, o, reps, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                          (6, 320, 1, 1)]:
        for r in range(reps):
            base.append(_Inverted(c, o, s if r == 0 else 1, t))
            c = o
    base.append(nn.Sequential(nn.Conv2d(320, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6()))
    extras = [_Inverted(1280, 512, 2, 0.2), _Inverted(512, 256, 2, 0.25), _Inverted(256, 256, 2, 0.5),
              _Inverted(256, 64, 2, 0.25)]
    chans = [576, 1280, 512, 256, 256]
    cls = [_separable(ch, 6 * n) for ch in chans] + [nn.Conv2d(64, 6 * n, 1)]
    reg = [_separable(ch, 24) for ch in chans] + [nn.Conv2d(64, 24, 1)]
    return QfgaohaoSSD(base, [(14, "conv", 3), 19], extras, cls, reg, n)


def _randomised(net: QfgaohaoSSD, seed: int) -> QfgaohaoSSD:
    """Random weights with BatchNorm statistics measured on noise, so activations stay O(1) to the last map."""
    torch.manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.uniform_(m.bias, -0.1, 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
            m.momentum = None
    net.train()
    with torch.no_grad():
        net(torch.randn(4, 3, 300, 300))
    return net.eval()


def _image(seed: int, h: int = 240, w: int = 320) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, ((xx * yy) % 251)], -1)
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("make, arch", [(mb1_ssd, "ssd300_mobilenet_v1"), (mb2_ssd_lite, "ssdlite300_mobilenet_v2")])
def test_qfgaohao_file_loads_and_computes_the_same_network(make, arch: str, tmp_path: Path) -> None:
    ref = _randomised(make(21), seed=5)
    sd = ref.state_dict()
    assert {k.split(".")[0] for k in sd} == {"base_net", "extras", "classification_headers", "regression_headers"}
    path = tmp_path / f"{arch}-qfgaohao.pth"
    torch.save(sd, path)

    lw = load_weights(path)
    assert lw.format == "qfgaohao" and lw.config.model.arch == arch and lw.class_names == VOC_CLASSES
    assert lw.config.model.priors.num_priors == 3000
    det = load_detector(path)
    images = [_image(1), _image(2, 300, 300)]
    x = det.preprocess(images)
    # qfgaohao's input: the RGB image resized to 300x300, minus 127, divided by 128.
    resized = F.interpolate(torch.from_numpy(images[0]).permute(2, 0, 1)[None].float(), size=(300, 300),
                            mode="bilinear", align_corners=False)
    assert torch.allclose(x[:1], (resized - 127.0) / 128.0, atol=1e-4)
    with torch.no_grad():
        want_conf, want_loc = ref(x)
        conf, loc = det.forward(x)
    assert conf.shape == (2, 3000, 21) and want_conf.std() > 0.1
    torch.testing.assert_close(conf, want_conf, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(loc, want_loc, atol=1e-4, rtol=1e-4)

    # The same weights saved natively (this project's checkpoint) detect the same boxes.
    native = save_checkpoint(tmp_path / "native.pt", det.model, det.config, det.class_names)
    got, want = det.detect(images), load_detector(native).detect(images)
    for g, w in zip(got, want):
        assert len(g) > 10
        np.testing.assert_array_equal(g.labels, w.labels)
        np.testing.assert_array_equal(g.boxes, w.boxes)
        np.testing.assert_array_equal(g.scores, w.scores)


def test_other_qfgaohao_networks_and_bad_shapes_are_named(tmp_path: Path) -> None:
    sd = mb1_ssd(21).state_dict()
    lite = {k.replace("classification_headers.0.", "classification_headers.0.0."): v for k, v in sd.items()}
    torch.save(lite, tmp_path / "mb1-ssd-lite.pth")
    with pytest.raises(ValueError, match="only mb1-ssd.*and mb2-ssd-lite.*are supported"):
        load_weights(tmp_path / "mb1-ssd-lite.pth")
    sd["extras.1.2.weight"] = torch.zeros(256, 128, 1, 1)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"bad.pth': layer extras\.1\.2\.weight has shape \(256, 128, 1, 1\), "
                                         r"expected \(256, 128, 3, 3\)"):
        load_weights(tmp_path / "bad.pth")
