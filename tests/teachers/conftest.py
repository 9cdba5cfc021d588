"""Session-wide tiny teachers on disk (built once: a transformers model takes seconds to build)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.teachers import builders


@pytest.fixture(scope="session")
def owlv2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers", reason="the zero-shot extra: pip install '.[zero-shot]'")
    return builders.owlv2_folder(tmp_path_factory.mktemp("owlv2") / "tiny-owlv2")


@pytest.fixture(scope="session")
def gdino_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers", reason="the zero-shot extra: pip install '.[zero-shot]'")
    return builders.grounding_dino_folder(tmp_path_factory.mktemp("gdino") / "tiny-gdino")


@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return builders.plugin_file(tmp_path_factory.mktemp("plugin"))


@pytest.fixture(scope="session")
def frcnn_mobile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fasterrcnn_mobilenet_v3_large_320_fpn with random weights (BatchNorm measured, class layer scaled: distinct scores)."""
    return builders.zoo_state_dict("fasterrcnn_mobilenet_v3_large_320_fpn",
                                   tmp_path_factory.mktemp("zoo") / "frcnn_mobile.pth", spread=0.03)


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 frames (160x120, 3 fps) of moving shapes: a real MP4, decoded for real."""
    from core.data.synthetic import render_video

    return render_video(tmp_path_factory.mktemp("clip") / "yard.mp4", seconds=2, fps=3, seed=7, size=(160, 120))
