"""Must show 1: ``ssd pseudo-label clip.mp4 --teacher torchvision:... / owlv2:... / py:... --format yolo --out d``
end to end (random weights), then ``ssd train --format yolo --data d`` trains on the result; resuming and the never-mix rule hold for
every kind (the identity is the teacher's fingerprint), and a plug-in that fails leaves a readable dataset."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli import main
from core.data.voc import load_voc
from core.data.yolo import load_yolo

TRAIN = ["--model", "ssd300", "--width", "0.05", "--batch-size", "2", "--max-iterations", "2", "--workers", "0",
         "--threads", "1", "--warmup-iters", "0"]


def _label(clip: Path, out: Path, teacher: str, *extra: str) -> int:
    return main(["pseudo-label", str(clip), "--teacher", teacher, "--out", str(out), "--quiet", "--runtime", "torch",
                 *extra])


def _fails(capsys: pytest.CaptureFixture, message: str, rc: int) -> None:
    """``ssd`` ended with exit code 2 and one line on stderr matching ``message``."""
    import re

    err = capsys.readouterr().err
    assert rc == 2 and re.search(message, err), err


def _trains_on(out: Path, run: Path) -> None:
    """``ssd train --format yolo`` on a labelling's train split, validated on its val split."""
    assert main(["train", "--format", "yolo", "--data", str(out), "--train-split", "train", "--val-split", "val",
                 *TRAIN, "--out", str(run)]) == 0
    assert (run / "model.pt").is_file()


def _all_frames(out: Path) -> list:
    """The records of a YOLO labelling's train and val splits, in frame order."""
    return list(load_yolo(out, "train").records) + list(load_yolo(out, "val").records)


@pytest.mark.slow
def test_torchvision_teacher_end_to_end(clip: Path, tmp_path: Path) -> None:
    """fasterrcnn_resnet50_fpn_v2 with random weights (ResNet-50 at 800 px: slow on a CPU, so 2 frames)."""
    from tests.teachers.builders import zoo_state_dict

    weights = zoo_state_dict("fasterrcnn_resnet50_fpn_v2", tmp_path / "frcnn.pth")
    out = tmp_path / "d"
    teacher = f"torchvision:fasterrcnn_resnet50_fpn_v2@{weights}"
    assert _label(clip, out, teacher, "--score-thresh", "0.0", "--max-frames", "2",
                  "--rename", "car=vehicle,truck=vehicle", "--format", "yolo") == 0
    ds = load_yolo(out, "train")
    # COCO's 80 classes (its "N/A" placeholders are no class), two of them merged into one
    assert ds.class_names[:3] == ("__background__", "person", "bicycle") and len(ds.class_names) == 80
    assert "vehicle" in ds.class_names and "car" not in ds.class_names and "truck" not in ds.class_names
    frames = _all_frames(out)
    assert len(frames) == 2 and sum(len(r.labels) for r in frames) > 0
    record = json.loads((out / "pseudo_label.json").read_text())
    assert record["settings"]["teacher"]["model"] == "fasterrcnn_resnet50_fpn_v2"
    _trains_on(out, tmp_path / "run")


