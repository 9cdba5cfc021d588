"""What a model string names: the one answer to "what is this?" for every place that takes a model.

    spec = parse_model_spec("runs/clip/best.pt")      # ModelSpec(kind="checkpoint", path=...)
    spec = parse_model_spec("net.torchscript")        # kind "torchscript": code, loaded only with trust_code
    spec.runs_code                                    # True for TorchScript archives and Python plug-ins

Kinds, and whether opening one can run code:

- ``checkpoint``: a weights file (this project's checkpoints, torchvision / ssd.pytorch / qfgaohao state
  dicts), read with ``torch.load(weights_only=True)``: data only. ``demo`` (the bundled model) and
  ``torchvision:ssd300_vgg16_coco`` / ``torchvision:ssdlite320_mobilenet_v3_large_coco`` (torchvision's
  COCO files, fetched into its cache) are checkpoints too.
- ``onnx`` (``.onnx``) and ``openvino`` (IR, ``.xml`` + ``.bin``; a ``.bin`` without its ``.xml`` is a
  checkpoint): exported networks, read as data.
- ``torchscript`` (``.torchscript``): an exported TorchScript archive. Loading one runs the TorchScript
  code inside it (a ``__setstate__`` can read and write files), so it is opened only with an explicit
  opt-in (``trust_code``, ``--trust-code``, a confirmation in the app), and only from that suffix: a
  TorchScript archive named ``.pt``, ``.pth`` or anything else is refused, whatever the opt-in.
- Teachers named by a prefix (:mod:`core.teachers.registry`): ``torchvision:NAME`` (torchvision's COCO
  detectors; weights read weights-only), ``owlv2:ONTOLOGY`` and ``grounding-dino:ONTOLOGY`` (Hugging Face
  models, safetensors, never remote code): data. ``py:FILE.py:FACTORY``, ``py:package.module:FACTORY`` and
  ``py:NAME`` (an installed entry point) are Python plug-ins: **code**, only with the opt-in.

The kind comes from the name (a suffix or a prefix), never from what the file contains; the content
is only looked at (as a zip listing, without loading anything) to explain a refusal.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.teachers.spec import TeacherSpec, parse_teacher_spec
from core.weights.files import TORCHSCRIPT_SUFFIX, TRUST_HINT, looks_like_torchscript  # noqa: F401 - the API

ONNX_SUFFIXES = (".onnx",)
IR_SUFFIXES = (".xml", ".bin")
#: The kinds whose files are data only, and those that run code when opened.
DATA_KINDS = ("checkpoint", "onnx", "openvino", "torchvision", "owlv2", "grounding-dino")
CODE_KINDS = ("torchscript", "plugin")
#: The kinds built by core.teachers (a prefix names them, not a file).
TEACHER_KINDS = ("torchvision", "owlv2", "grounding-dino", "plugin")


class UntrustedCodeError(ValueError):
    """A model that runs code when opened was asked for without the opt-in (or under a name that hides it)."""


@dataclass(frozen=True)
class ModelSpec:
    """A model string, understood.

    Attributes:
        text: the string as given.
        kind: one of :data:`DATA_KINDS` or :data:`CODE_KINDS`.
        path: the file (None for a teacher kind: its loader finds its files).
        teacher: the split teacher string for :data:`TEACHER_KINDS`, else None.
    """

    text: str
    kind: str
    path: Path | None
    teacher: TeacherSpec | None = None

    @property
    def runs_code(self) -> bool:
        """True when opening this model runs code from its file (see the module docstring)."""
        return self.kind in CODE_KINDS

    @property
    def exported(self) -> bool:
        """True for a network written by ``ssd export`` (ONNX, OpenVINO IR, TorchScript)."""
        return self.kind in ("onnx", "openvino", "torchscript")

    @property
    def is_teacher(self) -> bool:
        """True for the kinds built by core.teachers (zoo, open vocabulary, plug-ins)."""
        return self.teacher is not None


def kind_of_path(path: str | Path) -> str:
    """The kind of a model file from its name: "onnx", "openvino", "torchscript" or "checkpoint".

    A ``.bin`` is an OpenVINO IR's weights only when its ``.xml`` is beside it; alone it is a checkpoint
    (``pytorch_model.bin`` is a common name for one), read as data like any other.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return "onnx"
    if suffix == ".bin" and not p.with_suffix(".xml").exists():
        return "checkpoint"
    if suffix in IR_SUFFIXES:
        return "openvino"
    if suffix == TORCHSCRIPT_SUFFIX:
        return "torchscript"
    return "checkpoint"


