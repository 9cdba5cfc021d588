"""Footage for the annotation-free tests: short synthetic videos (real MP4 files, real decoding) and
the bundled demo model as the trusted teacher / reference."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.detector import DEMO_WEIGHTS


@pytest.fixture(scope="session")
def demo_weights() -> Path:
    return DEMO_WEIGHTS


@pytest.fixture(scope="session")
def short_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 frames (240x240, 6 fps) of moving shapes, seed 5."""
    from core.data.synthetic import render_video

    return render_video(tmp_path_factory.mktemp("video") / "shapes.mp4", seconds=2, fps=6, seed=5, size=(240, 240))


@pytest.fixture(autouse=True)
def _restore_torch_threads():  # type: ignore[no-untyped-def]
    """`ssd train --threads 1` sets the process-wide thread count; later tests must not inherit it."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)
