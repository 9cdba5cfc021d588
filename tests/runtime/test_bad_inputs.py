"""Bad exported files, int8 without calibration, an unwritable cache: a message naming the file, no crash."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("openvino")
pytest.importorskip("onnx")

from core import load_detector  # noqa: E402
from core.cli import main  # noqa: E402
from core.runtime.export import export_model  # noqa: E402
from tests.runtime.helpers import assert_same_detections, scenes, tiny_checkpoint  # noqa: E402
from tests.tmpfs import tmpfs  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("exported")
    weights = tiny_checkpoint(d / "m.pt")
    return {"weights": weights, "onnx": export_model(weights, "onnx", d / "m.onnx"),
            "xml": export_model(weights, "openvino", d / "m.xml")}


def _copy(src: Path, dst: Path, keep: int | None = None, garbage: bytes | None = None) -> Path:
    data = src.read_bytes()
    dst.write_bytes(garbage if garbage is not None else data[:keep])
    return dst


def _refused(path: Path, match: str, capsys: pytest.CaptureFixture | None = None) -> None:
    with pytest.raises(ValueError, match=match) as info:
        load_detector(path)
    assert str(path.with_suffix(".xml") if path.suffix == ".bin" else path) in str(info.value)
    if capsys is not None:  # the same through the command line: one line, exit code 2
        img = path.parent / "scene.npy.png"
        import cv2

        cv2.imwrite(str(img), scenes(1, (64, 48))[0])
        assert main(["detect", str(img), "--weights", str(path), "--out", str(path.parent / "d.json")]) == 2
        err = capsys.readouterr().err
        assert "ssd detect: error:" in err and path.name in err and "Traceback" not in err


def test_truncated_and_corrupt_onnx(exported: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cut = _copy(exported["onnx"], tmp_path / "cut.onnx", keep=exported["onnx"].stat().st_size // 2)
    _refused(cut, "not a readable ONNX model: truncated or corrupt", capsys)
    junk = _copy(exported["onnx"], tmp_path / "junk.onnx", garbage=b"\x00\xff" * 999)
    _refused(junk, "not a readable ONNX model|another network")
    empty = _copy(exported["onnx"], tmp_path / "empty.onnx", garbage=b"")
    _refused(empty, "is empty")


def test_onnx_of_another_network(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    path = tmp_path / "classifier.onnx"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(other, (torch.zeros(1, 3, 32, 32),), str(path), opset_version=17, dynamo=False)
    _refused(path, "ONNX model of another network", capsys)


def test_corrupt_xml_truncated_bin_and_missing_bin(exported: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    xml, bin_ = exported["xml"], exported["xml"].with_suffix(".bin")
    bad_xml = _copy(xml, tmp_path / "badxml.xml", keep=xml.stat().st_size // 3)
    shutil.copy(bin_, tmp_path / "badxml.bin")
    _refused(bad_xml, "not a readable OpenVINO IR", capsys)

    shutil.copy(xml, tmp_path / "cut.xml")
    _copy(bin_, tmp_path / "cut.bin", keep=bin_.stat().st_size // 2)
    _refused(tmp_path / "cut.xml", "not a readable OpenVINO IR")
    _refused(tmp_path / "cut.bin", "not a readable OpenVINO IR")  # the .bin named: its .xml is read

    shutil.copy(xml, tmp_path / "lonely.xml")
    _refused(tmp_path / "lonely.xml", "weights file 'lonely.bin' is missing", capsys)


def test_ir_of_another_network(tmp_path: Path) -> None:
    import openvino as ov

    from core.runtime.openvino import ov_core

    other = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)).eval()
    import io
    import warnings

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(other, (torch.zeros(1, 3, 32, 32),), buf, opset_version=17, dynamo=False)
    model = ov_core().read_model(buf.getvalue(), ov.Tensor(np.empty(0, np.uint8)))
    ov.save_model(model, str(tmp_path / "other.xml"), compress_to_fp16=False)
    _refused(tmp_path / "other.xml", "OpenVINO model of another network")


def test_int8_without_calibration_images(exported: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    weights = exported["weights"]  # its checkpoint records no training data
    with pytest.raises(ValueError, match=r"int8 needs calibration images for '.*m\.pt'"):
        load_detector(weights, runtime="openvino", precision="int8", cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="the list given is empty"):
        load_detector(weights, runtime="openvino", precision="int8", calibration=[], cache_dir=tmp_path / "c")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        load_detector(weights, runtime="openvino", precision="int8", calibration=tmp_path / "empty",
                      cache_dir=tmp_path / "c")
    assert main(["export", str(weights), "--format", "openvino", "--out", str(tmp_path / "q.xml"),
                 "--precision", "int8"]) == 2
    assert "int8 needs calibration images" in capsys.readouterr().err
    assert not (tmp_path / "q.xml").exists()


@pytest.fixture
def read_only_dir(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A folder on a read-only file system (a read-only tmpfs where mounting is allowed), else a path
    below a regular file (which no one can create, root included)."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    with tmpfs(mnt, "ro,size=64k") as mounted:
        if mounted:
            yield mnt
        else:
            (tmp_path / "a_file").write_text("x")
            yield tmp_path / "a_file" / "cache"


def test_unwritable_cache_folder_still_runs(exported: dict[str, Path], read_only_dir: Path) -> None:
    weights = exported["weights"]
    det = load_detector(weights, runtime="openvino", cache_dir=read_only_dir)
    assert det.runtime_info["cache"] == "uncached"
    [note] = det.runtime_info["notes"]
    assert str(read_only_dir) in note and "not writable" in note and "uncached" in note
    images = scenes(2)
    assert_same_detections(det.detect(images), load_detector(weights).detect(images))
