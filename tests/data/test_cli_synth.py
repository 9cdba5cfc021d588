"""`ssd synth`: datasets and videos through the real command line entry point."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.cli import main
from core.data.coco import load_coco
from core.data.synthetic import SHAPE_CLASSES, render_scene
from core.data.voc import load_voc


@pytest.mark.parametrize("fmt", ["voc", "coco"])
def test_synth_dataset(tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "shapes"
    rc = main(["synth", "--out", str(out), "--count", "3", "--seed", "5", "--format", fmt, "--size", "64", "48"])
    assert rc == 0
    captured = capsys.readouterr()
    assert "3/3" in captured.err and str(out) in captured.out
    ds = load_voc(out, "test") if fmt == "voc" else load_coco(out / "annotations.json")
    assert len(ds) == (1 if fmt == "voc" else 3) and ds.class_names == SHAPE_CLASSES
    # scene 1 is the test image of three (train 0, test 1, val 2), the second image of the COCO file
    np.testing.assert_array_equal(ds.records[-1 if fmt == "voc" else 1].boxes, render_scene(5, 1, (64, 48))[1])


def test_synth_video(tmp_path: Path) -> None:
    path = tmp_path / "demo.mp4"
    assert main(["synth", "--video", str(path), "--seconds", "0.4", "--fps", "10", "--size", "80", "48",
                 "--quiet"]) == 0
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 80
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (48, 80, 3)


def test_synth_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--out", str(tmp_path / "x"), "--count", "0"]) == 2
    assert "--count must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["synth", "--count", "3"])  # neither --out nor --video


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_synth_refuses_a_folder_that_holds_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "shapes"
    assert main(["synth", "--out", str(out), "--count", "4", "--seed", "1", "--size", "48", "48", "--quiet"]) == 0
    before = snapshot(out)
    capsys.readouterr()
    for fmt in ("voc", "coco"):
        assert main(["synth", "--out", str(out), "--count", "2", "--seed", "2", "--format", fmt, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"{out} is not empty" in err and "--out NEW_FOLDER" in err and "--overwrite" in err
        assert len(err.strip().splitlines()) == 1
    assert snapshot(out) == before  # not one file written, changed or left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shapes"]


def test_synth_overwrite_replaces_the_dataset_as_a_whole(tmp_path: Path) -> None:
    out = tmp_path / "shapes"
    assert main(["synth", "--out", str(out), "--count", "5", "--seed", "1", "--size", "48", "48", "--quiet"]) == 0
    assert main(["synth", "--out", str(out), "--count", "2", "--seed", "2", "--size", "48", "48", "--quiet",
                 "--overwrite"]) == 0
    assert sorted(p.name for p in (out / "JPEGImages").iterdir()) == ["000000.jpg", "000001.jpg"]
    assert sorted(p.name for p in (out / "Annotations").iterdir()) == ["000000.xml", "000001.xml"]
    ds = load_voc(out, "trainval")
    for i, rec in enumerate(ds.records):
        np.testing.assert_array_equal(rec.boxes, render_scene(2, i, (48, 48))[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shapes"]  # no partial or old folder left


def test_synth_never_replaces_a_folder_that_is_not_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "work" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("mine")
    assert main(["synth", "--out", str(notes.parent), "--count", "2", "--quiet", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "not a dataset" in err and "--out NEW_FOLDER" in err
    assert notes.read_text() == "mine" and [p.name for p in notes.parent.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["synth", "--out", str(empty), "--count", "2", "--size", "32", "32", "--quiet"]) == 0
    assert len(load_voc(empty, "trainval")) == 2


def test_synth_prints_no_developer_hints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for fmt in ("voc", "coco"):
        out = tmp_path / fmt
        assert main(["synth", "--out", str(out), "--count", "2", "--format", fmt, "--size", "32", "32", "--quiet"]) == 0
        printed = capsys.readouterr().out
        assert printed.startswith("wrote 2 images") and str(out) in printed
        assert "core." not in printed and "load_" not in printed


def test_synth_on_a_full_disk_keeps_nothing(full_disk, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    if not full_disk.real:
        pytest.skip("needs a real tmpfs to fill (mount needs root)")
    out = Path(full_disk.folder) / "shapes"
    full_disk.fill()
    assert main(["synth", "--out", str(out), "--count", "3", "--size", "64", "64", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no space left on device" in err and "nothing was kept" in err
    assert sorted(p.name for p in Path(full_disk.folder).iterdir()) == [".filler"]


def test_cancelled_dataset_leaves_the_old_one(tmp_path: Path) -> None:
    from core.data.synthetic_files import write_dataset
    from core.jobs import Cancelled

    out = write_dataset(tmp_path / "ds", 3, seed=1, fmt="coco", size=(32, 32)).parent
    before = snapshot(out)
    seen = []
    with pytest.raises(Cancelled, match="stopped after 2 of 6 images"):
        write_dataset(out, 6, seed=2, fmt="coco", size=(32, 32), overwrite=True, on_progress=seen.append,
                      should_stop=lambda: len(seen) >= 2)
    assert snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def _video_args(path: Path, *extra: str) -> list[str]:
    return ["synth", "--video", str(path), "--seconds", "0.4", "--fps", "10", "--size", "80", "48", "--quiet", *extra]


def test_synth_video_refuses_an_existing_file_and_overwrite_replaces_it(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from core.data.synthetic_files import render_video
    from core.jobs import Cancelled

    path = tmp_path / "demo.mp4"
    assert main(_video_args(path)) == 0
    before = path.read_bytes()
    capsys.readouterr()
    assert main(_video_args(path, "--seed", "1")) == 2
    err = capsys.readouterr().err
    assert f"video {path} exists" in err and "--overwrite" in err
    assert path.read_bytes() == before
    with pytest.raises(ValueError, match="exists"):  # the function refuses too, before the first frame
        render_video(path, 0.4, 10, seed=1, size=(80, 48), should_stop=lambda: pytest.fail("a frame was drawn"))
    with pytest.raises(Cancelled, match="stopped after 0 of 4 frames"):  # a cancel keeps the earlier file
        render_video(path, 0.4, 10, seed=1, size=(80, 48), overwrite=True, should_stop=lambda: True)
    assert path.read_bytes() == before

    assert main(_video_args(path, "--seed", "1", "--overwrite")) == 0
    after = path.read_bytes()
    assert after != before and sorted(p.name for p in tmp_path.iterdir()) == ["demo.mp4"]
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    cap.release()


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_synth_video_interrupted_keeps_the_earlier_file(tmp_path: Path, signame: str) -> None:
    """A real ``ssd synth --video --overwrite`` process stopped by a signal mid-video: the earlier file is
    intact and no temporary file is left."""
    import signal

    from tests.core.test_cli import _ssd, _wait_for

    path = tmp_path / "demo.mp4"
    assert main(_video_args(path)) == 0
    before = path.read_bytes()
    proc = _ssd("synth", "--video", str(path), "--seconds", "600", "--fps", "25", "--size", "64", "48",
                "--overwrite")
    _wait_for(proc, b"video [")
    proc.send_signal(getattr(signal, signame))
    err = proc.communicate(timeout=120)[1].decode()
    assert proc.returncode == 130 and "interrupted" in err, err
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["demo.mp4"]


def test_synth_video_on_a_full_disk_keeps_the_earlier_file(full_disk, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    import os

    path = Path(full_disk.folder) / "demo.mp4"
    assert main(_video_args(path)) == 0
    before = path.read_bytes()
    full_disk.fill()
    args = ["synth", "--video", str(path), "--seconds", "8", "--fps", "25", "--size", "320", "240", "--quiet",
            "--overwrite"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"could not write video {path}: no space left on device (the previous version is intact)" in err, err
    assert path.read_bytes() == before
    if full_disk.real:
        # Room for the encoder to start but not to finish: OpenCV only logs its failed writes, and the
        # file it leaves has no index (no frame decodes). It must not replace the earlier video.
        filler = Path(full_disk.folder) / ".filler"
        os.truncate(filler, filler.stat().st_size - 16 * 1024)
        assert main(args) == 2
        err = capsys.readouterr().err
        assert f"could not write video {path}: no space left on device (the previous version is intact)" in err
        assert path.read_bytes() == before
        assert sorted(p.name for p in Path(full_disk.folder).iterdir()) == [".filler", "demo.mp4"]
