"""Writing and reading the network of a detector as ONNX, OpenVINO IR or TorchScript.

Every writer stores the :class:`~core.runtime.metadata.NetworkMeta` with the file and writes through
a temporary file (an IR's .xml and .bin are both renamed into place, the .bin first); every reader
names the file in a ValueError for anything it cannot use: a truncated or corrupt file, an IR
without its .bin, a model of another network (no metadata, or outputs that do not fit it).
"""
from __future__ import annotations

import errno
import io
import os
import shutil
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.io.fileio import atomic_write, file_sha256, make_temp_dir, remove_stale_temps, write_error
from core.io.text import first_error_line
from core.weights.files import TORCHSCRIPT_SUFFIX
from core.runtime.metadata import INPUT_NAME, META_KEY, OUTPUT_NAMES, NetworkMeta

ONNX_OPSET = 17
TORCHSCRIPT_EXTRA = f"{META_KEY}.json"


def exported_kind(path: str | Path) -> str | None:
    """"onnx", "openvino" (IR .xml or .bin) or "torchscript" (``.torchscript``) for an exported network
    file, else None: from the name alone (:func:`core.model_spec.kind_of_path`), never from the content."""
    from core.model_spec import kind_of_path

    kind = kind_of_path(path)
    return None if kind == "checkpoint" else kind


def _example(meta: NetworkMeta) -> torch.Tensor:
    s = meta.config.model.image_size
    return torch.zeros((meta.batch or 1, 3, s, s))


# ----------------------------------------------------------------------------------------- ONNX

def onnx_bytes(model: nn.Module, meta: NetworkMeta) -> bytes:
    """The network as an ONNX model (opset :data:`ONNX_OPSET`) with ``meta`` in its metadata_props.

    The input is ``images`` [N, 3, S, S] (N = ``meta.batch``, or dynamic when None); outputs
    ``cls_logits`` [N, P, C] and ``bbox_regression`` [N, P, 4]. VGG's ceil_mode pool3 is an ONNX
    MaxPool with ``ceil_mode=1`` (opset >= 10), which OpenVINO reads as such.
    """
    import onnx

    dynamic = None if meta.batch else {n: {0: "N"} for n in (INPUT_NAME, *OUTPUT_NAMES)}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of the dynamo one, which needs the
        # onnxscript package and a torch.export trace; this plain convolutional network needs neither.
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(model.eval(), (_example(meta),), buf, opset_version=ONNX_OPSET, dynamo=False,
                              input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES), dynamic_axes=dynamic,
                              do_constant_folding=True)
    proto = onnx.load_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, meta.to_json()
    proto.producer_name = "ssd-desktop"
    return proto.SerializeToString()


def write_onnx(model: nn.Module, meta: NetworkMeta, path: str | Path) -> Path:
    """Write :func:`onnx_bytes` to ``path`` atomically."""
    return atomic_write(path, onnx_bytes(model, meta), "ONNX model")


def torch_to_openvino(model: nn.Module, meta: NetworkMeta) -> Any:
    """Convert a torch network to an ``openvino.Model`` through this project's ONNX export.

    The same exporter as ``ssd export --format onnx``, read by OpenVINO's ONNX frontend: one
    conversion path to test, and no use of the ``ovc`` converter (which reports usage statistics).
    """
    import numpy as np
    import openvino as ov

    from core.runtime.openvino import ov_core

    data = onnx_bytes(model, meta)
    # ONNX read from memory: the weights are inside the protobuf, no second file.
    return ov_core().read_model(data, ov.Tensor(np.empty(0, np.uint8)))


