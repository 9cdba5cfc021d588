"""The one image reader (core.io.images.read_image), used by the frame sources and the data loader,
on real files with names OpenCV's own imread cannot open."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.data.loader import read_image_rgb
from core.io.images import read_image
from core.types import ImageRecord
from core.io.video import open_source


def _png_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def _picture() -> np.ndarray:
    img = np.zeros((12, 20, 3), np.uint8)
    img[2:6, 3:9] = (255, 0, 0)  # red, top-left: checks the RGB order
    img[7:11, 12:18] = (0, 0, 255)
    return img


def _write(folder: Path, raw_name: bytes, rgb: np.ndarray) -> Path:
    """A file whose name is the raw bytes ``raw_name`` (as a Linux file system stores it)."""
    path = Path(os.fsdecode(os.path.join(os.fsencode(folder), raw_name)))
    try:
        path.write_bytes(_png_bytes(rgb))
    except (OSError, UnicodeEncodeError) as exc:  # file systems that insist on UTF-8 names
        pytest.skip(f"this file system refuses the name {raw_name!r}: {exc}")
    return path


# UTF-8 (accents, CJK), and Latin-1 bytes that are not UTF-8: a file copied from an old Windows
# disk. Python names the latter with a lone surrogate, on which cv2.imread crashes the process.
NAMES = [pytest.param("café_猫.png".encode(), id="utf8"), pytest.param(b"caf\xe9 photo.png", id="latin1-bytes")]


@pytest.mark.parametrize("raw_name", NAMES)
def test_read_image_opens_non_ascii_names(tmp_path: Path, raw_name: bytes) -> None:
    path = _write(tmp_path, raw_name, _picture())
    assert np.array_equal(read_image(path), _picture())


@pytest.mark.parametrize("raw_name", NAMES)
def test_data_loader_and_folder_source_read_the_same_files(tmp_path: Path, raw_name: bytes) -> None:
    path = _write(tmp_path, raw_name, _picture())
    record = ImageRecord("x", path, 20, 12, np.zeros((0, 4), np.float32), np.zeros((0,), np.int64))
    assert np.array_equal(read_image_rgb(record), _picture())
    with open_source(tmp_path) as src:
        frames = list(src)
    assert [Path(f.file) for f in frames] == [path] and np.array_equal(frames[0].image, _picture())
    assert src.warnings == []


def test_missing_and_undecodable_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"gone\.png: image file not found"):
        read_image(tmp_path / "gone.png")
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match=r"junk\.jpg: could not decode image"):
        read_image(junk)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.png: could not decode image"):
        read_image(empty)
    record = ImageRecord(7, junk, 1, 1, np.zeros((0, 4), np.float32), np.zeros((0,), np.int64))
    with pytest.raises(ValueError, match=r"junk\.jpg: could not decode image .*image id 7"):
        read_image_rgb(record)
