"""Weights files: our checkpoints, importers, and every bad input with a clear error."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from core.config import ssd300
from core.detector import Detector
from core.resolve import load_detector
from core.model import build_model
from core.cli.info import describe
from core.weights.download import fetch_torchvision_coco, torchvision_cache_path
from core.weights.backbones import init_backbone_from_vgg16
from core.weights import load_weights, save_checkpoint


def _tiny(tmp_path: Path, num_classes: int = 4, name: str = "tiny.pt") -> Path:
    cfg = ssd300(num_classes=num_classes, priors="voc", width=0.125)
    model = build_model(cfg.model)
    names = ("__background__",) + tuple(f"c{i}" for i in range(1, num_classes))
    return save_checkpoint(tmp_path / name, model, cfg, names, meta={"iterations": 3})


def test_own_checkpoint_round_trip(tmp_path: Path) -> None:
    path = _tiny(tmp_path)
    lw = load_weights(path)
    assert lw.format == "own" and lw.class_names[1] == "c1" and lw.meta["iterations"] == 3
    det = load_detector(path)
    img = np.full((40, 60, 3), 128, np.uint8)
    [d] = det.detect([img], score_thresh=0.0)
    assert d.boxes.dtype == np.float32 and d.boxes.shape[1] == 4 and d.labels.dtype == np.int64
    assert (d.boxes[:, [0, 2]] <= 60).all() and (d.boxes[:, [1, 3]] <= 40).all()
    text = describe(lw)
    assert "format: own" in text and "c1, c2, c3" in text and "parameters:" in text
    assert not list(tmp_path.glob("*.tmp"))  # atomic write left no temp file


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found: .*nope.pt"):
        load_detector(tmp_path / "nope.pt")


def test_text_file_as_weights(tmp_path: Path) -> None:
    p = tmp_path / "notes.pt"
    p.write_text("these are not weights\n")
    with pytest.raises(ValueError, match="notes.pt' is not a PyTorch weights file"):
        load_detector(p)


def test_checkpoint_for_another_architecture(tmp_path: Path) -> None:
    p = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), p)
    with pytest.raises(ValueError, match="resnet18.pth' is not an SSD checkpoint"):
        load_detector(p)


def test_mismatched_layer_names_layer_and_both_shapes(tmp_path: Path) -> None:
    path = _tiny(tmp_path, num_classes=4)
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["model"]["num_classes"] = 6  # claims 6 classes, stores a 4-class head
    ckpt["class_names"] = ckpt["class_names"] + ["c4", "c5"]
    bad = tmp_path / "bad.pt"
    torch.save(ckpt, bad)
    with pytest.raises(ValueError, match=r"layer head\.classification_head\.module_list\.0\.weight has shape "
                                         r"\(16, 64, 3, 3\) in the file but the model expects \(24, 64, 3, 3\)"):
        load_detector(bad)


class _Evil:
    pass


def test_pickle_refused_by_weights_only(tmp_path: Path) -> None:
    p = tmp_path / "pickled.pt"
    torch.save({"model": _Evil()}, p)
    with pytest.raises(ValueError, match="refused by torch.load\\(weights_only=True\\)"):
        load_detector(p)


def test_image_with_zero_width(tmp_path: Path) -> None:
    det = load_detector(_tiny(tmp_path))
    with pytest.raises(ValueError, match=r"image 1 has shape \(20, 0, 3\): width and height must be positive"):
        det.detect([np.zeros((20, 20, 3), np.uint8), np.zeros((20, 0, 3), np.uint8)])
    with pytest.raises(ValueError, match="expected HxWx3"):
        det.detect([np.zeros((20, 20), np.uint8)])


def test_bad_device_and_precision(tmp_path: Path) -> None:
    path = _tiny(tmp_path)
    with pytest.raises(ValueError, match="unknown precision"):
        load_detector(path, precision="int3")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load_detector(path, device="cuda")
        with pytest.raises(ValueError, match="fp16' needs a CUDA device"):
            load_detector(path, precision="fp16")


def test_imagenet_vgg16_decimated_into_conv6_conv7(tmp_path: Path) -> None:
    torch.manual_seed(0)
    vgg = torchvision.models.vgg16(weights=None)
    p = tmp_path / "vgg16_imagenet.pth"
    torch.save(vgg.state_dict(), p)
    model = build_model(ssd300(num_classes=21, priors="voc").model)
    assert init_backbone_from_vgg16(model, p) == 30
    sd = vgg.state_dict()
    assert torch.equal(model.backbone.features[0].weight, sd["features.0.weight"])
    assert torch.equal(model.backbone.extra[0][5].weight, sd["features.28.weight"])  # conv5_3
    fc6 = sd["classifier.0.weight"].view(4096, 512, 7, 7)
    conv6 = model.backbone.extra[0][7][1]
    # Filter i of conv6 is filter 4i of fc6, tap (h, w) is fc6's tap (3h, 3w) (seed 004).
    for i, h, w in [(0, 0, 0), (5, 1, 2), (1023, 2, 2)]:
        assert torch.equal(conv6.weight[i, :, h, w], fc6[4 * i, :, 3 * h, 3 * w])
    assert torch.equal(conv6.bias, sd["classifier.0.bias"][::4])
    conv7 = model.backbone.extra[0][7][3]
    assert torch.equal(conv7.weight[7, 9, 0, 0], sd["classifier.3.weight"][28, 36])
    # As a detector it is refused with a message that says what it is for.
    with pytest.raises(ValueError, match="ImageNet VGG16 classifier"):
        load_detector(p)
    small = build_model(ssd300(num_classes=21, width=0.5).model)
    with pytest.raises(ValueError, match=r"layer backbone\.features\.0\.weight has shape \(64, 3, 3, 3\)"):
        init_backbone_from_vgg16(small, p)


def test_torchvision_coco_offline_says_where_to_put_the_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    dest = torchvision_cache_path()
    assert str(dest).startswith(str(tmp_path))
    with pytest.raises(ValueError, match=f"put the file at '{dest}'"):
        fetch_torchvision_coco(allow_download=False)
    # Once the file is there (here: random weights in torchvision's layout), the name resolves to it.
    dest.parent.mkdir(parents=True)
    torch.save(torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None).state_dict(), dest)
    det = load_detector("torchvision:ssd300_vgg16_coco", allow_download=False)
    assert isinstance(det, Detector) and det.class_names[1] == "person"


def test_devices_and_precisions_offered_are_the_ones_that_load(tmp_path: Path) -> None:
    from core.detector import available_devices, precisions_for

    cfg = ssd300(num_classes=3, priors="voc", width=0.125)
    path = save_checkpoint(tmp_path / "w.pt", build_model(cfg.model), cfg, ("__background__", "a", "b"))
    assert available_devices()[0] == "cpu" and ("cuda" in available_devices()) == torch.cuda.is_available()
    assert "fp16" not in precisions_for("cpu") and precisions_for("cuda")[:2] == ["fp32", "fp16"]
    img = np.zeros((40, 50, 3), np.uint8)
    for device in available_devices():
        for precision in precisions_for(device):
            [dets] = load_detector(path, device=device, precision=precision).detect([img])
            assert dets.boxes.shape[1] == 4


def _tampered(tmp_path: Path, name: str, change) -> Path:  # type: ignore[no-untyped-def]
    """A real checkpoint of ours, with one entry changed as a hostile or broken file would have it."""
    ckpt = torch.load(_tiny(tmp_path), weights_only=True)
    change(ckpt)
    torch.save(ckpt, tmp_path / name)
    return tmp_path / name


def _set(path: tuple, value):  # type: ignore[no-untyped-def]
    def change(ckpt: dict) -> None:
        d = ckpt
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
    return change


@pytest.mark.parametrize("name, change, field", [
    ("variances.pt", _set(("config", "model", "variances"), [0.0, 0.0]), "ModelConfig.variances"),
    ("size.pt", _set(("config", "model", "image_size"), -300), "ModelConfig.image_size"),
    ("topk.pt", _set(("config", "postprocess", "topk_candidates"), -5), "PostprocessConfig.topk_candidates"),
    ("thresh.pt", _set(("config", "postprocess", "score_thresh"), float("nan")), "PostprocessConfig.score_thresh"),
    ("model.pt", _set(("model",), "not a state dict"), "the 'model' entry is a str"),
    ("names.pt", _set(("class_names",), "abcd"), "the 'class_names' entry is a str"),
    ("config.pt", _set(("config",), "ssd300"), "the 'config' entry is a str"),
    ("meta.pt", _set(("meta",), 7), "the 'meta' entry is a int"),
    ("tensor.pt", _set(("model", "head.regression_head.module_list.0.bias"), "x"),
     "entry 'head.regression_head.module_list.0.bias' is a str"),
])
def test_bad_checkpoint_entries_give_one_line_naming_file_and_field(tmp_path: Path, name: str, change,
                                                                    field: str) -> None:
    path = _tampered(tmp_path, name, change)
    with pytest.raises(ValueError) as info:
        load_detector(path)
    msg = str(info.value)
    assert name in msg and field in msg and "\n" not in msg


def test_non_finite_weights_are_refused_at_load_naming_the_tensor(tmp_path: Path, tv_weights: Path) -> None:
    nan = _tampered(tmp_path, "nan.pt", lambda c: c["model"]["head.regression_head.module_list.2.weight"].view(-1)
                    .__setitem__(3, float("nan")))
    with pytest.raises(ValueError, match=r"nan\.pt': tensor head\.regression_head\.module_list\.2\.weight holds 1 "
                                         r"non-finite value"):
        load_weights(nan)
    sd = torch.load(tv_weights, weights_only=True)
    sd["backbone.features.0.bias"][0] = float("inf")
    torch.save(sd, tmp_path / "tv_inf.pth")
    with pytest.raises(ValueError, match=r"tensor backbone\.features\.0\.bias holds 1 non-finite"):
        load_detector(tmp_path / "tv_inf.pth")


def test_demo_names_the_bundled_model() -> None:
    from core.resources import DEMO_VIDEO, DEMO_WEIGHTS

    det = load_detector("demo")
    assert det.weights_path == DEMO_WEIGHTS and len(det.class_names) == 9 and DEMO_VIDEO.is_file()
    assert load_weights("demo").path == DEMO_WEIGHTS
    with pytest.raises(FileNotFoundError):  # a Path is always a path, never the name
        load_weights(Path("demo"))