def read_onnx_meta(path: str | Path) -> NetworkMeta:
    """The metadata of an ONNX file written by :func:`write_onnx`, checked against its graph."""
    import onnx

    p = _existing(path, "ONNX model")
    try:
        proto = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, onnx's own errors: all mean a corrupt or cut file
        raise ValueError(f"'{p}' is not a readable ONNX model: truncated or corrupt ({first_error_line(exc)})") from None
    props = {e.key: e.value for e in proto.metadata_props}
    if META_KEY not in props:
        raise ValueError(f"'{p}' is an ONNX model of another network (producer {proto.producer_name or 'unknown'!r}, "
                         f"no {META_KEY} metadata): only detectors exported by `ssd export` can be loaded")
    meta = NetworkMeta.from_json(props[META_KEY], p)
    def dims(value: Any) -> list[int]:
        return [d.dim_value or -1 for d in value.type.tensor_type.shape.dim]

    outputs = {o.name: dims(o) for o in proto.graph.output}
    quantized = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in proto.graph.node)
    check_io(meta, [(i.name, dims(i)) for i in proto.graph.input[:1]], outputs, p, quantized)
    return meta


# ------------------------------------------------------------------------------------ OpenVINO IR

def ir_paths(path: str | Path) -> tuple[Path, Path]:
    """(.xml, .bin) of an IR given either file."""
    p = Path(path)
    return p.with_suffix(".xml"), p.with_suffix(".bin")


def write_ir(ov_model: Any, meta: NetworkMeta, path: str | Path) -> Path:
    """Save an ``openvino.Model`` as IR (.xml + .bin, weights kept in fp32) with ``meta`` in its rt_info,
    the .bin's SHA-256 included (``meta.weights_sha256``: :func:`read_ir` refuses another .bin).

    Both files are written to a hidden temporary folder beside the target (``.<name>.xml.<random>.tmp``;
    one a kill left behind is removed first) and renamed into place, the .bin first: a reader never finds
    a new .xml with an old or half-written .bin. A full disk raises an OSError naming the file and the
    room left, and keeps the previous files.
    """
    import openvino as ov

    xml, bin_ = ir_paths(path)
    xml.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(xml.parent, xml.name)
    # OpenVINO insists on the .xml suffix, so the temporaries live in a hidden folder beside the target.
    tmp = make_temp_dir(xml.parent, xml.name)
    try:
        # The .bin does not depend on the rt_info (the .xml holds it): write it, hash it, then write the .xml
        # with the hash. OpenVINO writes only both at once, so the second save writes the same .bin again.
        _save_model(ov_model, tmp / "weights.xml", xml)
        sha = file_sha256(tmp / "weights.bin")
        (tmp / "weights.xml").unlink()
        ov_model.set_rt_info(replace(meta, weights_sha256=sha).to_json(), [META_KEY])
        _save_model(ov_model, tmp / "model.xml", xml)
        if file_sha256(tmp / "model.bin") != sha:  # OpenVINO's serialisation is deterministic; make sure
            raise RuntimeError(f"OpenVINO wrote two different weights files for '{xml}' from one network")
        os.replace(tmp / "model.bin", bin_)
        os.replace(tmp / "model.xml", xml)
    except OSError as exc:
        raise OSError(exc.errno, write_error("OpenVINO IR", xml, exc)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return xml


def _save_model(ov_model: Any, tmp_xml: Path, target: Path) -> None:
    """``openvino.save_model`` into ``tmp_xml`` (+ .bin); its I/O failure, a RuntimeError reading
    "basic_ios::clear: iostream error", becomes the OSError it is (ENOSPC when the disk has no room left
    for the weights)."""
    import openvino as ov

    try:
        # compress_to_fp16 defaults to True: it would round every weight to fp16.
        ov.save_model(ov_model, str(tmp_xml), compress_to_fp16=False)
    except RuntimeError as exc:
        need = sum(op.get_byte_size() for op in ov_model.get_ops() if op.get_type_name() == "Constant")
        free = shutil.disk_usage(tmp_xml.parent).free
        if free < need + (1 << 20):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from None
        raise OSError(errno.EIO, f"OpenVINO could not write it ({first_error_line(exc)})") from None


def read_ir(path: str | Path) -> tuple[Any, NetworkMeta]:
    """(``openvino.Model``, metadata) of an IR written by :func:`write_ir`, checked against its graph and,
    when the metadata records it, its .bin against the SHA-256 the .xml was written with."""
    from core.runtime.openvino import ov_core

    xml, bin_ = ir_paths(path)
    _existing(xml, "OpenVINO IR (.xml)")
    if not bin_.is_file():
        raise ValueError(f"'{xml}': its weights file '{bin_.name}' is missing (an OpenVINO IR is a .xml and a "
                         f".bin of the same name in the same folder)")
    try:
        model = ov_core().read_model(str(xml), str(bin_))
    except Exception as exc:  # OpenVINO raises RuntimeError with a long C++ trace
        raise ValueError(f"'{xml}' (with '{bin_.name}') is not a readable OpenVINO IR: truncated or corrupt "
                         f"({first_error_line(exc)})") from None
    if not model.has_rt_info([META_KEY]):
        raise ValueError(f"'{xml}' is an OpenVINO model of another network (no {META_KEY} metadata): only "
                         f"detectors exported by `ssd export` can be loaded")
    meta = NetworkMeta.from_json(str(model.get_rt_info([META_KEY]).astype(str)), xml)
    if meta.weights_sha256 is not None:
        sha = file_sha256(bin_)
        if sha != meta.weights_sha256:
            raise ValueError(f"'{xml}': its weights file '{bin_.name}' is not the one it was written with (SHA-256 "
                             f"{sha[:16]}…, the .xml records {meta.weights_sha256[:16]}…): the .bin comes from "
                             f"another model or was changed since; export the model again")
    check_model_io(model, meta, xml)
    return model, meta


def check_model_io(model: Any, meta: NetworkMeta, source: str | Path) -> None:
    """An ``openvino.Model``'s input, outputs and arithmetic against its metadata (ValueError naming ``source``)."""
    outputs = {}
    for i, out in enumerate(model.outputs):
        names = out.get_names()
        name = next((n for n in OUTPUT_NAMES if n in names), f"output {i}")
        outputs[name] = _ov_shape(out.get_partial_shape())
    first = model.inputs[0]
    quantized = any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())
    check_io(meta, [(next(iter(first.get_names()), ""), _ov_shape(first.get_partial_shape()))], outputs, source,
             quantized)