def kind_of(spec: str | Path) -> str:
    """The kind of a model string from its name alone: a teacher prefix's kind, else :func:`kind_of_path`."""
    teacher = parse_teacher_spec(spec)
    return teacher.kind if teacher is not None else kind_of_path(spec)


def runs_code(spec: str | Path) -> bool:
    """Whether opening the model string ``spec`` runs code (a TorchScript archive, a plug-in); False for a
    malformed teacher string (its loader says what is wrong)."""
    try:
        return kind_of(spec) in CODE_KINDS
    except ValueError:
        return False


def parse_model_spec(spec: str | Path, *, allow_download: bool = True) -> ModelSpec:
    """The kind and file of a model string (``demo`` and torchvision's names resolved to their files:
    :func:`core.weights.resolve_weights_spec`, which fetches torchvision's when ``allow_download``; a teacher
    prefix split by :func:`core.teachers.registry.parse_teacher_spec`, its files left to its loader)."""
    from core.weights.load import resolve_weights_spec

    teacher = parse_teacher_spec(spec)
    if teacher is not None:
        return ModelSpec(str(spec), teacher.kind, None, teacher)
    path = resolve_weights_spec(spec, allow_download=allow_download)
    return ModelSpec(str(spec), kind_of_path(path), path)


def check_trusted(spec: ModelSpec, trust_code: bool) -> None:
    """Refuse a model whose opening runs code unless the user opted in (``trust_code``).

    Raises:
        UntrustedCodeError naming the file: a TorchScript archive or a Python plug-in without the opt-in.
    """
    if spec.kind == "plugin" and not trust_code:
        raise UntrustedCodeError(
            f"'{spec.text}' is a Python plug-in: loading it runs its Python code, which can do anything you can "
            f"(read, write and send your files). It is not loaded by default; {TRUST_HINT}")
    if spec.runs_code and not trust_code:
        raise UntrustedCodeError(
            f"'{spec.path}' is a TorchScript archive: opening it runs the TorchScript code inside it, which can "
            f"read and write your files. It is not opened by default; {TRUST_HINT}. Safer: export the model as "
            f"ONNX or OpenVINO IR (data only), or use its checkpoint")


def model_files(spec: str | Path) -> list[Path]:
    """The files opening the model ``spec`` reads (nothing is downloaded): the file, and both the ``.xml``
    and the ``.bin`` of an OpenVINO IR. What an output of the same command must never be
    (:func:`core.io.fileio.check_not_input`)."""
    from core.weights.load import resolve_weights_spec

    try:
        path = resolve_weights_spec(spec, allow_download=False)
    except (OSError, ValueError):  # a torchvision name not fetched yet: no file of it to destroy
        return []
    if kind_of_path(path) == "openvino":  # the file named, and its companion when there is one
        other = path.with_suffix(".bin" if path.suffix.lower() == ".xml" else ".xml")
        return [path] + ([other] if other.exists() else [])
    return [path]


def model_inputs(spec: str | Path | None, role: str = "weights") -> list[tuple[str, Path]]:
    """``(role, file)`` pairs of :func:`model_files` for the ``inputs`` of an output check (none for None)."""
    return [] if spec is None or str(spec) == "" else [(role, p) for p in model_files(spec)]
