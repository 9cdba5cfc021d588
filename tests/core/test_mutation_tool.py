"""tools/mutants.py (``make mutants``): the mutants it makes, and a real run on a tiny project whose tests
catch one mutant and miss another, without touching the project's own files."""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from tools import mutants as tool

MODULE = textwrap.dedent('''\
    def clip(x, low, high):
        """Clamp x to [low, high]."""
        if x < low:
            return low
        return high if x > high else x


    def area(w, h):
        return w * h
''')

TESTS = textwrap.dedent('''\
    from pkg.calc import area, clip


    def test_clip():
        assert clip(-1, 0, 5) == 0 and clip(7, 0, 5) == 5 and clip(3, 0, 5) == 3


    def test_area():
        assert area(2, 3) == 6
''')

SPEC = {
    "modules": {"pkg/calc.py": {"tests": ["test_calc.py"]}},
    "mutant": [
        {"file": "pkg/calc.py", "find": "return w * h", "replace": "return w + h"},
        {"file": "pkg/calc.py", "find": "return low", "replace": "return x",
         "equivalent": "wrong on purpose: the tests catch it, and the summary says the list is wrong"},
    ],
}


def _project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "calc.py").write_text(MODULE)
    (root / "test_calc.py").write_text(TESTS)
    (root / "tools").mkdir()
    (root / "tools" / "__init__.py").write_text("")
    shutil.copy(tool.__file__, root / "tools" / "mutants.py")
    return root


def test_every_comparison_is_flipped_and_listed_changes_are_checked(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    made, problems = tool.build_mutants(SPEC, root)
    assert problems == []
    auto = sorted((m.line, m.after) for m in made if m.origin == "auto")
    # the two comparisons of clip, each flipped; the docstring's "[low, high]" and the * are not comparisons
    assert auto == [(3, "if x <= low:"), (5, "return high if x >= high else x")]
    listed = {m.after: m for m in made if m.origin == "listed"}
    assert set(listed) == {"return w + h", "return x"} and listed["return x"].equivalent
    assert all(m.tests == ["test_calc.py"] for m in made)
    # a listed line that is gone from its file, or ambiguous, is reported, not skipped silently
    stale = dict(SPEC, mutant=[{"file": "pkg/calc.py", "find": "return w - h", "replace": "x"},
                               {"file": "pkg/calc.py", "find": "return", "replace": "yield"}])
    _, problems = tool.build_mutants(stale, root)
    assert len(problems) == 2 and "'return w - h' occurs 0 times" in problems[0] and "occurs 3 times" in problems[1]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("namespace", [False, True])
def test_a_run_kills_what_the_tests_catch_and_leaves_the_files_alone(tmp_path: Path, namespace: bool,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Also with the module in a namespace package (a folder without __init__.py inside a package, as
    core/ssd/): the worker imports it afresh for every mutant, and a mutant the tests miss survives even
    after others ran in the same worker."""
    root = _project(tmp_path / "p")
    spec = SPEC
    if namespace:
        (root / "pkg" / "sub").mkdir()
        (root / "pkg" / "calc.py").rename(root / "pkg" / "sub" / "calc.py")
        (root / "test_calc.py").write_text(TESTS.replace("from pkg.calc", "from pkg.sub.calc"))
        spec = {"modules": {"pkg/sub/calc.py": SPEC["modules"]["pkg/calc.py"]},
                "mutant": [dict(m, file="pkg/sub/calc.py") for m in SPEC["mutant"]]}
    made, _ = tool.build_mutants(spec, root)
    # The copies go into a folder of this test's own: another test (or pytest worker) may make and remove
    # copies in the system's temporary folder at the same time.
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tool.tempfile, "tempdir", str(temp))
    # x > high -> x >= high survives: clip(5, 0, 5) is 5 either way, and no test asks at x == high
    made.sort(key=lambda m: m.origin != "listed")  # the two killed first: the survivors run after them
    tool.run_all(made, spec, jobs=1, root=root)
    outcome = {m.after: m.outcome for m in made}
    assert outcome == {"if x <= low:": "survived", "return high if x >= high else x": "survived",
                       "return w + h": "killed", "return x": "killed"}
    text, bad = tool.summary(made)
    name = "pkg/sub/calc.py" if namespace else "pkg/calc.py"
    assert f"| `{name}` | 4 | 2 | 2 | 1 |" in text
    assert f"SURVIVED {name}:3: if x < low:  ->  if x <= low:" in text
    assert "LISTED AS EQUIVALENT BUT KILLED" in text and bad == 3
    assert (root / name).read_text() == MODULE  # the project itself was never changed
    assert list(temp.iterdir()) == []  # its copies are removed


def test_ctrl_c_ends_the_run_and_removes_its_copies(tmp_path: Path) -> None:
    """A real run interrupted (SIGINT) while a mutant's tests run: the workers end, their temporary copies
    are removed, and the project's file is as it was."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root = _project(tmp_path / "p")
    (root / "test_calc.py").write_text(TESTS + textwrap.dedent('''

        def test_slow_when_wrong():
            import time
            if area(2, 3) != 6:  # only the mutant of area takes long: the clean run is quick
                time.sleep(120)
    '''))
    spec = {"modules": {"pkg/calc.py": {"tests": ["test_calc.py::test_slow_when_wrong"], "auto": False}},
            "mutant": [{"file": "pkg/calc.py", "find": "return w * h", "replace": "return w + h"}]}
    temp = tmp_path / "tmp"
    temp.mkdir()
    driver = ("import sys; from pathlib import Path; from tools import mutants as t; "
              f"spec = {spec!r}; made, _ = t.build_mutants(spec, Path({str(root)!r})); "
              f"t.run_all(made, spec, 1, Path({str(root)!r}))")
    env = dict(os.environ, TMPDIR=str(temp), PYTHONPATH=str(Path(tool.__file__).parent.parent))
    proc = subprocess.Popen([sys.executable, "-c", driver], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the mutant's tests run in the worker
            logs = list(temp.glob("ssd-mutants-*/mutants-worker.log"))
            if logs and "===== pkg/calc.py \n" in logs[0].read_text():
                break
            time.sleep(0.2)
        else:
            pytest.fail("the mutant never started")
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert list(temp.iterdir()) == []  # the copy is gone
    assert (root / "pkg" / "calc.py").read_text() == MODULE


def test_a_worker_killed_mid_run_leaves_no_mutant_behind(tmp_path: Path) -> None:
    """A mutant that hangs where pytest-timeout cannot interrupt it (SIGALRM blocked): the worker is killed,
    counted as a timeout, and the next run in the same copy sees the file as it was."""
    root = _project(tmp_path / "p")
    hang = MODULE.replace("return w * h", "import signal, time\n"
                          "    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])\n"
                          "    time.sleep(600)")
    worker = tool.Worker(root, grace=2.0)
    try:
        rc, _ = worker.run("pkg/calc.py", hang, ["test_calc.py::test_area"], timeout=1)
        assert rc == -9
        assert (worker.tree / "pkg" / "calc.py").read_text() == MODULE
        rc, _ = worker.run("pkg/calc.py", None, ["test_calc.py"], timeout=30)
        assert rc == 0
    finally:
        worker.close()
    assert not worker.tree.exists()
