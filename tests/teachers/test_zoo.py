"""torchvision's detectors as teachers: built by torchvision, weights from a file or torchvision's cache (hash-checked,
offline a message naming the file, its size and the folder), labels mapped to the detector API."""
from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from core.resolve import load_detector, model_identity, runtime_for
from core.runtime import runtime_label

NAME = "fasterrcnn_mobilenet_v3_large_320_fpn"


def _image(seed: int, h: int = 120, w: int = 160) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_a_zoo_teacher_gives_torchvisions_own_detections(frcnn_mobile: Path) -> None:
    from torchvision.models import get_model

    det = load_detector(f"torchvision:{NAME}@{frcnn_mobile}")
    assert det.class_names[:3] == ("__background__", "person", "bicycle") and len(det.class_names) == 91
    assert det.weights_format == "torchvision" and not det.supports_nms
    assert runtime_label(det) == f"torchvision {NAME} (PyTorch, cpu)"
    ref = get_model(NAME, weights=None, weights_backbone=None, num_classes=91).eval()
    ref.load_state_dict(torch.load(frcnn_mobile, weights_only=True))
    ref.roi_heads.score_thresh = 0.01  # the teacher's floor (torchvision's default is 0.05)
    images = [_image(1), _image(2, 90, 130)]
    with torch.inference_mode():
        expected = ref([torch.from_numpy(im).permute(2, 0, 1).float() / 255 for im in images])
    got = det.detect(images, score_thresh=0.2)
    for e, g in zip(expected, got):
        keep = e["scores"] > 0.2
        assert len(g) == int(keep.sum()) > 0, "spread logits give some boxes above 0.2"
        assert np.allclose(g.boxes, e["boxes"][keep].numpy(), atol=1e-4)
        assert np.allclose(g.scores, e["scores"][keep].numpy(), atol=1e-6)
        assert g.labels.tolist() == e["labels"][keep].tolist()  # COCO category ids: our labels, background at 0
    assert len(set(got[0].scores.tolist())) == len(got[0]), "distinct scores"
    # at threshold 0 every box over the teacher's floor 0.01 comes back, torchvision's own 0.05 would drop many
    for e, g in zip(expected, det.detect(images, score_thresh=0.0)):
        assert len(g) == len(e["scores"]) and np.allclose(g.scores, e["scores"].numpy(), atol=1e-6)
        assert (g.scores > 0.01).all() and (g.scores < 0.05).sum() >= 10
    assert det.score_thresh == 0.5  # a closed-set teacher's default threshold (the README's --score-thresh 0.5)
    # the fingerprint (the resume identity) is the same whether the model is loaded or not
    assert model_identity(f"torchvision:{NAME}@{frcnn_mobile}") == {"teacher": det.fingerprint()}
    assert det.fingerprint()["weights_sha256"] and det.fingerprint()["model"] == NAME


def test_the_input_size_option_and_the_runtime_choice(frcnn_mobile: Path) -> None:
    det = load_detector(f"torchvision:{NAME}@{frcnn_mobile}:160", runtime="openvino")
    assert det.teacher.model.transform.min_size == (160,)
    assert det.teacher.model.transform.max_size == round(640 * 160 / 320)
    assert "teachers run on PyTorch" in det.runtime_info["notes"][0]
    assert runtime_for(f"torchvision:{NAME}", "cpu", "openvino", "int8") == ("cpu", "torch", "fp32")
    with pytest.raises(ValueError, match="teachers run in fp32 here"):
        load_detector(f"torchvision:{NAME}@{frcnn_mobile}", precision="bf16")
    with pytest.raises(ValueError, match="applies to SSD models"):
        det.detect([_image(0)], nms="soft-linear")
    with pytest.raises(ValueError, match="applies to SSD models only"):
        det.set_postprocess(nms="soft-gaussian")


def test_unknown_names_and_wrong_files_are_named(frcnn_mobile: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="torchvision has no detection model 'fasterrcnn_resnet51'; its detectors: "
                                         "fasterrcnn_mobilenet_v3_large_320_fpn"):
        load_detector("torchvision:fasterrcnn_resnet51")
    with pytest.raises(ValueError, match="weights file '.*missing.pth' not found"):
        load_detector(f"torchvision:{NAME}@{tmp_path}/missing.pth")
    with pytest.raises(ValueError, match="does not hold retinanet_resnet50_fpn_v2 weights for 91 classes"):
        load_detector(f"torchvision:retinanet_resnet50_fpn_v2@{frcnn_mobile}")
    with pytest.raises(ValueError, match="input size after ':' must be 32..4096"):
        load_detector(f"torchvision:{NAME}:8")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_the_message_names_the_file_its_size_and_the_folder(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("SSD_WEIGHTS_MIRROR", f"http://127.0.0.1:{_closed_port()}/")  # nothing listens: offline
    dest = tmp_path / "torch" / "hub" / "checkpoints" / "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth"
    with pytest.raises(ValueError, match=f"fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth \\(167 MB\\) elsewhere and "
                                         f"put the file at '{dest}'"):
        load_detector("torchvision:fasterrcnn_resnet50_fpn_v2")
    assert not dest.parent.exists() or not any(dest.parent.iterdir()), "no partial file is left"
    # the identity needs no download: torchvision's hash-named file
    assert model_identity("torchvision:fasterrcnn_resnet50_fpn_v2")["teacher"]["weights_file"] == dest.name


def test_torchvisions_real_weights() -> None:
    """With torchvision's COCO weights in its cache, a zoo teacher finds the people of a real photograph."""
    from torchvision.models import get_model_weights

    from core.weights.download import torchvision_cache_path

    name = "fasterrcnn_mobilenet_v3_large_320_fpn"
    file = torchvision_cache_path(Path(get_model_weights(name).DEFAULT.url).name)
    if not file.is_file():
        pytest.skip(f"torchvision's {name} weights are not in {file.parent}; run `ssd detect IMAGE --weights "
                    f"torchvision:{name} --out x.json` online once (it downloads them), then rerun this test")
    det = load_detector(f"torchvision:{name}")
    [d] = det.detect([np.full((320, 320, 3), 128, np.uint8)], score_thresh=0.5)
    assert len(d) == 0, "a flat grey frame holds nothing"
