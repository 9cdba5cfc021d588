"""Teacher strings: ``PREFIX[@MODEL]:ARGUMENT``, the kinds their prefixes name, and how a string splits.

    spec = parse_teacher_spec("owlv2@google/owlv2-base-patch16-ensemble:forklift;pallet")
    spec.kind, spec.model, spec.argument      # "owlv2", "google/owlv2-base-patch16-ensemble", "forklift;pallet"

A string with none of the prefixes of :data:`KINDS` is a file (this project's checkpoints and exported
networks, read by core.resolve as before), and so are ``torchvision:ssd300_vgg16`` and
``torchvision:ssdlite320_mobilenet_v3_large`` (:data:`SSD_ZOO_NAMES`), which this project imports exactly and
runs on all its runtimes. Installed packages add plug-ins under the entry-point group ``ssd_desktop.teachers``,
named ``py:NAME``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TeacherKind:
    """One kind of teacher: its prefix, whether loading it runs code from outside this project, and help text."""

    name: str
    prefix: str
    runs_code: bool
    summary: str
    example: str


KINDS: dict[str, TeacherKind] = {k.name: k for k in (
    TeacherKind("torchvision", "torchvision", False, "torchvision's COCO detectors (weights through torchvision's "
                "cache, hash-checked)", "torchvision:fasterrcnn_resnet50_fpn_v2"),
    TeacherKind("owlv2", "owlv2", False, "OWLv2, open vocabulary from a text ontology (Hugging Face transformers)",
                "owlv2:forklift=forklift,fork lift truck;pallet=wooden pallet;person"),
    TeacherKind("grounding-dino", "grounding-dino", False, "Grounding DINO, open vocabulary from a text ontology "
                "(Hugging Face transformers)", "grounding-dino:person;car=car,van"),
    TeacherKind("plugin", "py", True, "a Python plug-in: FACTORY() returns an object with class_names and "
                "detect(images); runs its code, so only with --trust-code", "py:my_teacher.py:build"),
)}
#: The model strings that look like zoo names but are SSDs this project imports exactly (files, all runtimes).
SSD_ZOO_NAMES = ("ssd300_vgg16", "ssdlite320_mobilenet_v3_large")


@dataclass(frozen=True)
class TeacherSpec:
    """A teacher string, split.

    Attributes:
        text: as given.
        kind: a key of :data:`KINDS`.
        model: what ``@`` names (a Hugging Face model id or folder), or None.
        argument: what follows the first ``:`` (a zoo name, an ontology, a plug-in target).
    """

    text: str
    kind: str
    model: str | None
    argument: str

    @property
    def runs_code(self) -> bool:
        return KINDS[self.kind].runs_code


def parse_teacher_spec(text: Any) -> TeacherSpec | None:
    """The :class:`TeacherSpec` of a teacher string, or None when ``text`` names a file (see the module docstring).

    Raises:
        ValueError: a known prefix with nothing after it (names the kind and an example).
    """
    if not isinstance(text, str):
        return None
    head, sep, argument = text.partition(":")
    prefix, _, model = head.partition("@")
    kind = next((k for k in KINDS.values() if sep and k.prefix == prefix.strip().lower()), None)
    if kind is None:
        return None
    if kind.name == "torchvision" and argument.partition("@")[0].partition(":")[0].strip() in SSD_ZOO_NAMES:
        return None
    if kind.name == "torchvision" and (argument.strip().endswith("_coco") or text in _file_names()):
        return None  # torchvision:ssd300_vgg16_coco and the like: this project's own names of files
    if not argument.strip():
        raise ValueError(f"{text!r}: nothing after '{kind.prefix}:'; e.g. {kind.example}")
    return TeacherSpec(text=text, kind=kind.name, model=model.strip() or None, argument=argument.strip())



def _file_names() -> Any:
    """The ``torchvision:...`` names of files (core.weights.download.TORCHVISION_FILES, read when asked)."""
    from core.weights.download import TORCHVISION_FILES

    return TORCHVISION_FILES


def teacher_string(kind: str, argument: str, model: str | None = None) -> str:
    """The string of a teacher (the inverse of :func:`parse_teacher_spec`): ``teacher_string("owlv2", "car;person",
    "my/model")`` is ``"owlv2@my/model:car;person"``; a plug-in's argument is ``FILE.py:FACTORY``."""
    prefix = KINDS[kind].prefix
    return f"{prefix}{'@' + model.strip() if model and model.strip() else ''}:{argument.strip()}"


__all__ = ["KINDS", "SSD_ZOO_NAMES", "TeacherKind", "TeacherSpec", "parse_teacher_spec", "teacher_string"]
