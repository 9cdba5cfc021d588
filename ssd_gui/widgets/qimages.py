"""NumPy RGB frames as Qt images: one place for the conversion the canvas and the thumbnails share."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def rgb_to_qimage(image: np.ndarray) -> QImage:
    """Wrap uint8 [H, W, 3] RGB in a QImage without copying.

    The QImage points into ``image``'s buffer: the caller must keep ``image`` alive while
    the QImage is used (:class:`ssd_gui.widgets.frame_canvas.FrameCanvas` stores both).

    Raises:
        ValueError: ``image`` is not uint8 [H, W, 3], naming its dtype and shape.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 [H, W, 3] RGB image, got dtype {image.dtype} shape {image.shape}")
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    return QImage(image.data, w, h, int(image.strides[0]), QImage.Format.Format_RGB888)


def rgb_to_pixmap(image: np.ndarray) -> QPixmap:
    """uint8 [H, W, 3] RGB -> QPixmap (copies the data, so ``image`` may go)."""
    return QPixmap.fromImage(rgb_to_qimage(image).copy())
