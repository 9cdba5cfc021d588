"""What an exported or cached network carries besides its weights, as one JSON document.

The network of a detector (backbone + heads) maps ``images`` Tensor[N, 3, S, S] (preprocessed as
described under ``preprocess``) to ``cls_logits`` Tensor[N, P, C] (raw logits; softmax over C,
class 0 is the background) and ``bbox_regression`` Tensor[N, P, 4] (offsets against the P default
boxes of ``config.model.priors``, decoded with ``config.model.variances``). Everything needed to
turn those outputs into boxes (class names, preprocessing constants, prior configuration,
postprocessing thresholds) travels with the file under the key :data:`META_KEY`:

- ONNX: a ``metadata_props`` entry; OpenVINO IR: ``rt_info``; TorchScript: an extra file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import SSDConfig

META_KEY = "ssd_desktop"
META_FORMAT = "ssd-desktop-export/1"
INPUT_NAME = "images"
OUTPUT_NAMES = ("cls_logits", "bbox_regression")
#: Raised when the way networks are exported changes, so that cached conversions are rebuilt
#: (2: an IR's metadata records the SHA-256 of its .bin).
EXPORT_VERSION = 2
#: The precisions an exported network can be written in.
PRECISIONS = ("fp32", "int8")
#: The largest fixed batch a file may declare (``ssd export --batch``): more is a tampered or broken file,
#: and allocating it (padding a frame to the batch) would exhaust the memory.
MAX_BATCH = 1024


@dataclass(frozen=True)
class NetworkMeta:
    """The detector around an exported network.

    Attributes:
        config: the SSDConfig (model: architecture, input size, default boxes, variances, mean;
            postprocess: thresholds).
        class_names: index 0 "__background__".
        precision: "fp32" or "int8" (the arithmetic the file was written for).
        batch: the fixed batch size N of the input (None when the batch dimension is dynamic).
        source: where the weights came from: {"file", "sha256", "format"}.
        calibration: for int8, what the quantization was calibrated on (see core.runtime.calibration).
        training: the checkpoint's training metadata (dataset, iterations, mAP), as far as it is JSON.
        weights_sha256: for an OpenVINO IR, the SHA-256 of its .bin (the weights the .xml was written
            with; :func:`core.runtime.formats.read_ir` refuses another .bin); None for the formats that
            hold their weights inside, and for IRs written before export version 2.
    """

    config: SSDConfig
    class_names: tuple[str, ...]
    precision: str = "fp32"
    batch: int | None = 1
    source: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str | None = None

    def to_json(self) -> str:
        m = self.config.model
        doc = {
            "format": META_FORMAT,
            "export_version": EXPORT_VERSION,
            "input": {"name": INPUT_NAME, "shape": [self.batch if self.batch else -1, 3, m.image_size, m.image_size],
                      "dtype": "float32"},
            "outputs": {OUTPUT_NAMES[0]: "[N, P, C] raw class logits (softmax over C; 0 is the background)",
                        OUTPUT_NAMES[1]: "[N, P, 4] box offsets against the default boxes (cx, cy, w, h / variances)"},
            "preprocess": preprocess_constants(self.config),
            "config": self.config.to_dict(),
            "class_names": list(self.class_names),
            "precision": self.precision,
            "source": self.source,
            "calibration": self.calibration,
            "training": _jsonable(self.training),
        }
        if self.weights_sha256:
            doc["weights_sha256"] = self.weights_sha256
        return json.dumps(doc, allow_nan=False)

    @staticmethod
    def from_json(text: str, source: str | Path) -> "NetworkMeta":
        """Inverse of :meth:`to_json`; ValueError naming ``source`` and the field when the text is not such a
        document or a field is not what :meth:`to_json` writes (a tampered or broken file). How the
        metadata fits the network in the file is checked by the readers of core.runtime.formats."""
        try:
            doc = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"'{source}': its {META_KEY} metadata is not valid JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != META_FORMAT:
            raise ValueError(f"'{source}': its {META_KEY} metadata is not a {META_FORMAT} document")
        config = SSDConfig.from_dict(_field(doc, "config", dict, source), source=str(source))
        names = tuple(str(n) for n in _field(doc, "class_names", list, source))
        if len(names) != config.model.num_classes:
            raise ValueError(f"'{source}': {len(names)} class names in its metadata for "
                             f"{config.model.num_classes} classes")
        precision = doc.get("precision", "fp32")
        if precision not in PRECISIONS:
            raise ValueError(f"'{source}': its metadata's precision {precision!r} is not one of {PRECISIONS}")
        batch = _batch(_field(doc, "input", dict, source).get("shape"), config.model.image_size, source)
        sha = doc.get("weights_sha256")
        if sha is not None and not (isinstance(sha, str) and len(sha) == 64
                                    and all(c in "0123456789abcdef" for c in sha)):
            raise ValueError(f"'{source}': its metadata's weights_sha256 {sha!r} is not a SHA-256 in hex")
        return NetworkMeta(config, names, precision, batch, dict(doc.get("source") or {}),
                           doc.get("calibration"), dict(doc.get("training") or {}), sha)


def _field(doc: dict[str, Any], key: str, kind: type, source: str | Path) -> Any:
    """``doc[key]``, which must be a ``kind`` (ValueError naming the field and ``source`` otherwise)."""
    value = doc.get(key)
    if not isinstance(value, kind):
        raise ValueError(f"'{source}': its metadata's {key} is {type(value).__name__}, not a "
                         f"{'JSON object' if kind is dict else 'list'}")
    return value


def _batch(shape: Any, image_size: int, source: str | Path) -> int | None:
    """The batch N of the metadata's ``input.shape`` [N, 3, S, S] (None for -1, any batch), checked:
    N a whole number from 1 to :data:`MAX_BATCH` or -1, 3 channels, S the config's image size."""
    if not (isinstance(shape, list) and len(shape) == 4 and all(type(v) is int for v in shape)):
        raise ValueError(f"'{source}': its metadata's input.shape {shape!r} is not four whole numbers "
                         f"[N, 3, S, S]")
    n = shape[0]
    if n != -1 and not 1 <= n <= MAX_BATCH:
        raise ValueError(f"'{source}': its metadata's input.shape batch {n} is not from 1 to {MAX_BATCH} "
                         f"(or -1, any batch)")
    if shape[1:] != [3, image_size, image_size]:
        raise ValueError(f"'{source}': its metadata's input.shape {shape} does not fit its config "
                         f"(image_size {image_size}: [N, 3, {image_size}, {image_size}])")
    return None if n == -1 else n


def preprocess_constants(config: SSDConfig) -> dict[str, Any]:
    """The preprocessing that ``images`` expects, in numbers (as core.detector.Detector.preprocess does it)."""
    m = config.model
    mean = [float(v) for v in m.image_mean]
    std = [float(v) for v in getattr(m, "image_std", (1.0, 1.0, 1.0))]
    return {"color": "RGB", "resize": f"bilinear to {m.image_size}x{m.image_size}, no antialiasing, aspect not kept",
            "pixel_range": "0-255", "mean": mean, "std": std,
            "formula": "(pixel - mean) / std, channels first"}


def _jsonable(obj: Any) -> Any:
    """``obj`` with anything JSON cannot hold (NaN, tensors, objects) dropped or turned into text."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)
