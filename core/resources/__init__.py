"""Files that ship with the package (package data, so ``pip install .`` carries them too):
the demo model and the demo video that the app opens at start-up.

Reproduce them with ``python -m core.engine.demo`` (see the README).
"""
from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent
#: VGG16-SSD300 at width 0.125 trained on the synthetic shapes (8 classes); also the name ``demo``.
DEMO_WEIGHTS = RESOURCES / "demo_model.pt"
#: A 20 s synthetic scene video for the demo model.
DEMO_VIDEO = RESOURCES / "demo.mp4"