def _ov_shape(shape: Any) -> list[int]:
    return [d.get_length() if d.is_static else -1 for d in shape] if shape.rank.is_static else []


def check_io(meta: NetworkMeta, inputs: list[tuple[str, list[int]]], outputs: dict[str, list[int]],
             source: str | Path, quantized: bool) -> None:
    """The network in a file against its metadata, so that a tampered or mismatched document is refused
    at load, not at the first frame: its input ``images`` [N, 3, S, S] must be the metadata's batch and
    image size, its outputs the logits and offsets of the metadata's P default boxes and C classes, and
    ``quantized`` (int8 layers in the graph) must agree with the metadata's precision."""
    m = meta.config.model
    want = {OUTPUT_NAMES[0]: m.num_classes, OUTPUT_NAMES[1]: 4}
    for name, last in want.items():
        shape = outputs.get(name)
        if shape is None:
            raise ValueError(f"'{source}': the network has no output {name!r} (outputs {sorted(outputs)}): not a "
                             f"detector exported by `ssd export`")
        if len(shape) != 3 or shape[1] not in (-1, m.priors.num_priors) or shape[2] not in (-1, last):
            raise ValueError(f"'{source}': output {name!r} has shape {shape}, but its metadata describes "
                             f"[N, {m.priors.num_priors}, {last}]")
    name, shape = inputs[0] if inputs else ("", [])
    if name and name != INPUT_NAME:
        raise ValueError(f"'{source}': the network's input is {name!r}, expected {INPUT_NAME!r}")
    described = [meta.batch or -1, 3, m.image_size, m.image_size]
    if shape and (len(shape) != 4 or any(d != w and d != -1 for d, w in zip(shape, described))):
        raise ValueError(f"'{source}': the network takes {INPUT_NAME} {shape}, but its metadata describes "
                         f"{described} (batch {meta.batch or 'any'}, image_size {m.image_size})")
    if quantized != (meta.precision == "int8"):
        raise ValueError(f"'{source}': its metadata says precision {meta.precision!r}, but the network "
                         f"{'has' if quantized else 'has no'} int8 (quantized) layers")


