"""Frame sources, the writer and drawing, on real files decoded by OpenCV."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.types import Detections
from core.io.video import (
    CameraSource,
    Frame,
    ImageFolderSource,
    SingleImageSource,
    VideoFileSource,
    list_cameras,
    open_source,
    read_image,
)
from core.io.drawing import class_color, draw_detections
from core.io.video_writer import VideoWriter

W, H, N, FPS = 64, 48, 12, 10.0


def _frame_rgb(k: int) -> np.ndarray:
    """Frame k: grey level 20*k, with a red square in the top-left quadrant (checks RGB order)."""
    img = np.full((H, W, 3), 20 * k, np.uint8)
    img[4:20, 4:20] = (255, 0, 0)
    return img


@pytest.fixture()
def video(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, FPS, (W, H)) as w:
        for k in range(N):
            w.write(_frame_rgb(k))
    assert w.frames_written == N
    return path


def _grey(frame: Frame) -> float:
    return float(frame.image[30:, 30:].mean())


def test_video_roundtrip_reads_every_frame_in_rgb(video: Path) -> None:
    with open_source(video) as src:
        assert isinstance(src, VideoFileSource)
        assert src.frame_count == N and src.fps == pytest.approx(FPS)
        assert not src.is_live
        frames = list(src)
    assert [f.index for f in frames] == list(range(N))
    assert frames[3].time_s == pytest.approx(0.3)
    assert frames[0].file == str(video)
    for k, f in enumerate(frames):
        assert f.image.shape == (H, W, 3) and f.image.dtype == np.uint8
        assert abs(_grey(f) - 20 * k) < 6  # lossy codec
    r, g, b = frames[5].image[8:16, 8:16].reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60


def test_video_seek_lands_on_the_requested_frame(video: Path) -> None:
    with open_source(video) as src:
        src.seek(7)
        assert src.position == 7
        f = src.read()
        assert f is not None and f.index == 7 and abs(_grey(f) - 140) < 6
        src.seek(2)
        f = src.read()
        assert f is not None and f.index == 2 and abs(_grey(f) - 40) < 6
        src.seek(10_000)  # clamped to the last frame
        f = src.read()
        assert f is not None and f.index == N - 1
        assert src.read() is None


def test_text_file_named_mp4_is_rejected_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n")
    with pytest.raises(ValueError, match="cannot open video .*notes.mp4"):
        open_source(bad)


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file or folder"):
        open_source(tmp_path / "nope.mp4")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("not an image")
    with pytest.raises(ValueError, match="empty.*holds no images"):
        open_source(empty)


def test_image_folder_sorted_and_skips_broken_images(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for k, name in [(2, "b.png"), (1, "a.jpg"), (3, "c.bmp")]:
        cv2.imwrite(str(folder / name), cv2.cvtColor(_frame_rgb(k), cv2.COLOR_RGB2BGR))
    (folder / "b2.png").write_bytes(b"garbage")
    src = open_source(folder)
    assert isinstance(src, ImageFolderSource) and src.frame_count == 4 and src.fps is None
    frames = list(src)
    assert [Path(f.file).name for f in frames] == ["a.jpg", "b.png", "c.bmp"]
    assert [f.index for f in frames] == [0, 1, 3]
    assert len(src.warnings) == 1 and "b2.png" in src.warnings[0]
    src.seek(2)
    f = src.read()
    assert f is not None and Path(f.file).name == "c.bmp"


def test_single_image_and_bad_images(tmp_path: Path) -> None:
    good = tmp_path / "one.png"
    cv2.imwrite(str(good), cv2.cvtColor(_frame_rgb(4), cv2.COLOR_RGB2BGR))
    src = open_source(good)
    assert isinstance(src, SingleImageSource)
    f = src.read()
    assert f is not None and f.index == 0 and np.array_equal(f.image, _frame_rgb(4))
    assert src.read() is None
    src.seek(0)
    assert src.read() is not None

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        open_source(bad)
    with pytest.raises(ValueError, match="missing.png: image file not found"):
        read_image(tmp_path / "missing.png")


def test_cameras_absent_here_are_reported_not_opened() -> None:
    cams = list_cameras(2)
    assert isinstance(cams, list)
    # Any index not listed must fail with a ValueError that names it, never hang.
    missing = next(i for i in range(10, 20) if i not in cams)
    with pytest.raises(ValueError, match=f"camera {missing}"):
        open_source(f"camera:{missing}")
    with pytest.raises(ValueError, match="camera:x"):
        open_source("camera:x")
    with pytest.raises(ValueError):
        CameraSource(missing)


def test_writer_rejects_wrong_frame_size(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "out" / "v.mp4", 5, (W, H)) as w:
        with pytest.raises(ValueError, match=r"\[48, 64, 3\]"):
            w.write(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="bad fps"):
        VideoWriter(tmp_path / "v2.mp4", 0, (W, H))


def test_class_colors_are_stable_and_distinct() -> None:
    colors = [class_color(i) for i in range(1, 21)]
    assert colors == [class_color(i) for i in range(1, 21)]
    assert len(set(colors)) == 20
    a = np.array(colors, float)
    d = np.sqrt(((a[:, None] - a[None]) ** 2).sum(-1)) + np.eye(20) * 1e9
    assert d.min() > 20


def test_draw_detections_respects_score_and_labels() -> None:
    img = np.zeros((120, 160, 3), np.uint8)
    dets = Detections(np.array([[10, 40, 60, 100], [90, 40, 150, 110]], np.float32),
                      np.array([0.9, 0.3], np.float32), np.array([1, 2], np.int64))
    names = ("__background__", "cat", "dog")
    both = draw_detections(img, dets, names)
    high = draw_detections(img, dets, names, min_score=0.5)
    only_dog = draw_detections(img, dets, names, labels={2})
    assert img.sum() == 0  # the input is not modified
    cat_color, dog_color = class_color(1), class_color(2)

    def has_color(out: np.ndarray, region: tuple[slice, slice], color: tuple[int, int, int]) -> bool:
        return bool((np.abs(out[region].astype(int) - color).sum(-1) < 10).any())

    left_edge = (slice(50, 90), slice(8, 13))     # cat box's left side
    right_edge = (slice(50, 90), slice(88, 93))   # dog box's left side
    assert has_color(both, left_edge, cat_color) and has_color(both, right_edge, dog_color)
    assert has_color(high, left_edge, cat_color) and not has_color(high, right_edge, dog_color)
    assert not has_color(only_dog, left_edge, cat_color) and has_color(only_dog, right_edge, dog_color)


def test_truncated_video_corrects_its_count_and_never_mislabels_a_frame(tmp_path: Path) -> None:
    from tests.core.videos import decodable_frames, frame_number, truncated_mp4, write_video

    cut = truncated_mp4(write_video(tmp_path / "full.mp4", 60), tmp_path / "cut.mp4", keep_frames=29)
    n = decodable_frames(cut)
    assert n == 29 and cv2.VideoCapture(str(cut)).get(cv2.CAP_PROP_FRAME_COUNT) == 60
    with open_source(cut) as src:
        assert isinstance(src, VideoFileSource)
        assert (src.header_frame_count, src.frame_count, src.truncated) == (60, n, True)
        assert len(src.warnings) == 1 and f"ended early: {n} of the 60 frames" in src.warnings[0]
        frames = list(src)
        assert [f.index for f in frames] == list(range(n))
        assert all(frame_number(f.image) == f.index for f in frames)
        for target in (45, 1000, n - 1, 3):  # past the decodable end: the last frame, with its own number
            src.seek(target)
            f = src.read()
            assert f is not None and f.index == frame_number(f.image) == min(target, n - 1)
    with open_source(tmp_path / "full.mp4") as whole:
        assert (whole.frame_count, whole.truncated, whole.warnings) == (60, False, [])
