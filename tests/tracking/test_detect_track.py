"""``ssd detect --track --mot --save-video`` as a user runs it (a real process, the demo model, a rendered clip):
the JSON's "track" ids follow the objects, the MOTChallenge file holds exactly the tracked detections, and the
decoded video shows each id's tag in its class colour where the drawing puts it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.data.synthetic import MovingScene, render_video
from core.io.drawing import class_color
from core.tracking.association import box_iou
from core.tracking.draw import id_tag_rect, id_text

FRAMES, SEED = 8, 700_997


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """The clip detected twice, with and without --track."""
    folder = tmp_path_factory.mktemp("detect_track")
    clip = render_video(folder / "clip.mp4", FRAMES / 25, 25, SEED, (300, 300))

    def ssd(*args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "core.cli", "detect", str(clip), "--weights", "demo",
                               "--runtime", "torch", "--score-thresh", "0.5", *args],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr

    ssd("--out", str(folder / "t.json"), "--save-video", str(folder / "t.mp4"), "--mot", str(folder / "t.txt"),
        "--track")
    ssd("--out", str(folder / "p.json"), "--save-video", str(folder / "p.mp4"))
    return {k: folder / k for k in ("t.json", "t.mp4", "t.txt", "p.json", "p.mp4")}


def _images(path: Path) -> list[dict]:
    return json.loads(path.read_text())["images"]


@pytest.mark.slow  # the clip detected twice by a real `ssd detect` (a minute on two busy cores)
def test_json_track_ids_follow_the_objects(runs) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(runs["t.json"].read_text())
    images = doc["images"]
    assert [im["frame"] for im in images] == list(range(FRAMES))
    assert all("track" in d for im in images for d in im["detections"])
    assert "track" not in _images(runs["p.json"])[0]["detections"][0]  # without --track: no such key
    truth = list(MovingScene(SEED, (300, 300), 25).frames_with_ids(FRAMES))
    objects: dict[int, set[int]] = {}   # track id -> the renderer's ids of the objects its boxes cover
    seen: dict[int, set[int]] = {}
    for im, (_, boxes, _, object_ids) in zip(images, truth):
        ids = [d["track"] for d in im["detections"] if d["track"] is not None]
        assert len(ids) == len(set(ids))  # one box per track and frame
        for d in im["detections"]:
            if d["track"] is None:
                continue
            seen.setdefault(d["label"], set()).add(d["track"])
            iou = box_iou(np.array([d["box"]]), boxes)[0]
            if iou.max(initial=0) >= 0.5:
                objects.setdefault(d["track"], set()).add(int(object_ids[int(iou.argmax())]))
    assert all(len(v) == 1 for v in objects.values()), objects  # no track jumps to another object
    last = objects
    assert len(last) >= 5  # the clip shows nine shapes
    assert doc["tracker"]["method"] == "bytetrack" and doc["tracker"]["high_thresh"] == 0.5
    assert doc["tracker"]["objects"] == {str(k): len(v) for k, v in sorted(seen.items())}
    # the detections themselves are those of the run without tracking
    plain = _images(runs["p.json"])
    assert [[d["box"] for d in im["detections"]] for im in images] == [[d["box"] for d in im["detections"]]
                                                                      for im in plain]


@pytest.mark.slow  # the clip detected twice by a real `ssd detect` (a minute on two busy cores)
def test_mot_file_is_the_tracked_detections(runs) -> None:  # type: ignore[no-untyped-def]
    expected = []
    for im in _images(runs["t.json"]):
        for d in sorted((d for d in im["detections"] if d["track"] is not None), key=lambda d: d["track"]):
            x1, y1, x2, y2 = d["box"]
            expected.append((im["frame"] + 1, d["track"], x1, y1, x2 - x1, y2 - y1, d["score"]))
    rows = [line.split(",") for line in runs["t.txt"].read_text().splitlines()]
    assert all(len(r) == 10 and r[7:] == ["-1", "-1", "-1"] for r in rows)
    got = [(int(r[0]), int(r[1]), *(float(v) for v in r[2:7])) for r in rows]
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    assert np.allclose([g[2:] for g in got], [e[2:] for e in expected], atol=2e-3)


@pytest.mark.slow  # the clip detected twice by a real `ssd detect` (a minute on two busy cores)
def test_video_shows_each_id_in_its_class_colour(runs) -> None:  # type: ignore[no-untyped-def]
    images = _images(runs["t.json"])
    tracked, plain = cv2.VideoCapture(str(runs["t.mp4"])), cv2.VideoCapture(str(runs["p.mp4"]))
    checked = 0
    for im in images:
        ok_t, frame_t = tracked.read()
        ok_p, frame_p = plain.read()
        assert ok_t and ok_p
        if im["frame"] < 2:
            continue
        rgb_t, rgb_p = (cv2.cvtColor(f, cv2.COLOR_BGR2RGB).astype(int) for f in (frame_t, frame_p))
        h, w = rgb_t.shape[:2]
        boxes = np.array([d["box"] for d in im["detections"]]).reshape(-1, 4)
        for k, d in enumerate(im["detections"]):
            if d["track"] is None:
                continue
            x1, y1, x2, y2 = id_tag_rect(np.array(d["box"]), id_text(d["track"]), (w, h), max(0.35, min(h, w) / 900))
            others = np.delete(boxes, k, axis=0)
            clear = not ((others[:, 0] < x2 + 4) & (others[:, 2] > x1 - 4) & (others[:, 1] < y2 + 4)
                         & (others[:, 3] > y1 - 4)).any()
            if not clear or x2 - x1 < 8 or y2 - y1 < 8:
                continue  # another box's outline or caption could cover the tag
            color = np.array(class_color(d["label"]))
            tag_t = np.median(rgb_t[y1 + 1:y2, x1 + 1:x2].reshape(-1, 3), axis=0)
            tag_p = np.median(rgb_p[y1 + 1:y2, x1 + 1:x2].reshape(-1, 3), axis=0)
            assert np.abs(tag_t - color).max() <= 40, (im["frame"], d, tag_t, color)
            assert np.abs(tag_p - color).max() > 40  # without tracking the picture there is something else
            checked += 1
    assert checked >= 3


def _ssd_detect(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", "detect", *args], capture_output=True, text=True,
                          timeout=300)


def test_tracking_images_or_a_mot_file_on_another_output_is_refused_before_the_model_loads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((32, 32, 3), np.uint8))
    # a weights file that does not exist: a refusal before the model loads never gets to say so
    missing = str(tmp_path / "no_such_model.pt")
    done = _ssd_detect(str(folder), "--weights", missing, "--track", "--out", str(tmp_path / "d.json"))
    assert done.returncode != 0 and "tracking needs a video or a camera; images is an image or a folder" in done.stderr
    assert "no_such_model" not in done.stderr and not (tmp_path / "d.json").exists()
    same = str(tmp_path / "same.json")
    done = _ssd_detect(str(folder), "--weights", missing, "--out", same, "--mot", same)
    assert done.returncode != 0 and "are the same file" in done.stderr and "MOTChallenge" in done.stderr
    done = _ssd_detect(str(folder), "--weights", missing, "--out", same, "--track-thresh", "0.3")
    assert done.returncode != 0 and "--track-thresh needs --track" in done.stderr
