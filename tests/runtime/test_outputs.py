"""The files the runtime writes, on a full disk and after a kill, and their modes (issue 19, items 12 and 15).

A full disk (a real 256 KiB tmpfs, filled to the last byte) gives one line naming the file and the room left,
keeps the previous file, leaves no temporary; the cache on a full disk is skipped and the network runs
uncached. Every output gets the user's umask.
"""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("openvino")
pytest.importorskip("onnx")

from core import load_detector  # noqa: E402
from tests.runtime.helpers import assert_same_detections, scenes, tiny_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FORMATS = {"onnx": "m.onnx", "openvino": "m.xml", "torchscript": "m.torchscript"}


def _ssd(*args: str, umask: int | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300, preexec_fn=None if umask is None else (lambda: os.umask(umask)))


def _needs_real(full_disk) -> None:  # type: ignore[no-untyped-def]
    if not full_disk.real:
        pytest.skip("needs a real full disk: a tmpfs, which only root can mount here")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("w") / "m.pt")


# -------------------------------------------------------------------------------- item 12: full disk

@pytest.mark.parametrize("fmt", FORMATS)
def test_export_onto_a_full_disk_is_one_line_and_keeps_the_previous_file(fmt: str, weights: Path,
                                                                         full_disk) -> None:  # type: ignore[no-untyped-def]
    _needs_real(full_disk)
    folder = Path(full_disk.folder)
    out = folder / FORMATS[fmt]
    previous = {out: b"the previous export"}
    if fmt == "openvino":
        previous[out.with_suffix(".bin")] = b"its previous weights"
    for path, data in previous.items():
        path.write_bytes(data)
    full_disk.fill()
    r = _ssd("export", str(weights), "--format", fmt, "--out", str(out))
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and "basic_ios" not in r.stderr, r.stderr
    assert f"could not write" in r.stderr and str(out) in r.stderr and "no space left on device" in r.stderr
    assert f"0 bytes free in {folder}" in r.stderr and "[Errno" not in r.stderr
    assert "the previous version is intact" in r.stderr
    assert {p: p.read_bytes() for p in previous} == previous
    assert sorted(p.name for p in folder.iterdir()) == sorted([".filler", *(p.name for p in previous)])


def test_a_full_cache_folder_runs_the_network_uncached(weights: Path, full_disk) -> None:  # type: ignore[no-untyped-def]
    _needs_real(full_disk)
    cache = Path(full_disk.folder) / "cache"
    cache.mkdir()
    full_disk.fill()
    det = load_detector(weights, runtime="openvino", cache_dir=cache)
    assert det.runtime_info["cache"] == "uncached"
    [note] = det.runtime_info["notes"]
    assert f"'{cache}'" in note and "no space left on device" in note and "bytes free" in note and "uncached" in note
    images = scenes(2)
    assert_same_detections(det.detect(images), load_detector(weights).detect(images))
    assert sorted(p.name for p in cache.iterdir()) == []  # no half entry, no temporary folder
    # the command line says it in one line and detects
    img = Path(full_disk.folder).parent / "scene.png"
    import cv2

    cv2.imwrite(str(img), images[0])
    r = subprocess.run([sys.executable, "-m", "core.cli", "detect", str(img), "--weights", str(weights), "--out",
                        str(Path(full_disk.folder).parent / "d.json")], capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT), SSD_CACHE_DIR=str(cache.parent)), timeout=300)
    assert r.returncode == 0, r.stderr
    assert "no space left on device" in r.stderr and "uncached" in r.stderr and "basic_ios" not in r.stderr


# ------------------------------------------------------------------------------ item 15: kills, modes

_KILLED_IR_WRITER = """
import os, sys, time
import core.runtime.formats as formats
from core.runtime.export import export_model
real = os.replace
def stall(src, dst):
    print("writing", flush=True)
    time.sleep(600)
formats.os.replace = stall
export_model(sys.argv[1], "openvino", sys.argv[2])
"""


def _kill_mid_ir_export(weights: Path, xml: Path) -> None:
    """A real ``export_model`` to IR, SIGKILLed once both files are written in its temporary folder."""
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_IR_WRITER, str(weights), str(xml)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def test_a_killed_ir_export_leaves_a_folder_that_the_next_export_removes(weights: Path, tmp_path: Path) -> None:
    from core.runtime.export import export_model

    xml = tmp_path / "m.xml"
    (tmp_path / ".notes.tmp").mkdir()  # the user's, not ours: never removed
    _kill_mid_ir_export(weights, xml)
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".m.xml.")]
    assert len(left) == 1 and left[0].is_dir() and left[0].name.endswith(".tmp"), left
    assert not xml.exists()
    _kill_mid_ir_export(weights, xml)  # the next one removes the first one's folder before it starts its own
    assert len([p for p in tmp_path.iterdir() if p.name.startswith(".m.xml.")]) == 1
    export_model(weights, "openvino", xml)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.tmp", "m.bin", "m.xml"]
    assert load_detector(xml).class_names == load_detector(weights).class_names


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_output_gets_the_users_umask(umask: int, weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    for fmt, name in FORMATS.items():
        r = _ssd("export", str(weights), "--format", fmt, "--out", str(out / name), umask=umask)
        assert r.returncode == 0, r.stderr
    cache = tmp_path / "cache"
    img = tmp_path / "scene.png"
    import cv2

    cv2.imwrite(str(img), scenes(1, (64, 48))[0])
    r = subprocess.run([sys.executable, "-m", "core.cli", "detect", str(img), "--weights", str(weights), "--out",
                        str(out / "dets.json")], capture_output=True, text=True, cwd=ROOT, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(ROOT), SSD_CACHE_DIR=str(cache)),
                       preexec_fn=lambda: os.umask(umask))
    assert r.returncode == 0, r.stderr
    r = _ssd("synth", "--out", str(out / "data"), "--count", "2", "--size", "48", "48", "--seed", "1", "--format", "voc",
             umask=umask)
    assert r.returncode == 0, r.stderr
    want_file, want_dir = 0o666 & ~umask, 0o777 & ~umask
    files = [out / n for n in (*FORMATS.values(), "m.bin", "dets.json")]
    entries = [p for p in (cache / "openvino").iterdir() if p.name != "compiled"]
    assert entries, "no cache entry was written"
    files += [f for e in entries for f in e.iterdir()]
    files += [f for f in (out / "data").rglob("*") if f.is_file()]
    folders = entries + [out / "data"] + [d for d in (out / "data").rglob("*") if d.is_dir()]
    modes = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files + folders}
    assert {k: v for k, v in modes.items() if Path(tmp_path / k).is_file() and v != oct(want_file)} == {}
    assert {k: v for k, v in modes.items() if Path(tmp_path / k).is_dir() and v != oct(want_dir)} == {}
