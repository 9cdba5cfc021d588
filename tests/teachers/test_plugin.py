"""Python plug-in teachers: a file, a module or an installed entry point, run in a child process; every way a
plug-in can go wrong is named (raises, hangs, crashes, garbage), and nothing runs without the opt-in."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from core.model_spec import UntrustedCodeError
from core.resolve import load_detector, model_identity
from core.teachers.plugin import PluginError
from core.teachers.protocol import TeacherOutputError

FRAME = np.zeros((100, 200, 3), np.uint8)


def test_a_plugin_file_labels_frames(plugin_path: Path) -> None:
    det = load_detector(f"py:{plugin_path}:build", trust_code=True)
    try:
        assert det.class_names == ("__background__", "square", "circle")
        assert det.description == "plug-in square_teacher.py:build (fixed squares)"
        [a, b] = det.detect([FRAME, np.zeros((50, 40, 3), np.uint8)], score_thresh=0.5)
        assert a.boxes.tolist() == [[20, 10, 100, 50], [80, 30, 180, 95]]
        assert a.scores.tolist() == pytest.approx([0.9, 0.7]) and a.labels.tolist() == [1, 2]
        assert b.boxes[0].tolist() == [4, 5, 20, 25]
        [c] = det.detect([FRAME], score_thresh=0.8)  # the threshold applies to plug-ins as to any model
        assert c.labels.tolist() == [1]
        assert model_identity(f"py:{plugin_path}:build", trust_code=True) == {"teacher": det.fingerprint()}
    finally:
        det.close()


def test_torch_tensors_and_a_module_path(plugin_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(plugin_path.parent))  # the child process gets the parent's sys.path
    det = load_detector("py:square_teacher:build_torch", trust_code=True)
    try:
        [d] = det.detect([FRAME])
        assert d.labels.tolist() == [1, 2] and det.fingerprint()["sha256"]
    finally:
        det.close()
    with pytest.raises(ValueError, match="module 'no_such_teacher_module' is not found on the Python path"):
        load_detector("py:no_such_teacher_module:build", trust_code=True)


def test_nothing_runs_without_the_opt_in(plugin_path: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('x')\ndef build():\n    return None\n")
    for call in (lambda: load_detector(f"py:{evil}:build"), lambda: model_identity(f"py:{evil}:build")):
        with pytest.raises(UntrustedCodeError, match="is a Python plug-in: loading it runs its Python code"):
            call()
    assert not marker.exists()


@pytest.mark.parametrize("factory, error, message", [
    ("build_nan", TeacherOutputError, "square_teacher.py:build_nan: image 0: boxes hold NaN or infinity"),
    ("build_shape", TeacherOutputError, r"image 0: boxes must have shape \(N, 4\)"),
    ("build_label", TeacherOutputError, r"image 0: label 2 is out of range: class_names has 2 entries"),
    ("build_raise", PluginError, "square_teacher.py:build_raise: detect\\(\\) failed: RuntimeError: the camera "
                                 "model file is corrupt \\(at square_teacher.py:"),
])
def test_garbage_and_errors_are_named(plugin_path: Path, factory: str, error: type, message: str) -> None:
    det = load_detector(f"py:{plugin_path}:{factory}", trust_code=True)
    try:
        with pytest.raises(error, match=message):
            det.detect([FRAME])
    finally:
        det.close()


@pytest.mark.parametrize("factory, message", [
    ("build_broken", "loading it failed: ImportError: no module named 'my_detector_sdk'"),
    ("build_no_classes", "class_names is empty"),
    ("missing_factory", "has no callable 'missing_factory'"),
])
def test_a_plugin_that_fails_to_load_is_named(plugin_path: Path, factory: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_detector(f"py:{plugin_path}:{factory}", trust_code=True)


def test_a_hanging_plugin_is_stopped_after_the_timeout(plugin_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSD_PLUGIN_TIMEOUT", "8")
    det = load_detector(f"py:{plugin_path}:build_hang", trust_code=True)
    proc = det.teacher._proc
    with pytest.raises(PluginError, match=r"detect\(\) on 1 image\(s\) took more than 8 s; its process was stopped "
                                          r"\(set \$SSD_PLUGIN_TIMEOUT to allow longer\)"):
        det.detect([FRAME])
    assert not proc.is_alive()
    with pytest.raises(PluginError, match="no longer running"):
        det.detect([FRAME])


def test_bad_plugin_strings_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="plug-in file '.*nope.py' not found"):
        load_detector(f"py:{tmp_path}/nope.py:build", trust_code=True)
    with pytest.raises(ValueError, match="the factory after the last ':' must be a Python name"):
        load_detector(f"py:{tmp_path}/nope.py:2x", trust_code=True)
    with pytest.raises(ValueError, match="no plug-in 'yolo' in the entry-point group ssd_desktop.teachers"):
        load_detector("py:yolo", trust_code=True)
    with pytest.raises(ValueError, match="SSD_PLUGIN_TIMEOUT must be > 0"):
        import os

        os.environ["SSD_PLUGIN_TIMEOUT"] = "-1"
        try:
            from core.teachers.plugin import timeout_s

            timeout_s()
        finally:
            del os.environ["SSD_PLUGIN_TIMEOUT"]


def test_an_installed_entry_point(plugin_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package that declares ``[ssd_desktop.teachers] squares = square_teacher:build`` gives ``py:squares``."""
    dist = tmp_path / "square_teachers-1.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: square-teachers\nVersion: 1.2\n")
    (dist / "entry_points.txt").write_text("[ssd_desktop.teachers]\nsquares = square_teacher:build\n")
    (tmp_path / "square_teacher.py").write_text(plugin_path.read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    from core.teachers.plugin import installed_plugins

    assert ("squares", "square_teacher:build") in installed_plugins()
    det = load_detector("py:squares", trust_code=True)
    try:
        assert det.class_names[1:] == ("square", "circle")
        assert det.fingerprint() == {"kind": "plugin", "target": "plug-in squares", "value": "square_teacher:build",
                                     "distribution": "square-teachers 1.2"}
    finally:
        det.close()
    assert "square_teacher" not in sys.modules, "the plug-in ran in its own process, not in this one"


def test_the_readme_plugin_runs(tmp_path: Path) -> None:
    """The plug-in the README shows loads and labels a frame as it is written: a red rectangle drawn at
    x 40..89, y 30..69 (inclusive pixels) is the box (40, 30, 90, 70), filled, so scored 1."""
    import cv2

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("```python\n# red_objects.py")
    code = readme[start + len("```python\n"):readme.index("```", start + 10)]
    (tmp_path / "red_objects.py").write_text(code)
    det = load_detector(f"py:{tmp_path / 'red_objects.py'}:build", trust_code=True)
    try:
        assert det.class_names == ("__background__", "red object")
        assert det.description == "plug-in red_objects.py:build (red blobs by colour)"
        frame = np.full((120, 160, 3), 128, np.uint8)
        cv2.rectangle(frame, (40, 30), (89, 69), (220, 20, 20), -1)  # RGB red
        [d, empty] = det.detect([frame, np.full((60, 80, 3), 128, np.uint8)], score_thresh=0.5)
        assert d.boxes.tolist() == [[40, 30, 90, 70]] and d.scores.tolist() == [1.0] and d.labels.tolist() == [1]
        assert len(empty) == 0
    finally:
        det.close()
