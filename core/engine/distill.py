"""Knowledge distillation: a teacher detector's soft class scores on the matched priors as an extra loss term
(``ssd train --distill W --distill-weight A --distill-temperature T``).

For every default box (prior) that the matcher assigned to an object of the batch (the positives of the
MultiBox loss), the student's class distribution is pulled towards the teacher's, both softened by the
temperature T (Hinton et al., 2015)::

    L = MultiBox(student) + A * T^2 * mean over matched priors of KL(softmax(z_teacher / T) || softmax(z_student / T))

* **A** (``distill_weight``, default 1.0) weighs the term against the MultiBox loss, whose confidence
  part is a cross-entropy summed over the positives and the mined negatives and divided by the
  positives: at 1 the term weighs about as much as that cross-entropy on the positives alone.
* **T** (``distill_temperature``, default 2.0) > 1 flattens both distributions so that the teacher's
  second and third choices (a hexagon that is almost a circle) carry information; the T^2 factor keeps
  the term's gradient on the same scale whatever T is. T = 1 compares the plain softmax scores.

The term is exactly 0 when student and teacher give the same logits (e.g. the same weights) and
positive otherwise. The teacher runs on the very batch the student sees (same augmentation, same
network input), in eval mode without gradients; it must therefore take the same input size and
normalisation and have the same default boxes, one prior for one prior. Its classes are matched to
the student's by name (the student's must all be there; the teacher's other classes are left out and
its distribution renormalised over the student's classes).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def distillation_term(student_logits: Tensor, teacher_logits: Tensor, positive: Tensor, temperature: float) -> Tensor:
    """``T^2 * mean over positives of KL(softmax(teacher / T) || softmax(student / T))``.

    Args:
        student_logits, teacher_logits: [B, P, C] class logits of the same priors and classes.
        positive: bool [B, P], the priors matched to an object.
        temperature: T > 0.

    Returns:
        A scalar tensor (0 when there is no positive prior), differentiable in ``student_logits``.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} differ in shape")
    if not bool(positive.any()):
        return student_logits.sum() * 0.0
    log_s = F.log_softmax(student_logits[positive].float() / temperature, dim=-1)
    log_t = F.log_softmax(teacher_logits[positive].float() / temperature, dim=-1)
    kl = F.kl_div(log_s, log_t, reduction="none", log_target=True).sum(dim=-1)
    return kl.mean() * temperature ** 2


def check_teacher_fits(teacher: Any, weights: str | Path, student_config: Any, student_classes: Sequence[str] | None,
                       student_priors: Tensor) -> None:
    """Refuse a teacher whose logits cannot be compared with the student's, one prior for one prior.

    Args:
        teacher: the loaded teacher (a :class:`core.detector.Detector`, an exported network's included).
        weights: its file (named in the messages).
        student_config: the student's :class:`core.config.SSDConfig`.
        student_classes: the student's class names (entry 0 the background); None skips the class check
            (before the dataset, whose classes are the student's, exists).
        student_priors: [P, 4] the student's default boxes (cx, cy, w, h normalised).

    Raises:
        ValueError: naming the file, when the input size, normalisation, default boxes or classes do not fit.
    """
    if getattr(teacher, "config", None) is None or not hasattr(teacher, "priors"):
        raise ValueError(f"{weights}: distillation learns an SSD teacher's scores on each default box; this "
                         f"{getattr(teacher, 'weights_format', 'kind of')} teacher can label the data but not be "
                         f"distilled from")
    t, s = teacher.config.model, student_config.model

    def norm(m: Any) -> tuple:
        return m.image_size, tuple(m.image_mean), tuple(getattr(m, "image_std", ()) or ())

    if norm(t) != norm(s):
        raise ValueError(f"{weights}: the teacher takes {t.image_size} px images normalised by {norm(t)[1:]}, "
                         f"the student {s.image_size} px by {norm(s)[1:]}; distillation needs the same input")
    priors = teacher.priors
    same = "use the same architecture and default-box set (--model, --priors)"
    if priors.shape != student_priors.shape:
        raise ValueError(f"{weights}: the teacher has {priors.shape[0]} default boxes, the student "
                         f"{student_priors.shape[0]} (distillation compares them one by one): {same}")
    differ = (priors - student_priors.to(priors)).abs().amax(dim=1) > 1e-6
    if differ.any():
        k = int(differ.nonzero()[0, 0])
        box = lambda b: "(" + ", ".join(f"{float(v):.3f}" for v in b) + ")"  # noqa: E731
        raise ValueError(f"{weights}: the teacher's default boxes are laid out differently from the student's "
                         f"(both have {priors.shape[0]}, but {int(differ.sum())} differ; box {k}, as (cx, cy, w, "
                         f"h) of the image, is {box(priors[k])} for the teacher and {box(student_priors[k])} for "
                         f"the student: another default-box set?): {same}")
    missing = [n for n in (student_classes or ())[1:] if n not in teacher.class_names[1:]]
    if missing:
        raise ValueError(f"{weights}: the teacher has no class {', '.join(repr(n) for n in missing)} "
                         f"(its classes: {', '.join(teacher.class_names[1:])})")