# ------------------------------------------------------------------------------------ TorchScript

def write_torchscript(model: nn.Module, meta: NetworkMeta, path: str | Path) -> Path:
    """Trace the network at [N, 3, S, S] and save it with ``meta`` as an extra file of the archive."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still the format asked for
        with torch.no_grad():
            traced = torch.jit.trace(model.eval(), _example(meta), check_trace=False)
        # Into memory first: torch.jit.save to a file aborts the process (C++ terminate, exit 134) when
        # the disk fills, leaving its temporary behind; atomic_write reports a full disk like any other.
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={TORCHSCRIPT_EXTRA: meta.to_json()})
    return atomic_write(path, buf.getvalue(), "TorchScript model")


def read_torchscript_meta(path: str | Path) -> NetworkMeta:
    """The metadata of a file written by :func:`write_torchscript`, read from the archive as a zip
    (its ``extra/`` entry): nothing in the file is loaded or run, so no opt-in is needed."""
    p = _existing(path, "TorchScript model")
    try:
        with zipfile.ZipFile(p) as z:
            entry = next((n for n in z.namelist() if n.endswith(f"/extra/{TORCHSCRIPT_EXTRA}")), None)
            raw = z.read(entry) if entry is not None else None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"'{p}' is not a readable TorchScript model: truncated or corrupt "
                         f"({first_error_line(exc)})") from None
    if raw is None:
        raise ValueError(f"'{p}' is a TorchScript model of another network (no {TORCHSCRIPT_EXTRA} inside): only "
                         f"detectors exported by `ssd export` can be loaded")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"'{p}': its {TORCHSCRIPT_EXTRA} is not UTF-8 text") from None
    meta = NetworkMeta.from_json(text, p)
    if meta.precision != "fp32":  # the graph is only looked at once trusted; this much is known without it
        raise ValueError(f"'{p}': its metadata says precision {meta.precision!r}, but TorchScript networks are "
                         f"exported in fp32 only")
    return meta


def read_torchscript(path: str | Path, *, trust_code: bool = False) -> tuple[torch.jit.ScriptModule, NetworkMeta]:
    """(the traced network on the CPU, metadata) of a file written by :func:`write_torchscript`.

    ``torch.jit.load`` runs the archive's TorchScript code, so this needs ``trust_code=True`` and the
    ``.torchscript`` suffix (:func:`core.model_spec.check_trusted`); the metadata is read and checked first,
    without loading anything.
    """
    from core.model_spec import ModelSpec, check_trusted, kind_of_path

    p = Path(path)
    if kind_of_path(p) != "torchscript":
        raise ValueError(f"'{p}': a TorchScript archive is opened only under a {TORCHSCRIPT_SUFFIX} name")
    check_trusted(ModelSpec(str(p), "torchscript", p), trust_code)
    meta = read_torchscript_meta(p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(p), map_location="cpu")
    except Exception as exc:
        raise ValueError(f"'{p}' is not a readable TorchScript model: truncated or corrupt "
                         f"({first_error_line(exc)})") from None
    return module.eval(), meta


# -------------------------------------------------------------------------------------- helpers

def _existing(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} not found: '{p}'")
    if p.is_dir():
        raise ValueError(f"'{p}' is a folder, not a {what} file")
    if p.stat().st_size == 0:
        raise ValueError(f"'{p}' is empty, not a {what} file")
    return p
