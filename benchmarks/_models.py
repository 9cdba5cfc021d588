"""The reference model of every benchmark: torchvision's ``ssd300_vgg16`` with seeded random
weights (nothing is downloaded), and this project's Detector loaded from the same state dict."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
import torchvision

from core.data.synthetic import render_scene
from core.detector import Detector
from core.resolve import load_detector


def torchvision_ssd300(seed: int = 1234) -> torchvision.models.detection.SSD:
    """torchvision's SSD300-VGG16 (91 classes), random weights from ``seed``, eval mode."""
    torch.manual_seed(seed)
    return torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None).eval()


def same_weights_detector(tv_model: torch.nn.Module, **detector_kwargs: object) -> Detector:
    """This project's Detector with ``tv_model``'s weights, loaded through the torchvision importer."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ssd300_vgg16_random.pth"
        torch.save(tv_model.state_dict(), path)
        return load_detector(path, **detector_kwargs)  # type: ignore[arg-type]


def scene_image(width: int = 640, height: int = 480, index: int = 0) -> np.ndarray:
    """A synthetic scene (uint8 [H, W, 3] RGB): smooth background and shapes, like a photo's statistics."""
    return render_scene(seed=11, index=index, size=(width, height))[0]


def tv_input(image: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> float [3, H, W] in [0, 1], what torchvision's detection models take."""
    return torch.from_numpy(image).permute(2, 0, 1).float() / 255.0


def same_detections(ours: list, ref: list[dict[str, torch.Tensor]], box_atol: float = 1e-3,
                    score_atol: float = 1e-6) -> tuple[bool, str]:
    """Compare Detections with torchvision's output dicts: same count and labels, boxes/scores close.

    Returns:
        (equal, one-line summary with the largest differences).
    """
    worst_box, worst_score = 0.0, 0.0
    for d, r in zip(ours, ref):
        if len(d) != len(r["scores"]) or not np.array_equal(d.labels, r["labels"].numpy()):
            return False, f"different detections ({len(d)} vs {len(r['scores'])} or labels differ)"
        if len(d):
            worst_box = max(worst_box, float(np.abs(d.boxes - r["boxes"].numpy()).max()))
            worst_score = max(worst_score, float(np.abs(d.scores - r["scores"].numpy()).max()))
    ok = worst_box <= box_atol and worst_score <= score_atol
    n = sum(len(d) for d in ours)
    return ok, f"{n} detections, same labels, max |box diff| {worst_box:.1e} px, max |score diff| {worst_score:.1e}"


def torchvision_ssdlite(seed: int = 1234, images: list[np.ndarray] | None = None
                        ) -> torchvision.models.detection.SSD:
    """torchvision's ``ssdlite320_mobilenet_v3_large`` (91 classes) with random weights from ``seed``, eval mode.

    With its N(0, 0.03) initialisation and fresh BatchNorm statistics the activations vanish layer after
    layer and every score is ~1/91: ties everywhere. So the BatchNorm statistics are measured on
    ``images`` (uint8 [H, W, 3]; default: four synthetic scenes), after which each layer passes
    unit-variance activations on for images like those, and the classifiers' last convolutions are
    scaled by 3, which spreads the scores as a trained model's are spread.
    """
    torch.manual_seed(seed)
    model = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # a plain average over the calibration batch
    model.train()
    with torch.no_grad():
        images = images if images is not None else [scene_image(320, 320, i) for i in range(4)]
        x, _ = model.transform([tv_input(im) for im in images])
        model.head(list(model.backbone(x.tensors).values()))
        for bn in norms:
            bn.momentum = 0.03
        for block in model.head.classification_head.module_list:
            block[1].weight.mul_(3.0)
    return model.eval()