def test_owlv2_teacher_end_to_end_and_never_mixed(clip: Path, owlv2_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "d"
    teacher = f"owlv2@{owlv2_dir}:vehicle=car,van,fork lift truck;person"
    assert _label(clip, out, teacher, "--score-thresh", "0.3", "--tiles", "1x2", "--format", "yolo") == 0
    ds = load_yolo(out, "train")
    assert ds.class_names == ("__background__", "vehicle", "person")  # three prompts, one class
    frames = _all_frames(out)
    assert len(frames) == 6 and sum(len(r.labels) for r in frames) > 0
    settings = json.loads((out / "pseudo_label.json").read_text())["settings"]
    assert settings["teacher"]["ontology"] == "vehicle=car,van,fork lift truck;person"
    assert settings["teacher"]["tiles"] == [1, 2]
    _trains_on(out, tmp_path / "run")
    # the same command resumes (nothing to do); another ontology or tiling would mix two labellings: refused
    capsys.readouterr()
    assert _label(clip, out, teacher, "--score-thresh", "0.3", "--tiles", "1x2", "--format", "yolo") == 0
    assert "labelled 0 frame(s) (6 done before)" in capsys.readouterr().out
    for other in ([f"owlv2@{owlv2_dir}:vehicle=car,van;person", "--tiles", "1x2"], [teacher]):
        _fails(capsys, "made with other settings", _label(clip, out, other[0], "--score-thresh", "0.3", *other[1:],
                                                          "--format", "yolo"))


def test_plugin_teacher_end_to_end_and_a_failing_plugin(clip: Path, plugin_path: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "d"
    _fails(capsys, "is a Python plug-in", _label(clip, out, f"py:{plugin_path}:build"))
    assert not out.exists(), "refused before the folder was made"
    assert _label(clip, out, f"py:{plugin_path}:build", "--trust-code", "--batch-size", "2", "--format", "yolo") == 0
    ds = load_yolo(out, "train")
    assert ds.class_names == ("__background__", "square", "circle")
    assert [len(r.labels) for r in _all_frames(out)] == [2] * 6
    _trains_on(out, tmp_path / "run")
    # a plug-in returning NaN: nothing of it is written, the folder holds no dataset half-written
    bad = tmp_path / "bad"
    _fails(capsys, "boxes hold NaN", _label(clip, bad, f"py:{plugin_path}:build_nan", "--trust-code"))
    assert not (bad / "Annotations").exists() or not any((bad / "Annotations").iterdir())
    # one that hangs mid-run: stopped, and the frames done before stay a readable, resumable dataset
    monkeypatch.setenv("SSD_PLUGIN_TIMEOUT", "20")
    hang = tmp_path / "hang"
    flaky = tmp_path / "flaky_teacher.py"
    flaky.write_text(plugin_path.read_text() + (
        "\n_calls = [0]\n\nclass Flaky(Squares):\n    def detect(self, images):\n        _calls[0] += 1\n"
        "        if _calls[0] > 1:\n            import time\n            time.sleep(600)\n"
        "        return super().detect(images)\n\ndef build_flaky():\n    return Flaky()\n"))
    _fails(capsys, "took more than 20 s; its process was stopped",
           _label(clip, hang, f"py:{flaky}:build_flaky", "--trust-code", "--batch-size", "2"))
    partial = load_voc(hang, "trainval")
    assert [r.image_id for r in partial.records] == ["yard_000000", "yard_000001"]
    assert json.loads((hang / "pseudo_label.json").read_text())["complete"] is False


def test_reference_and_detect_take_any_teacher(clip: Path, plugin_path: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    """ssd eval --reference and ssd detect --weights with a plug-in: a model evaluated against itself agrees fully."""
    teacher = f"py:{plugin_path}:build"
    assert main(["eval", "--reference", teacher, "--images", str(clip), "--weights", teacher, "--trust-code",
                 "--metric", "voc07", "--out", str(tmp_path / "eval"), "--quiet", "--no-plots", "--runtime",
                 "torch"]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["mAP"] == pytest.approx(1.0) and "Agreement with a model" in metrics["caveat"]
    assert main(["detect", str(clip), "--weights", teacher, "--trust-code", "--out", str(tmp_path / "d.json"),
                 "--runtime", "torch", "--tiles", "2x2"]) == 0
    doc = json.loads((tmp_path / "d.json").read_text())
    assert doc["class_names"] == ["__background__", "square", "circle"] and doc["frames_done"] == 6
    _fails(capsys, "applies to SSD models", main(["detect", str(clip), "--weights", teacher, "--trust-code", "--out",
                                                  str(tmp_path / "e.json"), "--nms", "soft-linear"]))


def test_train_unlabelled_with_a_teacher_string(clip: Path, plugin_path: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", "--unlabelled", str(clip), "--teacher", f"py:{plugin_path}:build", "--trust-code",
                 "--every", "2", "--teacher-rename", "circle=disc", "--teacher-tiles", "2x1", *TRAIN,
                 "--out", str(run)]) == 0
    ds = load_voc(run / "pseudo_labels", "trainval")
    assert ds.class_names == ("__background__", "square", "disc") and len(ds.records) == 3
    assert (run / "model.pt").is_file()


def test_info_describes_a_teacher_and_distilling_from_one_is_refused(clip: Path, plugin_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    capsys.readouterr()
    assert main(["info", "torchvision:fcos_resnet50_fpn:640"]) == 0
    out = capsys.readouterr().out
    assert "kind: torchvision" in out and "model: fcos_resnet50_fpn" in out and "min_size: 640" in out
    assert "weights_file: fcos_resnet50_fpn_coco-99b0c9b7.pth" in out
    assert main(["info", f"py:{plugin_path}:build"]) == 0  # names and hashes: nothing of the plug-in runs
    assert "target: plug-in square_teacher.py:build" in capsys.readouterr().out
    _fails(capsys, "distillation learns an SSD teacher's scores on each default box",
           main(["train", "--unlabelled", str(clip), "--teacher", "torchvision:fcos_resnet50_fpn",
                 "--distill-from-teacher", *TRAIN, "--out", str(clip.parent / "never")]))
    assert not (clip.parent / "never").exists()
