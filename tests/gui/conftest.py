"""GUI tests never read or write the user's settings: each test gets its own settings folder."""
from __future__ import annotations

import gc

import pytest


@pytest.fixture(autouse=True)
def collect_on_gui_thread():  # type: ignore[no-untyped-def]
    """Free the Qt wrappers a test leaves in reference cycles here, on the GUI thread: collected later by a
    training job's thread, a window's menus were once destroyed from two threads at once (a deadlock)."""
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch):  # type: ignore[no-untyped-def]
    """Point QSettings' user scope at a fresh folder for the test, and the user's data folder (where new
    training runs go) at another; yields the settings file's path."""
    from PySide6.QtCore import QSettings

    from ssd_gui import settings

    folder = tmp_path_factory.mktemp("settings")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data_home")))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    path = settings.store().fileName()
    assert path.startswith(str(folder)), path
    yield path


@pytest.fixture(scope="session")
def detect_assets(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The tiny model with spread scores, a 20-frame 160x120 clip, a text file named .mp4, broken weights."""
    from tests.gui.assets import make_detect_assets

    return make_detect_assets(tmp_path_factory.mktemp("detect_assets"))


@pytest.fixture()
def detect_view(qtbot):  # type: ignore[no-untyped-def]
    """A shown DetectView (1000x600) on a fresh state, shut down after the test."""
    from ssd_gui.views.detect_view import DetectView

    v = DetectView()
    qtbot.addWidget(v)
    v.resize(1000, 600)
    v.show()
    yield v
    v.shutdown()


@pytest.fixture()
def make_window(qtbot):  # type: ignore[no-untyped-def]
    """``make(**kwargs)``: a shown MainWindow made with ``kwargs``; every window made is closed after the test."""
    from ssd_gui.main_window import MainWindow

    made: list = []

    def make(**kwargs):  # type: ignore[no-untyped-def]
        win = MainWindow(**kwargs)
        qtbot.addWidget(win)
        win.show()
        made.append(win)
        return win

    yield make
    for win in made:
        win.close()
