"""Built-in labelled data: cluttered scenes of coloured shapes (:mod:`core.data.scenes`, drawn by
:mod:`core.data.shapes`), written to disk as datasets and videos (:mod:`core.data.synthetic_files`).

Everything is a pure function of integers: scene ``index`` of ``seed`` has the same pixels and boxes
in any process, so a synthetic dataset carries no pixels (``synthetic://<seed>/<index>``).
"""
from core.data.scenes import (EMPTY_SCENE_PROB, JPEG_QUALITY, MAX_OBJECT_FRACTION, MAX_OBJECTS, MIN_OBJECT_PX,
                              SHAPE_CLASSES, ShapeSpec, compose, parse_synthetic_path, render_background, render_scene,
                              synthetic_index, synthetic_path)
from core.data.synthetic_files import MovingScene, render_video, write_dataset

__all__ = ["EMPTY_SCENE_PROB", "JPEG_QUALITY", "MAX_OBJECTS", "MAX_OBJECT_FRACTION", "MIN_OBJECT_PX", "SHAPE_CLASSES",
           "MovingScene", "ShapeSpec", "compose", "parse_synthetic_path", "render_background", "render_scene",
           "render_video", "synthetic_index", "synthetic_path", "write_dataset"]
