"""Synthetic scenes written to disk: labelled datasets (VOC or COCO layout) and demo videos.

A dataset is written whole or not at all, and never mixed with another one:

* the target folder must not exist yet or be empty; a folder that holds anything else is
  refused before a single file is written (:class:`DatasetExistsError`), unless
  ``overwrite=True`` *and* it holds a dataset (``ImageSets/Main`` or ``annotations.json``),
  whose folder is then replaced as a whole: no file of the old dataset survives, so no old
  image or annotation can mix with the new ones (appending is not offered: new scenes
  under old ids would be exactly that mix);
* the scenes are written into a hidden sibling folder ``.<name>.partial-*`` that is renamed
  into place at the end, so a full disk, Ctrl-C or a cancel leaves the target as it was and no
  half dataset anywhere.

VOC trees hold high-quality JPEGs (quality 95) so that any VOC tool reads them; COCO trees
hold the same JPEGs under ``images/``. Boxes have integer pixel edges, so the VOC 1-based
inclusive form and the COCO ``[x, y, w, h]`` form both store them exactly.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from core.data.scenes import JPEG_QUALITY, SHAPE_CLASSES, ShapeSpec, _random_shape, render_background, render_scene
from core.data.shapes import compose_indexed
from core.io.fileio import apply_umask, check_output_dir, check_output_file, describe_os_error
from core.jobs import ProgressFn, StopFn, check_stop, report

FORMATS: tuple[str, ...] = ("voc", "coco")


class DatasetExistsError(ValueError):
    """The target folder already holds files (and may not, or cannot, be replaced)."""


def _looks_like_dataset(folder: Path) -> bool:
    return (folder / "ImageSets" / "Main").is_dir() or (folder / "annotations.json").is_file()


def check_dataset_target(out_dir: str | Path, overwrite: bool = False) -> Path:
    """Check, before anything is written, that a dataset may be written to ``out_dir``.

    Raises:
        DatasetExistsError: ``out_dir`` holds files and ``overwrite`` is False, or it holds
            something other than a dataset (never replaced, even with ``overwrite``).
        ValueError, OSError: ``out_dir`` is a file, or its parent cannot be written.
    """
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder")
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if entries:
        shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        if not overwrite:
            raise DatasetExistsError(f"{out} is not empty ({len(entries)} entries: {shown}); a new dataset is "
                                     f"never mixed into it")
        if not _looks_like_dataset(out):
            raise DatasetExistsError(f"{out} holds files that are not a dataset ({shown}); it is not replaced, "
                                     f"even when asked to overwrite")
    check_output_dir(out.parent if str(out.parent) else Path("."), "dataset parent folder")
    return out


def _voc_xml(image_id: str, filename: str, width: int, height: int, boxes: np.ndarray, labels: np.ndarray) -> str:
    objs = []
    for (x1, y1, x2, y2), lab in zip(boxes.tolist(), labels.tolist()):
        objs.append(
            f"  <object>\n    <name>{SHAPE_CLASSES[lab]}</name>\n    <pose>Unspecified</pose>\n"
            f"    <truncated>0</truncated>\n    <difficult>0</difficult>\n    <bndbox>\n"
            f"      <xmin>{int(x1) + 1}</xmin>\n      <ymin>{int(y1) + 1}</ymin>\n"
            f"      <xmax>{int(x2)}</xmax>\n      <ymax>{int(y2)}</ymax>\n    </bndbox>\n  </object>\n")
    return (f"<annotation>\n  <folder>synthetic</folder>\n  <filename>{filename}</filename>\n"
            f"  <source><database>ssd-desktop synthetic shapes</database></source>\n"
            f"  <size>\n    <width>{width}</width>\n    <height>{height}</height>\n    <depth>3</depth>\n  </size>\n"
            f"  <segmented>0</segmented>\n{''.join(objs)}</annotation>\n")


def voc_splits_of(ids: list[str]) -> dict[str, list[str]]:
    """VOC's image sets of a synthetic dataset: ``test`` and ``val`` a tenth each (at least one image), ``train``
    the rest, ``trainval`` = train + val (as in VOC, the test images are in neither).

    ``ssd eval`` and the Evaluate view read ``test`` by default: scenes that neither training nor the choice
    of ``best.pt`` (on ``val``) has seen. Order: train, test, then val the last tenth. Under three images the
    sets overlap (one image: every set is that image; two: train the first, val and test the second).
    """
    n = len(ids)
    n_val = max(1, n // 10)
    n_test = max(1, n // 10) if n >= 3 else 0
    train = ids[:n - n_val - n_test] or ids
    val = ids[n - n_val:]
    test = ids[n - n_val - n_test:n - n_val] or val
    return {"trainval": list(dict.fromkeys(train + val)), "train": train, "val": val, "test": test}


def _write_scenes(folder: Path, count: int, seed: int, fmt: str, size: tuple[int, int],
                  on_progress: ProgressFn | None, should_stop: StopFn | None) -> None:
    """Render and write every scene and annotation into ``folder`` (see :func:`write_dataset`)."""
    width, height = size
    img_dir = folder / ("JPEGImages" if fmt == "voc" else "images")
    img_dir.mkdir(parents=True)
    if fmt == "voc":
        (folder / "Annotations").mkdir()
        (folder / "ImageSets" / "Main").mkdir(parents=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    ids: list[str] = []
    coco_images: list[dict] = []
    coco_anns: list[dict] = []
    for i in range(count):
        check_stop(should_stop, f"stopped after {i} of {count} images; nothing was kept")
        image, boxes, labels = render_scene(seed, i, (width, height))
        image_id = f"{i:06d}"
        filename = f"{image_id}.jpg"
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise OSError(f"{img_dir / filename}: could not encode the image")
        (img_dir / filename).write_bytes(jpeg.tobytes())
        if fmt == "voc":
            (folder / "Annotations" / f"{image_id}.xml").write_text(
                _voc_xml(image_id, filename, width, height, boxes, labels), encoding="utf-8")
        else:
            coco_images.append({"id": i + 1, "file_name": filename, "width": width, "height": height})
            for (x1, y1, x2, y2), lab in zip(boxes.tolist(), labels.tolist()):
                w, h = x2 - x1, y2 - y1
                coco_anns.append({"id": len(coco_anns) + 1, "image_id": i + 1, "category_id": int(lab),
                                  "bbox": [x1, y1, w, h], "area": w * h, "iscrowd": 0})
        ids.append(image_id)
        report(on_progress, i + 1, count, "synth")
    if fmt == "voc":
        main = folder / "ImageSets" / "Main"
        for name, split_ids in voc_splits_of(ids).items():
            (main / f"{name}.txt").write_text("".join(f"{i}\n" for i in split_ids))
        (folder / "labels.txt").write_text("".join(f"{n}\n" for n in SHAPE_CLASSES[1:]))
        return
    categories = [{"id": k, "name": n, "supercategory": "shape"} for k, n in enumerate(SHAPE_CLASSES) if k > 0]
    (folder / "annotations.json").write_text(json.dumps({
        "info": {"description": f"ssd-desktop synthetic shapes, seed {seed}"},
        "images": coco_images, "annotations": coco_anns, "categories": categories}), encoding="utf-8")


def _move_into_place(partial: Path, out: Path) -> None:
    """Rename the finished ``partial`` folder to ``out``, replacing an empty or old one."""
    if not out.exists():
        os.rename(partial, out)
        return
    if not any(out.iterdir()):
        out.rmdir()
        os.rename(partial, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    try:
        os.rename(out, old / out.name)
        try:
            os.rename(partial, out)
        except OSError:
            os.rename(old / out.name, out)  # put the old dataset back before reporting
            raise
    except OSError:
        old.rmdir()
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_dataset(out_dir: str | Path, count: int, seed: int, fmt: str = "voc", size: tuple[int, int] = (320, 320),
                  *, overwrite: bool = False, on_progress: ProgressFn | None = None,
                  should_stop: StopFn | None = None) -> Path:
    """Write ``count`` scenes of ``seed`` as a real dataset, whole or not at all (module docstring).

    Layouts:
        ``fmt="voc"``: ``out_dir/{Annotations, JPEGImages, ImageSets/Main/{train,val,trainval,test}.txt,
        labels.txt}`` (:func:`voc_splits_of`: a tenth each for ``val`` and ``test``); returns ``out_dir`` (pass
        it to ``load_voc``).
        ``fmt="coco"``: ``out_dir/{images/, annotations.json}``; returns the JSON path (pass it to
        ``load_coco``).

    Args:
        overwrite: replace a dataset already in ``out_dir`` (see :func:`check_dataset_target`).
        on_progress: gets ``Progress(images done, count, "synth")``.
        should_stop: polled between images; True raises :class:`core.jobs.Cancelled` and
            leaves ``out_dir`` as it was.

    Returns:
        The path to hand to the matching reader.

    Raises:
        DatasetExistsError: see :func:`check_dataset_target` (nothing written).
        OSError: the disk filled or a write failed (nothing kept; the message says why).
    """
    if fmt not in FORMATS:
        raise ValueError(f"synthetic dataset format must be 'voc' or 'coco', got {fmt!r}")
    if count <= 0:
        raise ValueError(f"synthetic dataset count must be positive, got {count}")
    out = check_dataset_target(out_dir, overwrite)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    apply_umask(partial)  # mkdtemp makes it 0700; renamed into place, it is the user's dataset folder
    try:
        _write_scenes(partial, count, seed, fmt, (int(size[0]), int(size[1])), on_progress, should_stop)
        _move_into_place(partial, out)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise OSError(exc.errno, f"could not write the dataset {out}: {describe_os_error(exc)} "
                                 f"({'it is as it was' if out.exists() else 'nothing was kept'})") from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return out if fmt == "voc" else out / "annotations.json"


# --------------------------------------------------------------------------- video

@dataclass
class _Mover:
    spec: ShapeSpec
    vx: float
    vy: float
    spin: float
    base_radius: float
    pulse_amp: float
    pulse_freq: float
    phase: float
    bounce: bool
    object_id: int = 0


class MovingScene:
    """Shapes moving over a fixed background, one frame per call of :meth:`step`.

    Most shapes drift smoothly and bounce off the borders; some fly straight through and leave,
    to be replaced by newcomers entering from outside. Radii pulse slowly (changing scale).

    The renderer knows who is who: every shape has an object id (1, 2, ... in the order they
    appear; a newcomer that replaces a shape that left gets a new one), and :attr:`last_ids` holds the
    ids of the boxes of the last :meth:`step` (the ground truth of a tracking benchmark).
    """

    def __init__(self, seed: int, size: tuple[int, int] = (640, 360), fps: int = 25, num_objects: int = 9) -> None:
        self.width, self.height = int(size[0]), int(size[1])
        self.fps = fps
        self.rng = np.random.default_rng((seed, 1 << 30))
        self.background = render_background(self.rng, self.width, self.height)
        self.t = 0.0
        self._next_id = 1
        self.last_ids = np.zeros((0,), np.int64)
        # The first movers cycle through the classes so that every shape shows in a demo.
        self.movers = [self._spawn(inside=True, label=1 + k % (len(SHAPE_CLASSES) - 1)) for k in range(num_objects)]

    def _spawn(self, inside: bool, label: int | None = None) -> _Mover:
        rng, w, h = self.rng, self.width, self.height
        spec = _random_shape(rng, self.background, w, h)
        if label is not None:
            spec = ShapeSpec(**{**spec.__dict__, "label": label})
        r = float(np.clip(spec.radius, 10.0, 0.28 * min(w, h)))
        speed = rng.uniform(30, 140)  # px per second
        heading = rng.uniform(0, 2 * math.pi)
        bounce = bool(rng.random() < 0.7)
        if not inside:  # start just outside a random border, heading inwards
            side = int(rng.integers(0, 4))
            cx = (-r, w + r, rng.uniform(0, w), rng.uniform(0, w))[side]
            cy = (rng.uniform(0, h), rng.uniform(0, h), -r, h + r)[side]
            heading = math.atan2(h / 2 - cy, w / 2 - cx) + rng.uniform(-0.5, 0.5)
            bounce = False
        else:
            cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
        spec = ShapeSpec(**{**spec.__dict__, "cx": cx, "cy": cy, "radius": r})
        mover = _Mover(spec=spec, vx=speed * math.cos(heading), vy=speed * math.sin(heading),
                       spin=rng.uniform(-1.5, 1.5), base_radius=r, pulse_amp=rng.uniform(0.0, 0.35),
                       pulse_freq=rng.uniform(0.05, 0.3), phase=rng.uniform(0, 2 * math.pi), bounce=bounce,
                       object_id=self._next_id)
        self._next_id += 1
        return mover

    def step(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance one frame. Returns (image uint8 [H, W, 3] RGB, boxes float32 [N, 4], labels int64 [N]);
        the object id of each box is in :attr:`last_ids` (int64 [N])."""
        dt = 1.0 / self.fps
        shapes = []
        for k, m in enumerate(self.movers):
            s = m.spec
            r = m.base_radius * (1.0 + m.pulse_amp * math.sin(2 * math.pi * m.pulse_freq * self.t + m.phase))
            cx, cy = s.cx + m.vx * dt, s.cy + m.vy * dt
            if m.bounce:
                if (cx < r and m.vx < 0) or (cx > self.width - r and m.vx > 0):
                    m.vx = -m.vx
                if (cy < r and m.vy < 0) or (cy > self.height - r and m.vy > 0):
                    m.vy = -m.vy
            elif not (-2 * r <= cx <= self.width + 2 * r and -2 * r <= cy <= self.height + 2 * r):
                self.movers[k] = m = self._spawn(inside=False)
                s, cx, cy, r = m.spec, m.spec.cx, m.spec.cy, m.base_radius
            m.spec = ShapeSpec(**{**s.__dict__, "cx": cx, "cy": cy, "radius": r, "angle": s.angle + m.spin * dt})
            shapes.append(m.spec)
        self.t += dt
        # Large under small (by the fixed base radius, so the stacking never flickers).
        order = sorted(range(len(shapes)), key=lambda k: -self.movers[k].base_radius)
        img, boxes, labels, kept = compose_indexed(self.background, [shapes[k] for k in order])
        self.last_ids = np.asarray([self.movers[order[i]].object_id for i in kept.tolist()], np.int64)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8), boxes, labels

    def frames(self, count: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for _ in range(count):
            yield self.step()

    def frames_with_ids(self, count: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """``count`` frames as (image, boxes, labels, object ids int64 [N])."""
        for _ in range(count):
            image, boxes, labels = self.step()
            yield image, boxes, labels, self.last_ids


def render_video(path: str | Path, seconds: float = 20, fps: int = 25, seed: int = 0,
                 size: tuple[int, int] = (640, 360), *, overwrite: bool = False,
                 on_progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> Path:
    """Write a demo video of moving shapes (mp4, fourcc ``mp4v``) and return its path.

    The video is written through :class:`core.io.video_writer.VideoWriter`: into a temporary file beside
    ``path``, moved into place when complete, so a full disk, Ctrl-C, a kill or a cancel leaves
    ``path`` as it was (and nothing half-written).

    Args:
        path: output file; its folder is created.
        seconds, fps: duration and frame rate.
        seed: the video is a pure function of (seed, size, fps, frame number).
        size: (width, height) in pixels.
        overwrite: replace a file already at ``path``; without it such a file is refused before the
            first frame.
        on_progress: gets ``Progress(frames done, total, "video")``.
        should_stop: polled between frames; True raises :class:`core.jobs.Cancelled` (nothing is written).

    Raises:
        ValueError: bad seconds, fps or size, or ``path`` exists (without ``overwrite``) or is a folder.
        OSError: the file cannot be written (naming it and saying that an earlier file is intact).
    """
    from core.io.video_writer import VideoWriter

    if seconds <= 0 or fps <= 0:
        raise ValueError(f"video needs positive seconds and fps, got seconds={seconds} fps={fps}")
    path = check_output_file(path, "video", overwrite=overwrite)
    width, height = int(size[0]), int(size[1])
    total = max(1, int(round(seconds * fps)))
    scene = MovingScene(seed, (width, height), fps)
    # mp4v whatever the build offers: the demo video stays the same file on every machine.
    with VideoWriter(path, float(fps), (width, height), codec="mp4v") as writer:
        for i, (frame, _, _) in enumerate(scene.frames(total)):
            check_stop(should_stop, f"stopped after {i} of {total} frames")
            writer.write(frame)
            report(on_progress, i + 1, total, "video")
    return path
