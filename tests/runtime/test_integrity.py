"""What an exported or cached network is made of must be what its metadata says (issue 19, items 7, 8, 13):
an IR's .bin from another model, a cache entry overwritten in place, a weights file rewritten with the same
size and time, and tampered metadata are each refused or rebuilt, never run as something else."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

pytest.importorskip("openvino")
onnx = pytest.importorskip("onnx")

from core import load_detector  # noqa: E402
from core.runtime.export import export_model  # noqa: E402
from core.runtime.metadata import META_KEY  # noqa: E402
from tests.runtime.helpers import assert_same_detections, scenes, tiny_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _ssd(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def _image(folder: Path) -> Path:
    import cv2

    path = folder / "scene.png"
    cv2.imwrite(str(path), scenes(1, (64, 48))[0])
    return path


def _differ(a: Any, b: Any) -> bool:
    """True when two detection lists are not the same (another model's detections)."""
    return any(len(x) != len(y) or not np.allclose(x.boxes, y.boxes, atol=1e-2) for x, y in zip(a, b))


# ------------------------------------------------------------------------------------------- item 7

def test_an_ir_whose_bin_comes_from_another_model_is_refused(tmp_path: Path) -> None:
    images = scenes(2)
    a = export_model(tiny_checkpoint(tmp_path / "a.pt", seed=0), "openvino", tmp_path / "a.xml")
    b = export_model(tiny_checkpoint(tmp_path / "b.pt", seed=1), "openvino", tmp_path / "b.xml")
    mine, other = load_detector(a).detect(images), load_detector(b).detect(images)
    assert _differ(mine, other)  # so that loading a.xml with b's weights would give the wrong detections
    assert a.with_suffix(".bin").stat().st_size == b.with_suffix(".bin").stat().st_size  # same architecture
    shutil.copy(b.with_suffix(".bin"), a.with_suffix(".bin"))
    with pytest.raises(ValueError, match=r"'a\.bin' is not the one it was written with .*another model") as info:
        load_detector(a)
    assert str(a) in str(info.value)
    out = _ssd("detect", str(_image(tmp_path)), "--weights", str(a), "--out", str(tmp_path / "d.json"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "a.bin' is not the one it was written with" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "d.json").exists()


def test_a_cache_entry_whose_bin_was_overwritten_in_place_is_rebuilt(tmp_path: Path) -> None:
    images = scenes(2)
    cache = tmp_path / "cache"
    wa, wb = tiny_checkpoint(tmp_path / "a.pt", seed=0), tiny_checkpoint(tmp_path / "b.pt", seed=1)
    entry_a = Path(load_detector(wa, runtime="openvino", cache_dir=cache).runtime_info["cache_entry"])
    entry_b = Path(load_detector(wb, runtime="openvino", cache_dir=cache).runtime_info["cache_entry"])
    record = json.loads((entry_a / "record.json").read_text())
    assert len(record["bin_sha256"]) == 64
    with open(entry_a / "model.bin", "r+b") as f:  # in place: same inode, same size, another model's weights
        f.write((entry_b / "model.bin").read_bytes())
    again = load_detector(wa, runtime="openvino", cache_dir=cache)
    assert again.runtime_info["cache"] == "stored" and again.runtime_info["cache_entry"] == str(entry_a)
    assert_same_detections(again.detect(images), load_detector(wa).detect(images))
    assert load_detector(wa, runtime="openvino", cache_dir=cache).runtime_info["cache"] == "hit"  # whole again


# ------------------------------------------------------------------------------------------- item 8

def test_weights_rewritten_with_the_same_size_and_time_get_their_own_cache_entry(tmp_path: Path) -> None:
    images = scenes(2)
    cache = tmp_path / "cache"
    path = tiny_checkpoint(tmp_path / "m.pt", seed=0)
    first = load_detector(path, runtime="openvino", cache_dir=cache)
    assert first.runtime_info["cache"] == "stored"
    before = path.stat()
    other = tiny_checkpoint(tmp_path / "other.pt", seed=1)
    assert other.stat().st_size == before.st_size
    path.write_bytes(other.read_bytes())  # another model, same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same modification time
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    second = load_detector(path, runtime="openvino", cache_dir=cache)
    assert second.runtime_info["cache"] == "stored"
    assert second.runtime_info["cache_entry"] != first.runtime_info["cache_entry"]
    dets = second.detect(images)
    assert_same_detections(dets, load_detector(path).detect(images))
    assert _differ(dets, first.detect(images))


# ------------------------------------------------------------------------------------------- item 13

def _tampered_onnx(src: Path, dst: Path, change: Callable[[dict], None]) -> Path:
    proto = onnx.load(str(src))
    entry = next(e for e in proto.metadata_props if e.key == META_KEY)
    doc = json.loads(entry.value)
    change(doc)
    entry.value = json.dumps(doc)
    onnx.save(proto, str(dst))
    return dst


def _tampered_ir(src: Path, dst: Path, change: Callable[[dict], None]) -> Path:
    """``src`` saved again as ``dst`` with its metadata changed (the .bin, and the hash of it, unchanged)."""
    import openvino as ov

    model = ov.Core().read_model(str(src))
    doc = json.loads(str(model.get_rt_info([META_KEY]).astype(str)))
    change(doc)
    model.set_rt_info(json.dumps(doc), [META_KEY])
    ov.save_model(model, str(dst), compress_to_fp16=False)
    return dst


def _set_shape(n: Any = 1, size: int = 300) -> Callable[[dict], None]:
    return lambda doc: doc["input"].__setitem__("shape", [n, 3, size, size])


def _resize(doc: dict) -> None:  # the config and the declared input both say 512: only the graph disagrees
    doc["config"]["model"]["image_size"] = 512
    doc["input"]["shape"] = [1, 3, 512, 512]


TAMPERED = {  # what is changed -> what the message must say
    "huge batch": (_set_shape(10 ** 12), r"input\.shape batch 1000000000000 is not from 1 to 1024"),
    "text batch": (_set_shape("eight"), r"input\.shape \['eight', 3, 300, 300\] is not four whole numbers"),
    "batch of another graph": (_set_shape(4), r"the network takes images \[1, 3, 300, 300\], but its metadata "
                                              r"describes \[4, 3, 300, 300\]"),
    "image size of another graph": (_resize, r"the network takes images \[1, 3, 300, 300\], but its metadata "
                                             r"describes \[1, 3, 512, 512\]"),
    "image size not the config's": (_set_shape(1, 512), r"input\.shape \[1, 3, 512, 512\] does not fit its config"),
    "int8 on an fp32 graph": (lambda doc: doc.__setitem__("precision", "int8"),
                              r"precision 'int8', but the network has no int8"),
    "unknown precision": (lambda doc: doc.__setitem__("precision", "fp8"), r"precision 'fp8' is not one of"),
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("exported")
    weights = tiny_checkpoint(d / "m.pt")
    return {"onnx": export_model(weights, "onnx", d / "m.onnx"), "xml": export_model(weights, "openvino", d / "m.xml")}


@pytest.mark.parametrize("case", TAMPERED)
@pytest.mark.parametrize("fmt", ["onnx", "xml"])
def test_tampered_metadata_is_refused_at_load_naming_the_file(case: str, fmt: str, exported: dict[str, Path],
                                                              tmp_path: Path) -> None:
    change, message = TAMPERED[case]
    tamper = _tampered_onnx if fmt == "onnx" else _tampered_ir
    path = tamper(exported[fmt], tmp_path / f"t.{fmt}", change)
    with pytest.raises(ValueError, match=message) as info:
        load_detector(path, cache_dir=tmp_path / "cache")
    assert str(path) in str(info.value)


def test_tampered_metadata_through_the_command_line_is_one_line(exported: dict[str, Path], tmp_path: Path) -> None:
    path = _tampered_ir(exported["xml"], tmp_path / "t.xml", TAMPERED["huge batch"][0])
    for args in (["info", str(path)], ["detect", str(_image(tmp_path)), "--weights", str(path),
                                       "--out", str(tmp_path / "d.json")]):
        out = _ssd(*args)
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr and "MemoryError" not in out.stderr
        assert str(path) in out.stderr and "is not from 1 to 1024" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_an_int8_label_on_an_fp32_torchscript_file_is_refused_before_it_runs(exported: dict[str, Path],
                                                                           tmp_path: Path) -> None:
    import zipfile

    from core.runtime.formats import TORCHSCRIPT_EXTRA

    src = export_model(tiny_checkpoint(tmp_path / "m.pt"), "torchscript", tmp_path / "m.torchscript")
    dst = tmp_path / "t.torchscript"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename.endswith(f"/extra/{TORCHSCRIPT_EXTRA}"):
                doc = json.loads(data)
                doc["precision"] = "int8"
                data = json.dumps(doc).encode()
            zout.writestr(item, data)
    with pytest.raises(ValueError, match="precision 'int8', but TorchScript networks are exported in fp32 only"):
        load_detector(dst, trust_code=True)
