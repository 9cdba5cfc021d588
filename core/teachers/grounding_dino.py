"""Grounding DINO (Liu et al. 2023) as a teacher: ``grounding-dino[@MODEL]:ONTOLOGY``, from Hugging Face transformers.

    grounding-dino:person;car=car,van,pickup truck
    grounding-dino@IDEA-Research/grounding-dino-base:forklift>0.4=forklift

The prompts go to the model as one caption, ``"p1 . p2 . p3 ."``; the model scores every box against every
token of it. transformers' post-processing turns tokens above a threshold into phrase strings; here each
prompt's token span is known (the caption is tokenized prompt by prompt and checked against the processor's
ids), a box's score for a prompt is its best token in that span, a class scores its best prompt, and
class-agnostic NMS leaves one label per object. Boxes are fractions of the image (cx, cy, w, h), so times the
frame's width and height they are pixels.
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


def build(spec: TeacherSpec, device: str = "cpu") -> "GroundingDINOTeacher":
    """Load Grounding DINO from the local cache or folder (nothing downloads); ValueError naming what is missing."""
    onto = hf.ontology_of(spec)
    folder, _ = hf.local_model(spec)
    transformers = hf.require_transformers("grounding-dino")
    try:
        processor = transformers.AutoProcessor.from_pretrained(str(folder), local_files_only=True)
        model = transformers.AutoModelForZeroShotObjectDetection.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{spec.text!r}: '{folder}' is not a usable Grounding DINO model ({exc})") from None
    teacher = GroundingDINOTeacher(model, processor, onto, hf.fingerprint(spec), hf.model_id(spec), device)
    max_len = int(getattr(model.config, "max_text_len", 256))
    if teacher.caption_length > max_len:
        raise ValueError(f"{spec.text!r}: the ontology's caption is {teacher.caption_length} tokens, more than the "
                         f"model's {max_len}: use fewer or shorter prompts")
    return teacher


def prompt_spans(tokenizer: Any, prompts: Sequence[str]) -> tuple[list[int], list[tuple[int, int]]]:
    """The caption's token ids and each prompt's [start, end) token positions.

    The caption is ``"p1 . p2 . ... ."`` lower-cased (Grounding DINO's convention); BERT's tokenizer splits on
    spaces and punctuation, so its ids are ``[CLS] ids(p1) ids(".") ids(p2) ... [SEP]``, which the caller
    checks against what the processor produced.
    """
    dot = tokenizer.convert_tokens_to_ids(tokenizer.tokenize("."))
    ids = [tokenizer.cls_token_id]
    spans = []
    for p in prompts:
        piece = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(p.lower()))
        spans.append((len(ids), len(ids) + len(piece)))
        ids += list(piece) + list(dot)
    return ids + [tokenizer.sep_token_id], spans


class GroundingDINOTeacher:
    """Grounding DINO with an ontology (see the module docstring); a :class:`core.teachers.protocol.Teacher`."""

    default_threshold = hf.DEFAULT_THRESHOLD["grounding-dino"]

    def __init__(self, model: Any, processor: Any, ontology: Any, fingerprint: dict[str, Any], name: str,
                 device: str = "cpu") -> None:
        from core.detector import resolve_device

        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.processor = processor
        self.ontology = ontology
        self.class_names = ontology.class_names
        self.class_thresholds = ontology.thresholds
        self.description = f"Grounding DINO {name.rsplit('/', 1)[-1]} ({len(self.class_names)} classes)"
        self.caption = " . ".join(p.lower() for p in ontology.prompts) + " ."
        self._ids, spans = prompt_spans(processor.tokenizer, ontology.prompts)
        self.caption_length = len(self._ids)
        self._span_index = [torch.arange(a, b) for a, b in spans]
        self._fingerprint = fingerprint

    def _prompt_scores(self, token_probs: torch.Tensor) -> torch.Tensor:
        """float [Q, T] token probabilities -> float [Q, P]: each prompt's best token."""
        return torch.stack([token_probs[:, idx.to(token_probs.device)].amax(dim=1) for idx in self._span_index], dim=1)

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Boxes x1, y1, x2, y2 in pixels of each image; labels index :attr:`class_names`."""
        if not images:
            return []
        inputs = self.processor(images=list(images), text=[self.caption] * len(images), return_tensors="pt")
        got = inputs["input_ids"][0].tolist()
        if got != self._ids:
            raise ValueError(f"{self.description}: the tokenizer split the caption {self.caption!r} unlike its "
                             f"prompts one by one ({got} against {self._ids}); the prompt spans would be wrong")
        with torch.inference_mode():
            outputs = self.model(**{k: v.to(self.device) for k, v in inputs.items()})
        probs = torch.sigmoid(outputs.logits.float())  # [B, Q, max_text_len], -inf (0) past the caption
        floor = hf.SCORE_FLOOR["grounding-dino"]
        out = []
        for img, p, pred in zip(images, probs, outputs.pred_boxes):
            h, w = img.shape[:2]
            scores = merge_prompt_scores(self._prompt_scores(p), self.ontology.prompt_class, len(self.class_names))
            boxes = box_convert(pred.float(), "cxcywh", "xyxy") * pred.new_tensor([w, h, w, h]).float()
            boxes = torch.minimum(boxes.clamp(min=0.0), boxes.new_tensor([w, h, w, h]))
            b, s, labels = select_per_image(boxes, scores, floor, self.class_thresholds, hf.PROMPT_NMS_IOU)
            out.append(Detections(b.cpu().numpy().astype(np.float32), s.cpu().numpy().astype(np.float32),
                                  labels.cpu().numpy()))
        return out

    def fingerprint(self) -> dict[str, Any]:
        return dict(self._fingerprint)


__all__ = ["GroundingDINOTeacher", "build", "prompt_spans"]
