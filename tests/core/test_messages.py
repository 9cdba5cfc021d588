"""Messages that misled a new user (issue 19, item 14): each case on real files and the real command line."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main
from core.config import preset
from core.data.synthetic import SHAPE_CLASSES, write_dataset
from core.model import build_model
from core.weights import save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
DEMO_VIDEO = ROOT / "core" / "resources" / "demo.mp4"


def _ssd(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=timeout)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(args))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _tiny(path: Path, priors: str = "voc", seed: int = 0) -> Path:
    cfg = preset("ssd300", num_classes=len(SHAPE_CLASSES), priors=priors, width=0.05)
    torch.manual_seed(seed)
    return save_checkpoint(path, build_model(cfg.model), cfg, SHAPE_CLASSES)


def test_a_checkpoint_named_bin_is_read_as_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _tiny(tmp_path / "x.pt").rename(tmp_path / "model.bin")
    rc, out, err = _cli(capsys, "info", str(path))
    assert rc == 0, err
    assert "format: own" in out and "OpenVINO" not in out + err
    from core import load_detector

    assert load_detector(path).class_names == SHAPE_CLASSES


def test_export_from_an_exported_network_names_it_and_its_checkpoint(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnx")
    weights = _tiny(tmp_path / "m.pt")
    assert _cli(capsys, "export", str(weights), "--format", "onnx", "--out", str(tmp_path / "m.onnx"))[0] == 0
    rc, _, err = _cli(capsys, "export", str(tmp_path / "m.onnx"), "--format", "onnx", "--out", str(tmp_path / "n.onnx"))
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "m.onnx' is an exported network (ONNX), not a checkpoint" in err and "('m.pt', as its metadata says)" in err
    assert "Python objects" not in err and "weights_only" not in err
    # a file that is no pickle at all is not said to "store Python objects" either
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x08\x07" + bytes(range(256)) * 4)
    rc, _, err = _cli(capsys, "info", str(junk))
    assert rc == 2 and "is not a PyTorch weights file: it is neither a torch.save archive nor a pickle" in err
    assert "Python objects" not in err


def test_distillation_says_how_default_boxes_of_the_same_count_differ(tmp_path: Path) -> None:
    from core.engine.distill import Distiller

    cfg = preset("ssd300", num_classes=len(SHAPE_CLASSES), priors="voc", width=0.05)
    priors = build_model(cfg.model).priors(torch.device("cpu"))
    teacher = _tiny(tmp_path / "coco_priors.pt", priors="coco")
    with pytest.raises(ValueError) as info:
        Distiller(teacher, cfg, SHAPE_CLASSES, priors, torch.device("cpu"))
    msg = str(info.value)
    assert "coco_priors.pt" in msg and "laid out differently" in msg and f"both have {priors.shape[0]}" in msg
    assert "default boxes are not the student's" not in msg
    # box 0 of SSD300's first map: centre (0.5/38, 0.5/38); VOC's smallest box 30/300 = 0.1, COCO's 21/300 = 0.07
    assert "box 0" in msg and "(0.013, 0.013, 0.070, 0.070) for the teacher" in msg
    assert "(0.013, 0.013, 0.100, 0.100) for the student" in msg


def test_renaming_a_class_to_the_background_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from core.pseudo_label import class_plan

    with pytest.raises(ValueError, match=r"--rename circle=__background__: '__background__' is not a class name"):
        class_plan(SHAPE_CLASSES, None, [("circle", "__background__")])
    with pytest.raises(ValueError, match="is not a class name"):
        class_plan(SHAPE_CLASSES, None, [("circle", " ")])
    rc, _, err = _cli(capsys, "pseudo-label", str(DEMO_VIDEO), "--teacher", "demo", "--runtime", "torch",
                      "--max-frames", "1", "--rename", "circle=__background__", "--out", str(tmp_path / "pl"),
                      "--quiet")
    assert rc == 2 and "is not a class name a box can have" in err and "--classes" in err
    assert not list((tmp_path / "pl").glob("JPEGImages/*"))


def test_pseudo_label_on_a_folder_with_no_readable_image_is_an_error_as_in_detect(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"not a jpeg at all")
    (folder / "b.png").write_bytes(b"\x89PNG cut")
    for args in (["detect", str(folder), "--weights", "demo", "--runtime", "torch", "--out", str(tmp_path / "d.json")],
                 ["pseudo-label", str(folder), "--teacher", "demo", "--runtime", "torch", "--out",
                  str(tmp_path / "pl"), "--quiet"]):
        rc, _, err = _cli(capsys, *args)
        assert rc == 2, (args[0], err)
        assert f"nothing could be read from {folder}" in err and "a.jpg" in err, (args[0], err)


@pytest.fixture(scope="module")
def voc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("msg") / "shapes", 6, seed=5, fmt="voc", size=(80, 64))


def test_a_detections_file_without_detections_scores_ap_zero(voc: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from core.inference import detections_json

    detect = {"weights": "w.pt", "class_names": list(SHAPE_CLASSES),
              "images": [{"file": "000000.jpg", "width": 80, "height": 64, "detections": []}]}
    assert detections_json("w.pt", SHAPE_CLASSES, detect["images"])["images"] == detect["images"]
    (tmp_path / "detect.json").write_text(json.dumps(detections_json("w.pt", SHAPE_CLASSES, detect["images"])))
    (tmp_path / "coco.json").write_text("[]")
    comp4 = tmp_path / "comp4"
    comp4.mkdir()
    for name in SHAPE_CLASSES[1:]:
        (comp4 / f"comp4_det_trainval_{name}.txt").write_text("")
    for dets in ("detect.json", "coco.json", "comp4"):
        out = tmp_path / f"out_{dets}"
        rc, _, err = _cli(capsys, "eval", "--gt", str(voc), "--split", "trainval", "--dets", str(tmp_path / dets),
                          "--metric", "voc07", "--out", str(out), "--quiet", "--no-plots")
        assert rc == 0, (dets, err)
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["mAP"] == 0.0, dets
        scored = [v for v in metrics["per_class"].values() if v["num_gt"] > 0]
        assert scored and all(v["ap"] == 0.0 and v["num_det"] == 0 for v in scored), dets
        assert any("holds no detections" in w for w in metrics["warnings"]), dets
        assert "holds no detections: every object counts as missed" in err, (dets, err)


def test_a_reference_threshold_is_printed_as_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _cli(capsys, "eval", "--reference", "demo", "--reference-thresh", "0.9999999", "--images",
                      str(DEMO_VIDEO), "--max-frames", "2", "--weights", "demo", "--runtime", "torch",
                      "--metric", "voc07", "--quiet", "--no-plots", "--out", str(tmp_path / "o"))
    assert rc == 2 and "score above 0.9999999 in the 2 frame(s)" in err and "above 1 " not in err


def test_an_mp4_cut_before_its_index_is_said_to_be_incomplete(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from core.io.video_file import mp4_without_index
    from tests.core.videos import write_video

    whole = write_video(tmp_path / "v.mp4", 30)
    assert not mp4_without_index(whole)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])  # a recording that never wrote its 'moov'
    assert b"moov" in whole.read_bytes() and b"moov" not in cut.read_bytes()
    rc, _, err = _cli(capsys, "detect", str(cut), "--weights", "demo", "--out", str(tmp_path / "d.json"))
    assert rc == 2 and "MP4 without its index" in err and "incomplete" in err
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"hello" * 100)
    assert not mp4_without_index(junk)


def test_ssd_info_into_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r, w = os.pipe()
    os.close(r)  # the reader is gone before anything is written, as `| head` after its lines
    try:
        proc = subprocess.run([sys.executable, "-m", "core.cli", "info", "demo"], stdout=w, stderr=subprocess.PIPE,
                              text=True, env=env, cwd=ROOT, timeout=120)
    finally:
        os.close(w)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""


def test_ssd_info_describes_the_model_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _cli(capsys, "info", "demo")
    assert rc == 0
    assert "architecture: ssd300: SSD300 VGG16 at width 0.125, input 300x300" in out
    assert "parameters: 577,182" in out and "multiply-adds per image: 0.57 G" in out
    assert "36 M" not in out and "frames/s" not in out


def test_multiply_adds_are_torchvisions_published_figures_at_full_width() -> None:
    from torchvision.models.detection import SSD300_VGG16_Weights, SSDLite320_MobileNet_V3_Large_Weights

    from core.model.size import multiply_adds

    # torchvision's weights record their giga-operations (multiply-adds) in meta["_ops"]: 34.858 for
    # ssd300_vgg16 and 0.583 for ssdlite320_mobilenet_v3_large, both with the 91 COCO classes
    for arch, weights in (("ssd300", SSD300_VGG16_Weights.COCO_V1),
                          ("ssdlite320_mobilenet_v3_large", SSDLite320_MobileNet_V3_Large_Weights.COCO_V1)):
        counted = multiply_adds(preset(arch, num_classes=91).model) / 1e9
        assert counted == pytest.approx(weights.meta["_ops"], abs=1e-3), arch
    # width 0.5 divides every VGG channel count by 2: a convolution's 3*3*C_in*C_out*H*W falls to a quarter,
    # the heads' outputs (91 classes, 4 offsets) stay: the total lies between a quarter and a half
    ratio = multiply_adds(preset("ssd300", num_classes=91, width=0.5).model) / (34.858e9)
    assert 0.25 < ratio < 0.5
