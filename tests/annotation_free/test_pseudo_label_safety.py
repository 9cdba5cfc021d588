"""Issue 19 items 3, 4, 6 and 15 on pseudo-labelling: a run ended any way (SIGKILL, SIGTERM, a full disk)
before its first index save resumes; two different videos of one name are kept apart and the same video
under another name is recognised; a resume with another precision, runtime or calibration is refused;
a COCO resume after a deleted image keeps its annotation ids unique. Real processes, signals and disks."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.cli import main
from core.data.coco import load_coco
from core.data.pseudo_label_files import STATE_FILE
from core.data.voc import load_voc
from core.pseudo_label import DatasetExistsError, PseudoLabelConfig, pseudo_label
from core.resolve import model_identity

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 small frames of shapes: far more than a run labels before it is killed (and than the 50 frames of a
    first index save)."""
    from core.data.synthetic import render_video

    return render_video(tmp_path_factory.mktemp("long") / "long.mp4", seconds=100, fps=4, seed=3, size=(96, 96))


def _start(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "core.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_first_frame(proc: subprocess.Popen, labels: Path, timeout_s: float = 180.0) -> None:
    """Until the run has labelled its first frame (and, the video being long, long before its first index save)."""
    end = time.monotonic() + timeout_s
    while not (labels.is_dir() and any(p.suffix == ".xml" for p in labels.iterdir())):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < end, "the run wrote no frame"
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGKILL", "SIGTERM"])
def test_a_labelling_killed_before_its_first_save_resumes(long_video: Path, demo_weights: Path, tmp_path: Path,
                                                          signame: str, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "labels"
    args = ["pseudo-label", str(long_video), "--teacher", str(demo_weights), "--out", str(out), "--batch-size", "1",
            "--max-frames", "60", "--runtime", "torch", "--quiet"]
    proc = _start(args)
    _wait_for_first_frame(proc, out / "Annotations")
    proc.send_signal(getattr(signal, signame))
    err = proc.communicate(timeout=120)[1]
    record = json.loads((out / STATE_FILE).read_text())  # written before the first frame
    assert record["complete"] is False and record["settings"]["teacher_sha256"]
    if signame == "SIGTERM":  # handled as Ctrl-C: the frames done are indexed, the command says how to go on
        assert proc.returncode == 130, err
        assert "run the same command to resume" in err
        done = (out / "ImageSets" / "Main" / "trainval.txt").read_text().split()
        assert 0 < len(done) < 50 and record["frames"] == len(done)
    else:
        assert proc.returncode == -signal.SIGKILL
    written = {p.stem for p in (out / "Annotations").glob("*.xml")}
    assert main(args) == 0  # the same command resumes: no "holds no pseudo-labels to resume"
    text = capsys.readouterr().out
    assert f"({len(written)} done before)" in text and "the dataset holds 60 frame(s)" in text
    assert [r.image_id for r in load_voc(out, "trainval").records] == [f"long_{i:06d}" for i in range(60)]


@pytest.mark.slow
def test_train_unlabelled_killed_while_labelling_resumes(long_video: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["train", "--unlabelled", str(long_video), "--teacher", "demo", "--every", "8", "--model", "ssd300",
            "--width", "0.05", "--priors", "coco", "--batch-size", "2", "--max-iterations", "1", "--workers", "0",
            "--threads", "1", "--out", str(run)]
    proc = _start(args)
    _wait_for_first_frame(proc, run / "pseudo_labels" / "Annotations")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    assert (run / "pseudo_labels" / STATE_FILE).is_file()
    again = _start(args)
    err = again.communicate(timeout=600)[1]
    assert again.returncode == 0, err
    assert "pseudo-labels: 50 frame(s)" in err and "labelled before" in err
    assert (run / "model.pt").is_file()


def test_a_full_disk_before_the_first_save_leaves_a_resumable_folder(short_video: Path, demo_weights: Path,
                                                                     full_disk) -> None:  # type: ignore[no-untyped-def]
    out = full_disk.folder / "labels"
    cfg = PseudoLabelConfig((str(short_video),), str(demo_weights), str(out), batch_size=1)

    def fill_after_three(p) -> None:  # type: ignore[no-untyped-def]
        if p.stage == "pseudo-label" and p.done == 3:
            full_disk.fill()

    with pytest.raises(OSError, match="no space left on device"):
        pseudo_label(cfg, on_progress=fill_after_three)
    assert json.loads((out / STATE_FILE).read_text())["complete"] is False
    if full_disk.real:  # the user frees some space (the 256 KiB disk could not hold 12 frames anyway)
        os.remove(full_disk.folder / ".filler")
        subprocess.run(["mount", "-o", "remount,size=4m", str(full_disk.folder)], check=True)
    else:
        full_disk._monkeypatch.undo()
    result = pseudo_label(cfg)
    assert result.frames_skipped == 3 and result.frames_total == 12 and not result.partial
    assert len(load_voc(out, "trainval").records) == 12


def test_two_videos_of_one_name_are_kept_apart_and_a_moved_one_is_recognised(demo_weights: Path, tmp_path: Path
                                                                             ) -> None:
    from core.data.synthetic import render_video

    a = render_video(tmp_path / "a" / "GOPR0001.MP4", seconds=1, fps=4, seed=1, size=(96, 96))
    b = render_video(tmp_path / "b" / "GOPR0001.MP4", seconds=1, fps=4, seed=2, size=(96, 96))
    out = tmp_path / "labels"
    first = pseudo_label(PseudoLabelConfig((str(a),), str(demo_weights), str(out)))
    assert first.frames_written == 4
    second = pseudo_label(PseudoLabelConfig((str(b),), str(demo_weights), str(out)))
    assert second.frames_written == 4 and second.frames_skipped == 0  # not "already labelled"
    assert any("kept apart" in w and str(a) in w for w in second.warnings)
    ids = [r.image_id for r in load_voc(out, "trainval").records]
    tag = [i for i in ids if i.startswith("GOPR0001-")][0].split("_")[0]
    assert ids == [f"GOPR0001_{i:06d}" for i in range(4)] + [f"{tag}_{i:06d}" for i in range(4)]
    record = json.loads((out / STATE_FILE).read_text())
    assert [(s["id"], s["path"]) for s in record["sources"]] == [("GOPR0001", str(a)), (tag, str(b))]
    assert record["sources"][0]["sha256_head"] != record["sources"][1]["sha256_head"]
    # the same footage moved and renamed is the same source: nothing to label again
    moved = tmp_path / "c" / "renamed.mp4"
    moved.parent.mkdir()
    b.rename(moved)
    again = pseudo_label(PseudoLabelConfig((str(moved),), str(demo_weights), str(out)))
    assert again.frames_written == 0 and again.frames_skipped == 4
    # both in one run are kept apart too (they used to be refused: "rename one of them")
    both = pseudo_label(PseudoLabelConfig((str(a), str(moved)), str(demo_weights), str(tmp_path / "both")))
    assert both.frames_written == 8


def test_eval_reference_warns_when_the_detections_are_of_another_video(demo_weights: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    from core.data.synthetic import render_video

    a = render_video(tmp_path / "a" / "clip.mp4", seconds=1, fps=4, seed=1, size=(96, 96))
    b = render_video(tmp_path / "b" / "clip.mp4", seconds=1, fps=4, seed=2, size=(96, 96))
    for video, dets in ((a, tmp_path / "a.json"), (b, tmp_path / "b.json")):
        assert main(["detect", str(video), "--weights", str(demo_weights), "--out", str(dets), "--no-optimize",
                     "--runtime", "torch"]) == 0
    capsys.readouterr()
    base = ["eval", "--reference", str(demo_weights), "--images", str(a), "--metric", "voc07", "--no-plots", "--quiet",
            "--reference-thresh", "0.3"]
    assert main(base + ["--dets", str(tmp_path / "b.json"), "--out", str(tmp_path / "eb")]) == 0
    err = capsys.readouterr().err
    assert f"were made on {b}" in err and f"not on {a}" in err
    assert main(base + ["--dets", str(tmp_path / "a.json"), "--out", str(tmp_path / "ea")]) == 0
    assert "were made on" not in capsys.readouterr().err


def test_resuming_with_another_precision_runtime_or_calibration_is_refused(short_video: Path, demo_weights: Path,
                                                                          tmp_path: Path) -> None:
    out = tmp_path / "labels"
    base = dict(sources=(str(short_video),), teacher=str(demo_weights), out_dir=str(out), max_frames=2)
    pseudo_label(PseudoLabelConfig(**base))  # fp32 on PyTorch
    before = sorted(p.name for p in (out / "Annotations").iterdir())
    for changes, said in (({"runtime": "openvino"}, "runtime='torch'"), ({"precision": "bf16"}, "precision='fp32'"),
                          ({"runtime": "openvino", "precision": "int8"}, "calibration=None")):
        with pytest.raises(DatasetExistsError, match=said):
            pseudo_label(PseudoLabelConfig(**base, **changes))
    assert sorted(p.name for p in (out / "Annotations").iterdir()) == before
    # int8 labellings with other calibration images are two labellings as well (refused before the teacher loads)
    int8 = dict(base, out_dir=str(tmp_path / "int8"), runtime="openvino", precision="int8")
    settings = PseudoLabelConfig(**int8, calibration=str(short_video)).settings(model_identity(demo_weights))
    assert settings["calibration"] == str(short_video.resolve()) and settings["teacher_sha256"]
    (tmp_path / "int8").mkdir()
    (tmp_path / "int8" / STATE_FILE).write_text(json.dumps({"settings": settings, "sources": []}))
    with pytest.raises(DatasetExistsError, match="calibration="):
        pseudo_label(PseudoLabelConfig(**int8, calibration=str(tmp_path)))
    with pytest.raises(DatasetExistsError, match="calibration="):
        pseudo_label(PseudoLabelConfig(**int8))  # the default calibration data


def test_a_coco_resume_after_a_deleted_image_keeps_annotation_ids_unique(short_video: Path, demo_weights: Path,
                                                                         tmp_path: Path) -> None:
    out = tmp_path / "coco"
    cfg = PseudoLabelConfig((str(short_video),), str(demo_weights), str(out), fmt="coco", batch_size=2,
                            score_thresh=0.3)
    asked: list[int] = []
    pseudo_label(cfg, should_stop=lambda: asked.append(1) or len(asked) > 6)
    data = json.loads((out / "annotations.json").read_text())
    first = data["images"][0]
    assert any(a["image_id"] == first["id"] for a in data["annotations"])
    (out / "images" / first["file_name"]).unlink()  # the user deletes a labelled frame
    pseudo_label(cfg)
    data = json.loads((out / "annotations.json").read_text())
    ids = [a["id"] for a in data["annotations"]]
    assert len(ids) == len(set(ids)) and len(data["images"]) == 12
    assert len(load_coco(out / "annotations.json").records) == 12
