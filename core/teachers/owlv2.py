"""OWLv2 (Minderer et al. 2023) as a teacher: ``owlv2[@MODEL]:ONTOLOGY``, from Hugging Face transformers.

    owlv2:forklift=forklift,fork lift truck;pallet=wooden pallet;person
    owlv2@google/owlv2-large-patch14-ensemble:person>0.3;car

Every prompt of the ontology is a text query; a box's score for a class is the best sigmoid score of that
class's prompts (:func:`core.teachers.ontology.merge_prompt_scores`), the box takes its best class, and
class-agnostic NMS leaves one label per object. OWLv2's processor pads each image to a square at its bottom
and right before resizing, so its boxes are fractions of that square: times ``max(width, height)`` they are
pixels of the frame (transformers' ``_scale_boxes`` does the same), then clipped to the frame.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torchvision.ops import box_convert

from core.teachers import hf
from core.teachers.ontology import merge_prompt_scores, select_per_image
from core.teachers.spec import TeacherSpec
from core.types import Detections


def build(spec: TeacherSpec, device: str = "cpu") -> "OWLv2Teacher":
    """Load OWLv2 from the local cache or folder (nothing downloads); ValueError naming what is missing."""
    onto = hf.ontology_of(spec)
    folder, _ = hf.local_model(spec)
    transformers = hf.require_transformers("owlv2")
    try:
        processor = transformers.Owlv2Processor.from_pretrained(str(folder), local_files_only=True)
        model = transformers.Owlv2ForObjectDetection.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{spec.text!r}: '{folder}' is not a usable OWLv2 model ({exc})") from None
    return OWLv2Teacher(model, processor, onto, hf.fingerprint(spec), hf.model_id(spec), device)


def frame_boxes(pred_boxes: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """OWLv2 boxes (cx, cy, w, h as fractions of the padded square) -> x1, y1, x2, y2 in frame pixels, clipped.

    Args:
        pred_boxes: float [Q, 4]. width, height: the frame's size.
    Returns:
        float [Q, 4].
    """
    side = float(max(width, height))
    boxes = box_convert(pred_boxes.float(), "cxcywh", "xyxy") * side
    limits = boxes.new_tensor([width, height, width, height])
    return torch.minimum(boxes.clamp(min=0.0), limits)


class OWLv2Teacher:
    """OWLv2 with an ontology (see the module docstring); a :class:`core.teachers.protocol.Teacher`."""

    default_threshold = hf.DEFAULT_THRESHOLD["owlv2"]

    def __init__(self, model: Any, processor: Any, ontology: Any, fingerprint: dict[str, Any], name: str,
                 device: str = "cpu") -> None:
        from core.detector import resolve_device

        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.processor = processor
        self.ontology = ontology
        self.class_names = ontology.class_names
        self.class_thresholds = ontology.thresholds
        self.description = f"OWLv2 {name.rsplit('/', 1)[-1]} ({len(self.class_names)} classes)"
        self._prompt_class = ontology.prompt_class
        self._fingerprint = fingerprint

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Boxes x1, y1, x2, y2 in pixels of each image; labels index :attr:`class_names`."""
        if not images:
            return []
        prompts = list(self.ontology.prompts)
        inputs = self.processor(text=[prompts] * len(images), images=list(images), return_tensors="pt")
        with torch.inference_mode():
            outputs = self.model(**{k: v.to(self.device) for k, v in inputs.items()})
        probs = torch.sigmoid(outputs.logits.float())  # [B, Q, P]
        floor = hf.SCORE_FLOOR["owlv2"]
        out = []
        for img, p, pred in zip(images, probs, outputs.pred_boxes):
            h, w = img.shape[:2]
            scores = merge_prompt_scores(p[:, :len(prompts)], self._prompt_class, len(self.class_names))
            boxes, s, labels = select_per_image(frame_boxes(pred, w, h), scores, floor, self.class_thresholds,
                                                hf.PROMPT_NMS_IOU)
            out.append(Detections(boxes.cpu().numpy().astype(np.float32), s.cpu().numpy().astype(np.float32),
                                  labels.cpu().numpy()))
        return out

    def fingerprint(self) -> dict[str, Any]:
        return dict(self._fingerprint)


__all__ = ["OWLv2Teacher", "build", "frame_boxes"]
