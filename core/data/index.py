"""One way from "a kind of dataset and a path" to a :class:`~core.types.DatasetIndex`.

Training, validation, evaluation, the command line and the GUI all call :func:`build_index`
(or hand a :class:`DatasetSpec` around and call its :meth:`~DatasetSpec.index`), so the rules
live here once:

* ``voc``: ``path`` is a ``VOC20xx`` or ``VOCdevkit`` folder, a list of them, or one string of
  comma-separated folders (VOC07+12); ``split`` is the ``ImageSets/Main`` image set, by default
  :func:`core.data.voc.default_voc_split` (``test``, else ``val``, else ``trainval``).
* ``coco``: ``path`` is the instances JSON; a COCO file is one split, so ``split`` is not used.
* ``yolo``: ``path`` is the folder holding ``data.yaml`` (or that YAML file); ``split`` a split it names,
  by default :func:`core.data.yolo.default_yolo_split` (``test``, else ``val``, else ``train``).
* ``synthetic``: ``count`` scenes of ``seed`` at ``size`` (no files; pixels are re-rendered).

Readers are imported on demand, so a synthetic index never pulls in pycocotools.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from core.types import DatasetIndex

DATASET_KINDS: tuple[str, ...] = ("voc", "coco", "yolo", "synthetic")

PathLike = str | Path
Roots = PathLike | Sequence[PathLike]


def _size(size: int | tuple[int, int] | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    w, h = (int(v) for v in size)
    return w, h


def infer_kind(path: PathLike) -> str:
    """``coco`` for a ``.json`` file, ``yolo`` for a ``.yaml`` file or a folder holding ``data.yaml``, ``voc``
    for another folder (or comma-separated folders).

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: a file that is neither ``.json`` nor ``.yaml``.
    """
    from core.data.yolo import DATA_FILE

    text = str(path)
    if "," in text and not Path(text).exists():
        return "voc"
    p = Path(text).expanduser()
    if p.is_dir():
        return "yolo" if (p / DATA_FILE).is_file() else "voc"
    if p.suffix.lower() == ".json" and p.exists():
        return "coco"
    if p.suffix.lower() in (".yaml", ".yml") and p.exists():
        return "yolo"
    if not p.exists():
        raise FileNotFoundError(f"{p}: ground truth not found")
    raise ValueError(f"{p}: ground truth must be a COCO annotation .json file, a YOLO data.yaml or dataset folder, "
                     f"or a VOC folder")


def build_index(kind: str, path: Roots | None = None, split: str | None = None, *,
                count: int | None = None, seed: int | None = None,
                size: int | tuple[int, int] = (320, 320), image_dir: PathLike | None = None,
                class_names: Sequence[str] | None = None, check_images: bool = True) -> DatasetIndex:
    """Read (or, for synthetic scenes, lay out) a dataset.

    Args:
        kind: one of :data:`DATASET_KINDS`, or ``"auto"`` (:func:`infer_kind` of ``path``).
        path: see the module docstring; unused for ``synthetic``.
        split: VOC image set or YOLO split; None picks :func:`core.data.voc.default_voc_split` /
            :func:`core.data.yolo.default_yolo_split`. Unused for COCO and synthetic data.
        count, seed: synthetic scenes ``0..count-1`` of ``seed`` (both required for ``synthetic``).
        size: synthetic scene size, ``(width, height)`` or one side of a square, in pixels.
        image_dir: COCO image folder (default: see :func:`core.data.coco.load_coco`).
        class_names: VOC class list (entry 0 ``"__background__"``); default ``labels.txt`` or
            the 20 Pascal classes.
        check_images: drop (with a warning) records whose image file is missing; pass False to
            evaluate detections against annotations alone.

    Returns:
        The index; boxes x1, y1, x2, y2 in continuous pixels, ``warnings`` naming each problem.

    Raises:
        ValueError: unknown kind, a missing path, or what the reader refuses (names the file).
    """
    if kind == "auto":
        if path is None or not isinstance(path, (str, Path)):
            raise ValueError(f"dataset kind 'auto' needs one path, got {path!r}")
        kind = infer_kind(path)
    if kind == "synthetic":
        if count is None or seed is None:
            raise ValueError(f"synthetic scenes need a count and a seed (got count={count!r}, seed={seed!r})")
        from core.data.synthetic import synthetic_index

        return synthetic_index(int(count), int(seed), _size(size))
    if kind not in DATASET_KINDS:
        raise ValueError(f"unknown dataset kind {kind!r} (choose {', '.join(DATASET_KINDS)})")
    if path is None or (isinstance(path, str) and not path.strip()):
        what = {"voc": "a VOC folder", "yolo": "a YOLO folder with data.yaml"}.get(kind, "the COCO annotation JSON")
        raise ValueError(f"a {kind.upper()} dataset needs a path: {what} (got {path!r})")
    if kind == "voc":
        from core.data.voc import default_voc_split, load_voc

        return load_voc(path, split if split else default_voc_split(path), class_names,
                        check_images=check_images)
    if not isinstance(path, (str, Path)):
        raise ValueError(f"a {kind.upper()} dataset is one path, got {path!r}")
    if kind == "yolo":
        from core.data.yolo import load_yolo

        return load_yolo(path, split, check_images=check_images)
    from core.data.coco import load_coco

    return load_coco(path, image_dir, check_images=check_images)


def dataset_splits(kind: str, path: Roots) -> tuple[tuple[str, ...], str]:
    """(the splits a VOC or YOLO dataset has, the one read when none is named); ``((), "")`` for other kinds.

    Raises:
        ValueError: ``path`` is not such a dataset (names it).
    """
    if kind == "voc":
        from core.data.voc import default_voc_split, voc_splits

        return voc_splits(path), default_voc_split(path)
    if kind == "yolo" and isinstance(path, (str, Path)):
        from core.data.yolo import default_yolo_split, yolo_splits

        return yolo_splits(path), default_yolo_split(path)
    return (), ""


def describe_ground_truth(spec: Any, index: DatasetIndex) -> str:
    """One line saying what an evaluation reads: which split, how many images, and of how many.

    ``spec``: the :class:`DatasetSpec` (or any ground-truth source) ``index`` was read from. For a VOC or
    YOLO dataset the line names the split, says when it was picked by default (``test``, else ``val``, else
    ``trainval``/``train``) and how many images all splits hold, e.g. ``split 'test' of shapes (the default:
    test, else val, else trainval): 60 of its 600 image(s)``.
    """
    n = len(index.records)
    kind, path, split = getattr(spec, "kind", None), getattr(spec, "path", None), getattr(spec, "split", None)
    if kind == "auto" and isinstance(path, (str, Path)):
        try:
            kind = infer_kind(path)
        except (OSError, ValueError):
            kind = None
    if kind not in ("voc", "yolo") or path is None:
        return f"{index.name}: {n} image(s)"
    try:
        if kind == "voc":
            from core.data.voc import default_voc_split, voc_image_count

            used, total = split or default_voc_split(path), voc_image_count(path)
        else:
            from core.data.yolo import default_yolo_split, yolo_image_count

            used, total = split or default_yolo_split(path), yolo_image_count(path)
    except (OSError, ValueError):
        return f"{index.name}: {n} image(s)"
    how = "" if split else " (the default: test, else val, else " + ("trainval" if kind == "voc" else "train") + ")"
    name = Path(str(path).split(",")[0]).name
    return f"split {used!r} of {name}{how}: {n} of its {total} image(s)"


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset named by plain values (picklable, comparable): what a dialog or a request holds.

    Attributes:
        kind: one of :data:`DATASET_KINDS` (or ``"auto"``).
        path: VOC folder(s) (comma-separated allowed), COCO JSON or YOLO folder; None for synthetic scenes.
        split: VOC image set or YOLO split; None for the default (see :func:`build_index`).
        count, seed, size: synthetic scenes (``size`` one side in pixels, or (width, height)).
        image_dir: COCO image folder, None for the default.
    """

    kind: str
    path: str | None = None
    split: str | None = None
    count: int | None = None
    seed: int | None = None
    size: int | tuple[int, int] = 300
    image_dir: str | None = None

    def index(self, check_images: bool = True) -> DatasetIndex:
        """:func:`build_index` of these values."""
        return build_index(self.kind, self.path, self.split, count=self.count, seed=self.seed, size=self.size,
                           image_dir=self.image_dir, check_images=check_images)

    def describe(self) -> str:
        """A short text for titles and messages, e.g. ``synthetic seed=7 n=20`` or the path."""
        if self.kind == "synthetic":
            w, h = _size(self.size)
            return f"synthetic seed={self.seed} n={self.count} {w}x{h}"
        return f"{self.path}" + (f" ({self.split})" if self.kind in ("voc", "yolo") and self.split else "")


__all__ = ["DATASET_KINDS", "DatasetSpec", "build_index", "dataset_splits", "describe_ground_truth", "infer_kind"]