def load_teacher(weights: str | Path, device: torch.device | str, trust_code: bool = False) -> Any:
    """The distillation teacher: a checkpoint on ``device``, or an exported network (ONNX, OpenVINO IR,
    TorchScript with the opt-in), which runs on the CPU; either gives the raw class logits of a batch."""
    from core.model_spec import kind_of_path
    from core.resolve import load_detector

    exported = kind_of_path(weights) != "checkpoint"  # exported networks run on the CPU, whatever the student's device
    return load_detector(str(weights), device="cpu" if exported else str(device), trust_code=trust_code)


class Distiller:
    """The teacher and its class mapping; ``distiller(images, student_logits, target_labels)`` is A times the term.

    The teacher may be a checkpoint (its network runs on ``device``, beside the student) or a network
    ``ssd export`` wrote (ONNX or OpenVINO IR on OpenVINO, TorchScript with ``trust_code``): it runs on the
    CPU and its logits are moved to ``device``.

    Args:
        weights: the teacher detector (any file :func:`core.resolve.load_detector` reads).
        student_config: the student's :class:`core.config.SSDConfig`.
        student_classes: the student's class names (entry 0 the background).
        student_priors: [P, 4] the student's default boxes (cx, cy, w, h normalised).
        device: where both run.
        weight, temperature: A and T (see the module docstring).

    Raises:
        ValueError: naming the file, when the teacher's input, normalisation, default boxes or classes do
            not fit the student (:func:`check_teacher_fits`).
    """

    def __init__(self, weights: str | Path, student_config: Any, student_classes: Sequence[str], student_priors: Tensor,
                 device: torch.device, weight: float = 1.0, temperature: float = 2.0, trust_code: bool = False) -> None:
        if temperature <= 0:
            raise ValueError(f"distillation temperature must be > 0, got {temperature}")
        self.weight, self.temperature = float(weight), float(temperature)
        self.teacher = load_teacher(weights, device, trust_code)
        check_teacher_fits(self.teacher, weights, student_config, student_classes, student_priors)
        # A checkpoint's network runs here as a module (no preprocessing: the batch is already the network input).
        exported = getattr(self.teacher, "network", None) is not None  # core.runtime.network.NetworkDetector
        self.model = None if exported else self.teacher.model.to(device).eval()
        teacher_index = {n: i for i, n in enumerate(self.teacher.class_names) if i > 0}
        self.index = torch.tensor([0] + [teacher_index[n] for n in student_classes[1:]], device=device)

    @torch.no_grad()
    def teacher_logits(self, images: Tensor) -> Tensor:
        """[B, P, C_student]: the teacher's class logits on the network input ``images`` [B, 3, S, S]."""
        if self.model is not None:
            logits, _ = self.model(images)
        else:  # an exported network: CPU float32 in, its logits back on the batch's device
            logits, _ = self.teacher.forward(images.detach().to("cpu", torch.float32))
            logits = logits.to(images.device)
        return logits.index_select(-1, self.index).float()

    def __call__(self, images: Tensor, student_logits: Tensor, target_labels: Tensor) -> Tensor:
        """``A * distillation_term`` on the priors with ``target_labels > 0`` (int64 [B, P])."""
        term = distillation_term(student_logits, self.teacher_logits(images), target_labels > 0, self.temperature)
        return term * self.weight


def check_distillation(cfg: Any) -> None:
    """Before any work (a labelling stage, reading the data): the teacher of a :class:`TrainConfig`'s
    ``distill_teacher`` loads and takes the input and default boxes of the student ``cfg`` describes.
    Its classes are checked when the dataset, which gives the student's, is read (:class:`Distiller`).

    Raises:
        ValueError, FileNotFoundError: naming the file and what does not fit (nothing done yet).
    """
    if not cfg.distill_teacher:
        return
    from core.config import preset
    from core.ssd.priors import prior_boxes

    teacher = load_teacher(cfg.distill_teacher, "cpu", getattr(cfg, "trust_code", False))
    student = preset(cfg.arch, num_classes=2, priors=cfg.priors, width=cfg.width)
    check_teacher_fits(teacher, cfg.distill_teacher, student, None,
                       prior_boxes(student.model.priors, student.model.image_size))


def build_distiller(cfg: Any, student_config: Any, student_classes: Sequence[str], student_priors: Tensor,
                    device: torch.device) -> Distiller | None:
    """The :class:`Distiller` a :class:`core.engine.config.TrainConfig` asks for (``distill_teacher``,
    ``distill_weight``, ``distill_temperature``), or None without a teacher."""
    if not cfg.distill_teacher:
        return None
    return Distiller(cfg.distill_teacher, student_config, student_classes, student_priors, device,
                     cfg.distill_weight, cfg.distill_temperature, getattr(cfg, "trust_code", False))


__all__ = ["Distiller", "distillation_term", "build_distiller", "check_distillation", "check_teacher_fits",
           "load_teacher"]
