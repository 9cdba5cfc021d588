"""Text ontologies for open-vocabulary teachers: the classes of the dataset, each from one or more prompts.

    onto = parse_ontology("forklift>0.3=forklift,fork lift truck;pallet=wooden pallet;person")
    onto.class_names      # ("forklift", "pallet", "person")
    onto.prompts          # ("forklift", "fork lift truck", "wooden pallet", "person")
    onto.prompt_class     # [0, 0, 1, 2]: the class of each prompt
    onto.thresholds       # (0.3, None, None): a class's own score threshold (None: the caller's)

Grammar: classes separated by ``;``; each is ``NAME``, ``NAME=PROMPT,PROMPT,...`` or either with ``>T`` after
the name (``forklift>0.3=...``: that class's detections must score above T, whatever the run's threshold).
A class without ``=`` is prompted by its own name. Several prompts make one class (never one class per
prompt); a box gets the class whose best prompt scores highest, and overlapping boxes of different prompts
are reduced to one by class-agnostic NMS (:func:`merge_prompt_scores`, :func:`select_per_image`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import nms


@dataclass(frozen=True)
class OntologyClass:
    """One class: its name in the dataset, the prompts that find it, its own threshold (None: the run's)."""

    name: str
    prompts: tuple[str, ...]
    threshold: float | None = None


@dataclass(frozen=True)
class Ontology:
    """Parsed ontology (see the module docstring)."""

    classes: tuple[OntologyClass, ...]

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    def prompts(self) -> tuple[str, ...]:
        return tuple(p for c in self.classes for p in c.prompts)

    @property
    def prompt_class(self) -> np.ndarray:
        """int64 [P]: the class index of each of :attr:`prompts`."""
        return np.array([i for i, c in enumerate(self.classes) for _ in c.prompts], np.int64)

    @property
    def thresholds(self) -> tuple[float | None, ...]:
        return tuple(c.threshold for c in self.classes)

    def text(self) -> str:
        """The canonical text (what fingerprints record): ``name>T=p1,p2;...``, prompts as given."""
        parts = []
        for c in self.classes:
            head = c.name + (f">{c.threshold:g}" if c.threshold is not None else "")
            parts.append(head if c.prompts == (c.name,) else f"{head}={','.join(c.prompts)}")
        return ";".join(parts)


def _threshold(text: str, item: str) -> float:
    try:
        t = float(text)
    except ValueError:
        raise ValueError(f"ontology class {item!r}: the threshold after '>' must be a number, got {text!r}") from None
    if not 0.0 <= t < 1.0:
        raise ValueError(f"ontology class {item!r}: the threshold must be in [0, 1), got {t:g}")
    return t


def parse_ontology(text: str) -> Ontology:
    """Parse ``"forklift>0.3=forklift,fork lift truck;pallet=wooden pallet;person"`` (grammar in the module docstring).

    Raises:
        ValueError naming the ontology and what is wrong: nothing given, an empty class or prompt, a class named
        twice, a prompt given to two classes (it would be two labels for one object), a bad threshold.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the ontology is empty: give the classes to find, e.g. "
                         "'forklift=forklift,fork lift truck;pallet=wooden pallet;person'")
    classes: list[OntologyClass] = []
    owner: dict[str, str] = {}
    for item in text.strip().rstrip(";").split(";"):  # a trailing ';' is allowed
        item = item.strip()
        if not item:
            raise ValueError(f"ontology {text!r}: an empty class between two ';'")
        head, sep, body = item.partition("=")
        name, gt, thresh = head.partition(">")
        name = name.strip()
        if not name:
            raise ValueError(f"ontology {text!r}: class {item!r} has no name before '='")
        threshold = _threshold(thresh.strip(), item) if gt else None
        prompts = tuple(p.strip() for p in body.split(",")) if sep else (name,)
        if any(not p for p in prompts):
            raise ValueError(f"ontology class {name!r}: an empty prompt in {body!r} (prompts are separated by ',')")
        if any(c.name == name for c in classes):
            raise ValueError(f"ontology {text!r}: class {name!r} is given twice; give it all its prompts once: "
                             f"{name}=prompt,prompt")
        for p in prompts:
            key = p.lower()
            if key in owner and owner[key] != name:
                raise ValueError(f"ontology {text!r}: prompt {p!r} belongs to both {owner[key]!r} and {name!r}; "
                                 f"one prompt, one class")
            owner[key] = name
        classes.append(OntologyClass(name, tuple(dict.fromkeys(prompts)), threshold))
    if not classes:
        raise ValueError(f"ontology {text!r} names no class")
    return Ontology(tuple(classes))


def merge_prompt_scores(prompt_scores: torch.Tensor, prompt_class: np.ndarray, n_classes: int) -> torch.Tensor:
    """Per-class scores from per-prompt scores: a class scores its best prompt.

    Args:
        prompt_scores: float [Q, P] (Q boxes, P prompts), probabilities.
        prompt_class: int64 [P], the class of each prompt.
    Returns:
        float [Q, C]: ``max`` over the prompts of each class.
    """
    out = prompt_scores.new_zeros((prompt_scores.shape[0], n_classes))
    index = torch.as_tensor(prompt_class, device=prompt_scores.device).expand_as(prompt_scores)
    return out.scatter_reduce(1, index, prompt_scores, reduce="amax", include_self=True)


def select_per_image(boxes: torch.Tensor, class_scores: torch.Tensor, floor: float,
                     thresholds: tuple[float | None, ...], nms_iou: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One label per box, the class's threshold, then class-agnostic NMS.

    Args:
        boxes: float [Q, 4] x1, y1, x2, y2 in pixels.
        class_scores: float [Q, C] (from :func:`merge_prompt_scores`).
        floor: boxes scoring at or below this are dropped (classes without their own threshold).
        thresholds: per class, its own threshold or None.
        nms_iou: boxes overlapping a better one by more than this IoU are dropped, whatever their class.
    Returns:
        (boxes [K, 4], scores [K], labels [K] int64), by descending score.
    """
    scores, labels = class_scores.max(dim=1)
    limits = torch.tensor([floor if t is None else t for t in thresholds], dtype=scores.dtype, device=scores.device)
    keep = scores > limits[labels]
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    kept = nms(boxes.float(), scores.float(), nms_iou)  # sorted by descending score
    return boxes[kept], scores[kept], labels[kept].to(torch.int64)


__all__ = ["Ontology", "OntologyClass", "parse_ontology", "merge_prompt_scores", "select_per_image"]
