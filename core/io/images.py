"""Reading image files: the one reader of the frame sources, the data loader and the GUI.

``cv2.imread`` fails (returns None, silently) on paths that are not ASCII on some platforms,
so files are read as bytes and decoded with ``cv2.imdecode``; the bytes come from Python's
``open``, which handles any file name the operating system does.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

#: File extensions read as still images (lower case; compared case-insensitively).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def is_image_file(path: str | Path) -> bool:
    """True when ``path`` has one of :data:`IMAGE_EXTENSIONS` (the file is not opened)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 [H, W, 3] RGB, C-contiguous.

    Grey and 16-bit files are converted to 8-bit colour by OpenCV (``IMREAD_COLOR``); an alpha
    channel is dropped.

    Raises:
        ValueError: naming the file: it is missing, cannot be read, cannot be decoded, or has
            zero width or height.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: image file not found")
    try:
        data = np.frombuffer(p.read_bytes(), dtype=np.uint8)
    except OSError as exc:
        raise ValueError(f"{p}: cannot read image file ({exc.strerror or exc})") from None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise ValueError(f"{p}: could not decode image (not an image, or a format OpenCV cannot read)")
    if bgr.ndim != 3 or bgr.shape[0] == 0 or bgr.shape[1] == 0:
        raise ValueError(f"{p}: could not decode image (empty image of shape {bgr.shape})")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def check_image(img: Any, i: int) -> None:
    """A ValueError naming image ``i`` unless ``img`` is an HxWx3 uint8 numpy array (RGB) with pixels."""
    if not isinstance(img, np.ndarray):
        raise ValueError(f"image {i} is a {type(img).__name__}, expected a numpy array HxWx3 uint8 RGB")
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image {i} has shape {img.shape}, expected HxWx3 (RGB)")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"image {i} has shape {img.shape}: width and height must be positive")
    if img.dtype != np.uint8:
        raise ValueError(f"image {i} has dtype {img.dtype}, expected uint8")
