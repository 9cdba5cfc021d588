"""Configuration: frozen dataclasses and the named presets of the paper.

Every paper constant lives here (prior sizes, variances, thresholds, the 3:1 mining
ratio); the classes that use them receive only their own sub-config.

Presets: ``preset(arch, num_classes, priors=None, width=1.0)`` for every architecture of
:data:`ARCHITECTURES` (the registry the CLI and the GUI list, with a one-line description each),
and the shorthands ``ssd300(num_classes, priors="coco"|"voc", width=1.0)`` and
``ssd512(num_classes, priors="coco"|"voc", width=1.0)``.

``priors="coco"`` for SSD300 reproduces torchvision's ``ssd300_vgg16`` default boxes
(scales 0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05; steps 8, 16, 32, 64, 100, 300);
``priors="voc"`` reproduces the original Caffe / ssd.pytorch VOC boxes (min sizes
30, 60, 111, 162, 213, 264; max sizes 60, 111, 162, 213, 264, 315).

(A little over 400 lines: the family's registry stays next to the presets and prior sets it is
made of, so that every architecture's constants are written in this one file.)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

# torchvision's ssd300_vgg16 normalises 0-1 images with mean (0.48235, 0.45882, 0.40784) and
# std 1/255, i.e. it subtracts these RGB means from 0-255 values (the Caffe VGG means).
TORCHVISION_MEAN_01: tuple[float, float, float] = (0.48235, 0.45882, 0.40784)
IMAGE_MEAN_255: tuple[float, float, float] = tuple(m * 255.0 for m in TORCHVISION_MEAN_01)  # type: ignore[assignment]

BACKGROUND = "__background__"


@dataclass(frozen=True)
class PriorConfig:
    """Default-box tiling.

    Sizes are in pixels of the network input (``image_size``); one entry per feature map.

    Attributes:
        feature_maps: side of each (square) feature map, e.g. (38, 19, 10, 5, 3, 1).
        steps: input pixels per feature-map cell; centres are at ``(j + 0.5) * step / image_size``.
            Empty: centres at ``(j + 0.5) / feature_map`` (torchvision's DefaultBoxGenerator without steps).
        min_sizes: side of the small square box s_k.
        max_sizes: the extra square box has side sqrt(min_size * max_size).
        aspect_ratios: extra ratios per map; each ratio r adds a box r:1 and one 1:r.
        clip: clamp the normalised widths and heights to [0, 1] (torchvision does).
        clip_centers: also clamp the centres to [0, 1], as ssd.pytorch's PriorBox does (it clamps all
            four numbers); this matters where image_size / step < feature map size (e.g. 300 / 32 < 10).
    """

    feature_maps: tuple[int, ...]
    steps: tuple[int, ...]
    min_sizes: tuple[float, ...]
    max_sizes: tuple[float, ...]
    aspect_ratios: tuple[tuple[int, ...], ...]
    clip: bool = True
    clip_centers: bool = False

    def __post_init__(self) -> None:
        for name in ("feature_maps", "steps", "min_sizes", "max_sizes"):
            bad = [v for v in getattr(self, name) if not (math.isfinite(v) and v > 0)]
            if bad:
                raise ValueError(f"PriorConfig.{name} must hold positive numbers, got {bad[0]}")
        n = len(self.feature_maps)
        for name in ("steps", "min_sizes", "max_sizes", "aspect_ratios"):
            if name == "steps" and not self.steps:
                continue
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"PriorConfig.{name} has {len(getattr(self, name))} entries, expected {n} "
                    f"(one per feature map {self.feature_maps})"
                )

    @property
    def boxes_per_location(self) -> tuple[int, ...]:
        """Number of default boxes at each cell of each feature map: 2 + 2 * len(ratios)."""
        return tuple(2 + 2 * len(r) for r in self.aspect_ratios)

    @property
    def num_priors(self) -> int:
        """Total number of default boxes (8732 for SSD300, 24564 for SSD512)."""
        return sum(f * f * a for f, a in zip(self.feature_maps, self.boxes_per_location))


@dataclass(frozen=True)
class ModelConfig:
    """The network: backbone, extras and heads of one of :data:`ARCHITECTURES`.

    Attributes:
        arch: a key of :data:`ARCHITECTURES` ("ssd300", "ssd512", "ssdlite320_mobilenet_v3_large", ...).
        image_size: side of the square network input in pixels.
        num_classes: number of outputs of the classifier, background (index 0) included.
        width: multiplier for every channel count (1.0 is the published network).
        priors: the default-box tiling.
        variances: the box-coder variances (centre, size) of the Caffe code, (0.1, 0.2).
        image_mean, image_std: the network input is ``(RGB - image_mean) / image_std`` on the 0-255
            scale (VGG: the Caffe means and std 1; SSDlite: 127.5 and 127.5, i.e. [-1, 1]).
        l2norm_scale: initial per-channel scale of the conv4_3 L2 normalisation (ParseNet; VGG only).
    """

    arch: str
    image_size: int
    num_classes: int
    priors: PriorConfig
    width: float = 1.0
    variances: tuple[float, float] = (0.1, 0.2)
    image_mean: tuple[float, float, float] = IMAGE_MEAN_255
    l2norm_scale: float = 20.0
    image_std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"ModelConfig.arch must be one of {tuple(ARCHITECTURES)}, got {self.arch!r}")
        if self.num_classes < 2:
            raise ValueError(f"ModelConfig.num_classes must be >= 2 (background + 1), got {self.num_classes}")
        if not (0.0 < self.width <= 4.0):
            raise ValueError(f"ModelConfig.width must be in (0, 4], got {self.width}")
        if len(self.image_std) != 3 or not all(v > 0 for v in self.image_std):
            raise ValueError(f"ModelConfig.image_std must be three positive numbers, got {self.image_std}")
        if self.image_size < 1:
            raise ValueError(f"ModelConfig.image_size must be a positive number of pixels, got {self.image_size}")
        # The box coder divides by the variances: a checkpoint with [0, 0] failed at the first frame.
        if len(self.variances) != 2 or not all(math.isfinite(v) and v > 0 for v in self.variances):
            raise ValueError(f"ModelConfig.variances must be two positive numbers, got {tuple(self.variances)}")
        if len(self.image_mean) != 3 or not all(math.isfinite(v) for v in self.image_mean):
            raise ValueError(f"ModelConfig.image_mean must be three finite numbers (R, G, B), got {self.image_mean}")

    def channels(self, c: int) -> int:
        """Channel count ``c`` of the full network scaled by ``width`` (at least 8)."""
        return max(8, int(round(c * self.width)))


@dataclass(frozen=True)
class MatcherConfig:
    """Matching default boxes to ground truth: IoU >= ``iou_threshold`` is positive."""

    iou_threshold: float = 0.5


@dataclass(frozen=True)
class LossConfig:
    """MultiBox loss: hard negatives mined at ``neg_pos_ratio`` negatives per positive."""

    neg_pos_ratio: float = 3.0
    loc_weight: float = 1.0


NMS_METHODS: tuple[str, ...] = ("hard", "soft-linear", "soft-gaussian")


@dataclass(frozen=True)
class PostprocessConfig:
    """Scores to boxes, as torchvision's SSD: threshold, per-class top-k, NMS, keep.

    ``nms``: "hard" (greedy NMS, torchvision's), or soft-NMS (Bodla et al. 2017), which decays the
    scores of overlapping boxes instead of removing them: "soft-linear" multiplies by ``1 - IoU`` where
    IoU >= ``nms_thresh``, "soft-gaussian" by ``exp(-IoU^2 / soft_sigma)``.
    """

    score_thresh: float = 0.01
    nms_thresh: float = 0.45
    topk_candidates: int = 400
    detections_per_img: int = 200
    nms: str = "hard"
    soft_sigma: float = 0.5

    def __post_init__(self) -> None:
        if self.nms not in NMS_METHODS:
            raise ValueError(f"PostprocessConfig.nms must be one of {NMS_METHODS}, got {self.nms!r}")
        if not self.soft_sigma > 0:
            raise ValueError(f"PostprocessConfig.soft_sigma must be > 0, got {self.soft_sigma}")
        for name in ("score_thresh", "nms_thresh"):
            if not (0.0 <= getattr(self, name) <= 1.0):
                raise ValueError(f"PostprocessConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("topk_candidates", "detections_per_img"):
            if getattr(self, name) < 1:
                raise ValueError(f"PostprocessConfig.{name} must be at least 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class SSDConfig:
    """Everything that defines a detector; stored in every checkpoint."""

    model: ModelConfig
    matcher: MatcherConfig = field(default_factory=MatcherConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists, numbers, strings): safe for ``torch.load(weights_only=True)``."""
        return _lists(asdict(self))

    @staticmethod
    def from_dict(d: dict[str, Any], source: str = "<dict>") -> "SSDConfig":
        """Inverse of :meth:`to_dict`; ``source`` names the file in error messages."""
        try:
            m = dict(d["model"])
            pr = dict(m.pop("priors"))
            priors = PriorConfig(
                feature_maps=tuple(int(v) for v in pr["feature_maps"]),
                steps=tuple(int(v) for v in pr["steps"]),
                min_sizes=tuple(float(v) for v in pr["min_sizes"]),
                max_sizes=tuple(float(v) for v in pr["max_sizes"]),
                aspect_ratios=tuple(tuple(int(a) for a in r) for r in pr["aspect_ratios"]),
                clip=bool(pr.get("clip", True)),
                clip_centers=bool(pr.get("clip_centers", False)),
            )
            model = ModelConfig(
                arch=str(m["arch"]),
                image_size=int(m["image_size"]),
                num_classes=int(m["num_classes"]),
                priors=priors,
                width=float(m.get("width", 1.0)),
                variances=tuple(float(v) for v in m.get("variances", (0.1, 0.2))),  # type: ignore[arg-type]
                image_mean=tuple(float(v) for v in m.get("image_mean", IMAGE_MEAN_255)),  # type: ignore[arg-type]
                l2norm_scale=float(m.get("l2norm_scale", 20.0)),
                image_std=tuple(float(v) for v in m.get("image_std", (1.0, 1.0, 1.0))),  # type: ignore[arg-type]
            )
            return SSDConfig(
                model=model,
                matcher=MatcherConfig(**d.get("matcher", {})),
                loss=LossConfig(**d.get("loss", {})),
                postprocess=PostprocessConfig(**d.get("postprocess", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: invalid SSD config ({type(exc).__name__}: {exc})") from exc


def _lists(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _lists(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_lists(v) for v in x]
    return x


# ----------------------------------------------------------------------------- prior presets

def coco_priors_300() -> PriorConfig:
    """torchvision ``ssd300_vgg16``: scales 0.07..1.05 times 300."""
    scales = (0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05)
    return PriorConfig(
        feature_maps=(38, 19, 10, 5, 3, 1),
        steps=(8, 16, 32, 64, 100, 300),
        min_sizes=tuple(s * 300 for s in scales[:-1]),
        max_sizes=tuple(s * 300 for s in scales[1:]),
        aspect_ratios=((2,), (2, 3), (2, 3), (2, 3), (2,), (2,)),
    )


def voc_priors_300() -> PriorConfig:
    """Original Caffe SSD300 / ssd.pytorch ``voc`` config (with ssd.pytorch's clamping of all four numbers)."""
    return PriorConfig(
        feature_maps=(38, 19, 10, 5, 3, 1),
        steps=(8, 16, 32, 64, 100, 300),
        min_sizes=(30.0, 60.0, 111.0, 162.0, 213.0, 264.0),
        max_sizes=(60.0, 111.0, 162.0, 213.0, 264.0, 315.0),
        aspect_ratios=((2,), (2, 3), (2, 3), (2, 3), (2,), (2,)),
        clip_centers=True,
    )


def _priors_512(sizes: tuple[float, ...]) -> PriorConfig:
    """The Caffe SSD512 tiling (7 maps, steps 8..512) with box sides ``sizes[k]`` .. ``sizes[k+1]``."""
    return PriorConfig(
        feature_maps=(64, 32, 16, 8, 4, 2, 1),
        steps=(8, 16, 32, 64, 128, 256, 512),
        min_sizes=sizes[:-1],
        max_sizes=sizes[1:],
        aspect_ratios=((2,), (2, 3), (2, 3), (2, 3), (2, 3), (2,), (2,)),
    )


def voc_priors_512() -> PriorConfig:
    """Original Caffe SSD512 for VOC: min ratio 0.07 of 512, then 0.15..0.95 by 0.15 (footnote of the paper)."""
    return _priors_512((35.84, 76.8, 153.6, 230.4, 307.2, 384.0, 460.8, 537.6))


def coco_priors_512() -> PriorConfig:
    """Original Caffe SSD512 for COCO: 0.04 of 512 for conv4_3, then 0.1..0.9."""
    return _priors_512((20.48, 51.2, 133.12, 215.04, 296.96, 378.88, 460.8, 542.72))


def ssdlite_priors_320() -> PriorConfig:
    """torchvision's ``ssdlite320_mobilenet_v3_large``: ``DefaultBoxGenerator([[2, 3]] * 6, min_ratio=0.2,
    max_ratio=0.95)`` on maps 20/10/5/3/2/1, no steps (centres at (j + 0.5) / map), 3,234 boxes."""
    n, lo, hi = 6, 0.2, 0.95
    scales = [lo + (hi - lo) * k / (n - 1.0) for k in range(n)] + [1.0]  # torchvision's own arithmetic
    return PriorConfig(
        feature_maps=(20, 10, 5, 3, 2, 1),
        steps=(),
        min_sizes=tuple(s * 320 for s in scales[:-1]),
        max_sizes=tuple(s * 320 for s in scales[1:]),
        aspect_ratios=((2, 3),) * n,
    )


def mobilenet_priors_300() -> PriorConfig:
    """qfgaohao/pytorch-ssd's MobileNet-SSD boxes (its ``mobilenetv1_ssd_config``, shared by its
    MobileNetV2-SSDLite): maps 19/10/5/3/2/1, steps 16..300, sides 60..330 px, ratios 2 and 3 on every
    map, all four numbers clamped to [0, 1]; 3,000 boxes."""
    sizes = (60.0, 105.0, 150.0, 195.0, 240.0, 285.0, 330.0)
    return PriorConfig(
        feature_maps=(19, 10, 5, 3, 2, 1),
        steps=(16, 32, 64, 100, 150, 300),
        min_sizes=sizes[:-1],
        max_sizes=sizes[1:],
        aspect_ratios=((2, 3),) * 6,
        clip_centers=True,
    )


def nvidia_coco_priors_300() -> PriorConfig:
    """NVIDIA DeepLearningExamples SSD300 v1.1 ``dboxes300_coco``: torchvision's COCO scales (21..315 px),
    with all four numbers clamped to [0, 1] as its DefaultBoxes does; 8,732 boxes."""
    return replace(coco_priors_300(), clip_centers=True)


# ImageNet statistics of torchvision's classifiers (NVIDIA's SSD300 normalises with them), 0-255 scale.
IMAGENET_MEAN_255: tuple[float, float, float] = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD_255: tuple[float, float, float] = (0.229 * 255, 0.224 * 255, 0.225 * 255)


@dataclass(frozen=True)
class ArchInfo:
    """One architecture of the family, as :func:`preset` builds it and the CLI and GUI list it.

    Attributes:
        name: the key of :data:`ARCHITECTURES` (``ssd train --model NAME``).
        label: a short display name ("SSDlite320 MobileNetV3-Large").
        description: one line for people: size, speed class on a CPU, where it comes from.
        image_size: side of the square network input.
        priors: the default-box sets it offers, by name; the first is the default.
        image_mean, image_std: input normalisation on the 0-255 scale (see :class:`ModelConfig`).
        postprocess: its published detection thresholds.
        backbone_init: the torchvision ImageNet classifier ``ssd train --backbone FILE`` takes, or None.
        light: meant for CPUs (the default for new training runs on a CPU).
    """

    name: str
    label: str
    description: str
    image_size: int
    priors: dict[str, Callable[[], PriorConfig]]
    image_mean: tuple[float, float, float] = IMAGE_MEAN_255
    image_std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    backbone_init: str | None = None
    light: bool = False


_VGG_PRIORS_300 = {"voc": voc_priors_300, "coco": coco_priors_300}
_VGG_PRIORS_512 = {"voc": voc_priors_512, "coco": coco_priors_512}

ARCHITECTURES: dict[str, ArchInfo] = {a.name: a for a in (
    ArchInfo("ssdlite320_mobilenet_v3_large", "SSDlite320 MobileNetV3-Large",
             "SSDlite320 MobileNetV3-Large: 3.4 M parameters, 0.58 G multiply-adds; light, the fastest on a CPU; "
             "torchvision's (COCO mAP 21.3)",
             320, {"coco": ssdlite_priors_320}, (127.5,) * 3, (127.5,) * 3,  # type: ignore[arg-type]
             PostprocessConfig(score_thresh=0.001, nms_thresh=0.55, topk_candidates=300, detections_per_img=300),
             backbone_init="mobilenet_v3_large", light=True),
    ArchInfo("ssdlite300_mobilenet_v2", "SSDLite300 MobileNetV2",
             "SSDLite300 MobileNetV2: 3.4 M parameters, 0.66 G multiply-adds; light, for CPUs and phones; "
             "qfgaohao/pytorch-ssd (VOC mAP 68.6)",
             300, {"voc": mobilenet_priors_300}, (127.0,) * 3, (128.0,) * 3,  # type: ignore[arg-type]
             backbone_init="mobilenet_v2", light=True),
    ArchInfo("ssd300_mobilenet_v1", "SSD300 MobileNetV1",
             "SSD300 MobileNetV1: 9.5 M parameters, 1.5 G multiply-adds; light, for CPUs; "
             "qfgaohao/pytorch-ssd (VOC mAP 67.5)",
             300, {"voc": mobilenet_priors_300}, (127.0,) * 3, (128.0,) * 3,  # type: ignore[arg-type]
             light=True),
    ArchInfo("ssd300", "SSD300",
             "SSD300 VGG16: 36 M parameters, 35 G multiply-adds; about 2 frames/s on a CPU, real time on a GPU; "
             "the paper's (Liu et al. 2016), torchvision's ssd300_vgg16", 300, _VGG_PRIORS_300, backbone_init="vgg16"),
    ArchInfo("ssd512", "SSD512",
             "SSD512 VGG16: 27 M parameters (VOC), 90 G multiply-adds; heavy, for GPUs; the paper's (Liu et al. 2016)",
             512, _VGG_PRIORS_512, backbone_init="vgg16"),
    ArchInfo("ssd300_resnet50", "SSD300 ResNet-50",
             "SSD300 ResNet-50: 23 M parameters, 20 G multiply-adds; heavy, for GPUs; "
             "NVIDIA DeepLearningExamples SSD300 v1.1 (COCO AP 0.25)",
             300, {"coco": nvidia_coco_priors_300}, IMAGENET_MEAN_255, IMAGENET_STD_255,
             PostprocessConfig(nms_thresh=0.5), backbone_init="resnet50"),
)}


def default_arch(device: str = "cpu") -> str:
    """The architecture a new training run starts with: the light SSDlite on a CPU, SSD300 elsewhere."""
    return "ssdlite320_mobilenet_v3_large" if str(device).split(":")[0] in ("cpu", "") else "ssd300"


def ssd300(num_classes: int = 91, priors: str = "coco", width: float = 1.0) -> SSDConfig:
    """SSD300 preset; ``num_classes`` counts the background."""
    return preset("ssd300", num_classes=num_classes, priors=priors, width=width)


def ssd512(num_classes: int = 21, priors: str = "voc", width: float = 1.0) -> SSDConfig:
    """SSD512 preset: 7 feature maps 64/32/16/8/4/2/1 and the conv12 extra layer."""
    return preset("ssd512", num_classes=num_classes, priors=priors, width=width)


def preset(arch: str, num_classes: int, priors: str | None = None, width: float = 1.0) -> SSDConfig:
    """The configuration of ``arch`` (a key of :data:`ARCHITECTURES`) with one of its prior sets
    (None: its default, the first listed), its normalisation and its detection thresholds."""
    info = ARCHITECTURES.get(arch)
    if info is None:
        raise ValueError(f"unknown preset arch={arch!r}; choose one of {tuple(ARCHITECTURES)}")
    name = next(iter(info.priors)) if priors is None else priors
    if name not in info.priors:
        raise ValueError(f"{arch} has no default-box set priors={priors!r}; choose from {tuple(info.priors)}")
    model = ModelConfig(arch=arch, image_size=info.image_size, num_classes=num_classes, priors=info.priors[name](),
                        width=width, image_mean=info.image_mean, image_std=info.image_std)
    return SSDConfig(model=model, postprocess=info.postprocess)


def with_postprocess(cfg: SSDConfig, **changes: Any) -> SSDConfig:
    """Copy of ``cfg`` with some postprocess fields changed (e.g. ``score_thresh=0.3``)."""
    return replace(cfg, postprocess=replace(cfg.postprocess, **changes))
