"""Teacher kinds, registered by name, and the one function that builds a teacher from its string.

    spec = parse_teacher_spec("owlv2@google/owlv2-base-patch16-ensemble:forklift;pallet")
    spec.kind, spec.model, spec.argument      # "owlv2", "google/owlv2-base-patch16-ensemble", "forklift;pallet"
    teacher = build_teacher(spec, device="cpu")                     # a core.teachers.protocol.Teacher
    teacher_fingerprint(spec)                                        # the same dict as teacher.fingerprint(),
                                                                     # computed without loading the model

A teacher string is ``PREFIX[@MODEL]:ARGUMENT``; :data:`KINDS` lists the prefixes. A string with none of
them is a file (this project's checkpoints and exported networks, read by core.resolve as before), and so are
``torchvision:ssd300_vgg16`` and ``torchvision:ssdlite320_mobilenet_v3_large``, which this project imports
exactly and runs on all its runtimes. Installed packages add plug-ins under the entry-point group
:data:`core.teachers.plugin.ENTRY_POINT_GROUP`, named ``py:NAME``.
"""
from __future__ import annotations

from typing import Any

from core.teachers.protocol import Teacher
from core.teachers.spec import KINDS, SSD_ZOO_NAMES, TeacherKind, TeacherSpec, parse_teacher_spec  # noqa: F401
from core.teachers.tiling import Tiling


def build_teacher(spec: TeacherSpec | str, device: str = "cpu", tiling: Tiling | None = None,
                  on_progress: Any = None, should_stop: Any = None) -> Teacher:
    """Load the teacher ``spec`` names (on ``device``), tiled when ``tiling`` is given.

    The caller checks the opt-in for kinds that run code (core.model_spec.check_trusted) before this.

    Raises:
        ValueError naming the string and what is wrong (an unknown zoo name, a malformed ontology, weights not
        on this machine with the command or folder that puts them there, the extra not installed, ...).
    """
    if isinstance(spec, str):
        parsed = parse_teacher_spec(spec)
        if parsed is None:
            raise ValueError(f"{spec!r} is not a teacher string; kinds: {', '.join(k.example for k in KINDS.values())}")
        spec = parsed
    teacher: Teacher
    if spec.kind == "torchvision":
        from core.teachers import zoo

        teacher = zoo.build(spec, device, on_progress=on_progress, should_stop=should_stop)
    elif spec.kind == "owlv2":
        from core.teachers import owlv2

        teacher = owlv2.build(spec, device)
    elif spec.kind == "grounding-dino":
        from core.teachers import grounding_dino

        teacher = grounding_dino.build(spec, device)
    else:
        from core.teachers import plugin

        teacher = plugin.build(spec)
    if tiling is not None:
        from core.teachers.tiling import TiledTeacher

        teacher = TiledTeacher(teacher, tiling)
    return teacher


def teacher_fingerprint(spec: TeacherSpec, tiling: Tiling | None = None) -> dict[str, Any]:
    """What ``build_teacher(spec, tiling=tiling).fingerprint()`` returns, without loading the model (files are
    hashed, the Hugging Face revision is read from the cache). Raises as :func:`build_teacher` does when the
    weights are not on this machine or the string is malformed."""
    if spec.kind == "torchvision":
        from core.teachers import zoo

        out = zoo.fingerprint(spec)
    elif spec.kind in ("owlv2", "grounding-dino"):
        from core.teachers import hf

        out = hf.fingerprint(spec)
    else:
        from core.teachers import plugin

        out = plugin.fingerprint(spec)
    return out if tiling is None else {**out, **tiling.fingerprint()}


__all__ = ["KINDS", "SSD_ZOO_NAMES", "TeacherKind", "TeacherSpec", "build_teacher", "parse_teacher_spec",
           "teacher_fingerprint"]
