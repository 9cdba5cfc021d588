"""What the open-vocabulary teachers share: Hugging Face ``transformers`` (an optional extra), finding a model
on this machine without downloading anything, and the resume identity.

A model is a Hugging Face model id (``google/owlv2-base-patch16-ensemble``), looked up only in the local Hugging
Face cache (``$HF_HOME/hub``), or a folder written by ``save_pretrained``. Nothing is downloaded here: offline
or not yet fetched, the message gives the command that puts the model in the cache (``hf download MODEL_ID``).
Models are read from safetensors / weights-only files and never with ``trust_remote_code``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.teachers.ontology import Ontology, parse_ontology
from core.teachers.spec import TeacherSpec

#: The model each kind uses when the teacher string names none (``owlv2@MODEL:...`` overrides it).
DEFAULT_MODELS = {"owlv2": "google/owlv2-base-patch16-ensemble", "grounding-dino": "IDEA-Research/grounding-dino-tiny"}
#: What a box must score (a class without its own threshold) to leave the teacher, and the NMS across prompts.
SCORE_FLOOR = {"owlv2": 0.05, "grounding-dino": 0.1}
DEFAULT_THRESHOLD = {"owlv2": 0.2, "grounding-dino": 0.35}
PROMPT_NMS_IOU = 0.5
EXTRA_HINT = "pip install 'ssd-desktop[zero-shot]' (or: pip install transformers)"


def require_transformers(kind: str) -> Any:
    """The ``transformers`` module, or a ValueError saying how to install the extra."""
    try:
        import transformers
    except ImportError:
        raise ValueError(f"the {kind} teacher needs Hugging Face transformers, which is not installed: "
                         f"{EXTRA_HINT}") from None
    return transformers


def model_id(spec: TeacherSpec) -> str:
    return spec.model or DEFAULT_MODELS[spec.kind]


def local_model(spec: TeacherSpec) -> tuple[Path, str]:
    """(the folder holding the model's files, its revision: the cache's commit hash, or a hash of a folder's files).

    Raises:
        ValueError: not on this machine; names the model id and the command that fetches it.
    """
    name = model_id(spec)
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ValueError(f"{spec.text!r}: '{folder}' holds no config.json: not a saved Hugging Face model")
        return folder, _folder_hash(folder)
    require_transformers(spec.kind)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = Path(snapshot_download(name, local_files_only=True))
    except (LocalEntryNotFoundError, ValueError, OSError):
        from huggingface_hub.constants import HF_HUB_CACHE

        raise ValueError(f"the {spec.kind} model {name!r} is not in the Hugging Face cache ({HF_HUB_CACHE}); "
                         f"nothing is downloaded while labelling. On a machine online, run: hf download {name} "
                         f"(then copy that cache folder here, or give a saved model folder: {spec.kind}@FOLDER:...)"
                         ) from None
    return path, path.name


def _folder_hash(folder: Path) -> str:
    """SHA-256 of the weights and configuration files of a saved model folder (names and contents)."""
    import hashlib

    from core.io.fileio import file_sha256

    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.suffix in (".json", ".safetensors", ".bin", ".txt", ".model"):
            h.update(f.name.encode() + b"\0" + file_sha256(f).encode())
    return h.hexdigest()


def ontology_of(spec: TeacherSpec) -> Ontology:
    try:
        return parse_ontology(spec.argument)
    except ValueError as exc:
        raise ValueError(f"{spec.text!r}: {exc}") from None


def fingerprint(spec: TeacherSpec) -> dict[str, Any]:
    """The resume identity of an open-vocabulary teacher: kind, model id, revision, ontology, floor, NMS IoU."""
    onto = ontology_of(spec)
    _, revision = local_model(spec)
    return {"kind": spec.kind, "model": model_id(spec), "revision": revision, "ontology": onto.text(),
            "score_floor": SCORE_FLOOR[spec.kind], "prompt_nms_iou": PROMPT_NMS_IOU}


__all__ = ["DEFAULT_MODELS", "DEFAULT_THRESHOLD", "EXTRA_HINT", "PROMPT_NMS_IOU", "SCORE_FLOOR", "fingerprint",
           "local_model", "model_id", "ontology_of", "require_transformers"]
