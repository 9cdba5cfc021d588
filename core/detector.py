"""The detection API used by the CLI and the GUI.

    detector = core.load_detector("demo", device="cpu", precision="fp32")  # core.resolve: any model string
    [dets] = detector.detect([rgb])   # rgb: np.ndarray HxWx3 uint8

Preprocessing matches torchvision's SSD transform (bilinear resize to S x S without
antialiasing, then ``(x / 255 - mean) / std``, mean and std from the model's config: the Caffe means
and 1/255 for VGG, 0.5 and 0.5 for SSDlite, ...); postprocessing is core.ssd.postprocess.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, Sequence

import warnings

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from core.config import SSDConfig, with_postprocess
from core.ssd.matching import BoxCoder
from core.model import SSD, build_model
from core.ssd.postprocess import postprocess_arrays
from core.resources import DEMO_VIDEO, DEMO_WEIGHTS, RESOURCES  # noqa: F401 - the API's demo files
from core.types import Detections
from core.io.images import check_image
from core.weights import LoadedWeights, load_state_into

PRECISIONS = ("fp32", "bf16", "fp16")


def resolve_device(device: str | torch.device) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"``; a clear ValueError when CUDA is not there."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r} (use 'cpu', 'cuda', 'cuda:N' or 'auto')") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r} (use 'cpu' or 'cuda')")
    return dev


def cpu_supports_bf16() -> bool:
    """True where oneDNN has native bf16 kernels (AVX512-BF16 / AMX); elsewhere bf16 is emulated and slow."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def available_devices() -> list[str]:
    """Devices worth offering: ``"cpu"``, plus ``"cuda"`` when torch sees a GPU."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def precisions_for(device: str) -> list[str]:
    """Precisions worth offering on ``device``, fastest-exact first: fp16 needs CUDA; bf16 is
    native on CUDA and on CPUs with AVX512-BF16/AMX (elsewhere it is emulated and slower than fp32)."""
    if str(device).startswith("cuda"):
        return ["fp32", "fp16", "bf16"]
    return ["fp32", "bf16"] if cpu_supports_bf16() else ["fp32"]


class Detector:
    """A model ready to detect: weights on a device, preprocessing and postprocessing.

    ``optimize=True`` (CPU, fp32 only) replaces the eager network by a frozen TorchScript graph at
    construction, see :meth:`_optimize`; ``optimized`` tells whether that happened.

    Attributes:
        config: the SSDConfig (model, postprocess thresholds, ...).
        class_names: index 0 "__background__"; ``class_names[label]`` names a detection.
        device, precision ("fp32", "bf16" or "fp16"), weights_path, weights_format.
    """

    #: What runs the network: "torch" here, "openvino" in core.runtime.network.NetworkDetector.
    runtime = "torch"

    def __init__(self, model: SSD, config: SSDConfig, class_names: Sequence[str], device: str | torch.device = "cpu",
                 precision: str = "fp32", weights_path: Path | None = None, weights_format: str = "own",
                 meta: dict[str, Any] | None = None, optimize: bool = False) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
        self.device = resolve_device(device)
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError("precision 'fp16' needs a CUDA device; on the CPU use 'bf16' or 'fp32'")
        self.config = config
        self.class_names = tuple(class_names)
        self.precision = precision
        self.weights_path = weights_path
        self.weights_format = weights_format
        self.meta = dict(meta or {})
        self.coder = BoxCoder(config.model.variances)
        self.model = model.to(self.device).eval()
        if precision != "fp32":
            # channels-last feeds oneDNN / cuDNN their fastest convolution layout for reduced precision.
            self.model = self.model.to(memory_format=torch.channels_last)
        self._mean = _per_channel(config.model.image_mean, self.device)
        self._std = _per_channel(config.model.image_std, self.device)
        # fp32 on the CPU: the normalisation as a table of its 256 values per channel (see preprocess).
        self._table = _normalisation_table(self._mean, self._std) if self.device.type == "cpu" else None
        self._priors = model.priors(self.device)
        # The graph that forward() runs; replaced by a frozen one when optimize=True (CPU fp32).
        self._runner: Any = self.model
        self.optimized = False
        if optimize:
            self._optimize()

    def _optimize(self) -> None:
        """Freeze the network into a TorchScript graph specialised for inference (CPU, fp32).

        Weights become constants, BatchNorm-free conv+ReLU pairs fuse, and oneDNN gets its
        channels-last layout with weights reordered once (not at every call). The outputs keep
        fp32 precision (differences ~1e-5 in the logits, from another summation order).
        Costs one traced forward pass at load. Other devices and precisions keep eager mode.
        """
        if self.device.type != "cpu" or self.precision != "fp32":
            return
        s = self.image_size
        example = torch.zeros((1, 3, s, s), device=self.device).contiguous(memory_format=torch.channels_last)
        model = self.model.to(memory_format=torch.channels_last)
        with warnings.catch_warnings():
            # torch.jit is deprecated in favour of torch.compile, which needs a minute to compile
            # here for the same speed; the frozen TorchScript graph is ready in seconds.
            warnings.simplefilter("ignore", FutureWarning)
            with torch.no_grad():
                traced = torch.jit.trace(model, example, check_trace=False)
                self._runner = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
        self.optimized = True

    def set_postprocess(self, **changes: Any) -> None:
        """Change the postprocessing of later calls, e.g. ``nms="soft-gaussian"``, ``soft_sigma=0.3`` or
        ``score_thresh=0.2`` (fields of ``core.config.PostprocessConfig``; checked there)."""
        self.config = with_postprocess(self.config, **changes)

    @property
    def image_size(self) -> int:
        return self.config.model.image_size

    @property
    def priors(self) -> Tensor:
        """The default boxes, Tensor[P, 4] cx, cy, w, h normalised to [0, 1], on the detector's device."""
        return self._priors

    def preprocess(self, images: Sequence[np.ndarray]) -> Tensor:
        """list of HxWx3 uint8 RGB -> Tensor[N, 3, S, S] float32, normalised as torchvision's SSD."""
        s = self.image_size
        batch = []
        for i, img in enumerate(images):
            check_image(img, i)
            if self.precision == "fp32" and self._table is not None:
                # torchvision's order (normalise, then resize) so fp32 outputs match it to the last bits.
                # A uint8 pixel has 256 values per channel: the normalisation is one table lookup per
                # value (OpenCV's LUT, one pass), the table computed by the torch operations below,
                # so the same bits. The transposed view has the strides the torch path gives the resize,
                # and the resize is the kernel F.interpolate(t, size=(s, s), mode="bilinear",
                # align_corners=False) calls, without its Python checks: fewer calls to fetch into the
                # processor's caches around the network (see core.ssd.postprocess.postprocess_arrays).
                t = torch.from_numpy(cv2.LUT(np.ascontiguousarray(img), self._table).transpose(2, 0, 1)[None])
                batch.append(torch._C._nn.upsample_bilinear2d(t, (s, s), False, None))
                continue
            t = torch.from_numpy(np.ascontiguousarray(img)).to(self.device).permute(2, 0, 1)[None]
            # In place on the one float copy: the same operations and bits as ``(t / 255 - mean) / std``,
            # without two more image-sized buffers to allocate and fault in.
            if self.precision == "fp32":
                t = _normalise(t, self._mean, self._std)
                batch.append(F.interpolate(t, size=(s, s), mode="bilinear", align_corners=False))
            else:
                # Fast modes resize first: the normalisation then touches S*S pixels, not H*W.
                t = F.interpolate(t.float(), size=(s, s), mode="bilinear", align_corners=False)
                batch.append(t.div_(255.0).sub_(self._mean).div_(self._std))
        return batch[0] if len(batch) == 1 else torch.cat(batch)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Network outputs (cls_logits [N, P, C], bbox_regression [N, P, 4]) in float32."""
        if self.optimized:
            # TorchScript graphs run under no_grad (inference_mode tensors cannot enter them).
            with torch.no_grad():
                logits, deltas = self._runner(x.contiguous(memory_format=torch.channels_last))
            return logits, deltas
        with torch.inference_mode():
            if self.precision == "fp32":
                return self.model(x)
            x = x.contiguous(memory_format=torch.channels_last)
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
            with torch.autocast(self.device.type, dtype=dtype):
                logits, deltas = self.model(x)
            return logits.float(), deltas.float()

    def detect(self, images: Sequence[np.ndarray], score_thresh: float | None = None,
               nms: str | None = None) -> list[Detections]:
        """Detect objects.

        Args:
            images: list of np.ndarray HxWx3 uint8 RGB, any sizes.
            score_thresh: overrides ``config.postprocess.score_thresh`` (0.01).
            nms: "hard", "soft-linear" or "soft-gaussian"; overrides ``config.postprocess.nms`` ("hard").

        Returns:
            One Detections per image: boxes float32 [N, 4] x1y1x2y2 in pixels of that image,
            scores float32 [N] (descending), labels int64 [N] (indices into class_names).
        """
        if len(images) == 0:
            return []
        sizes = [(int(im.shape[1]), int(im.shape[0])) if isinstance(im, np.ndarray) and im.ndim >= 2 else (0, 0)
                 for im in images]
        x = self.preprocess(images)
        with self._outputs_for_decode(x) as (logits, deltas):
            return self.decode(logits, deltas, sizes, score_thresh, nms)

    @contextlib.contextmanager
    def _outputs_for_decode(self, x: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """:meth:`forward`'s outputs for :meth:`detect`, which reads them only inside the ``with`` block (a
        runtime may lend its own output buffers there instead of copying them: core.runtime.network)."""
        yield self.forward(x)

    def decode(self, logits: Tensor, deltas: Tensor, sizes: Sequence[tuple[int, int]],
               score_thresh: float | None = None, nms: str | None = None) -> list[Detections]:
        """Network outputs -> detections: the postprocessing of :meth:`detect` (also for outputs of another
        pass of the same network, e.g. core.evaluation.estimate's dropout pass).

        Args:
            logits: cls_logits [N, P, C]; deltas: bbox_regression [N, P, 4].
            sizes: (width, height) in pixels of each of the N original images.
        """
        with torch.inference_mode():
            results = postprocess_arrays(logits, deltas, self._priors, self.coder, self.config.postprocess,
                                         score_thresh, nms)
        # float32 products, as torch's ``boxes * tensor([w, h, w, h])``
        return [Detections(boxes=boxes * np.array([w, h, w, h], dtype=np.float32), scores=scores, labels=labels)
                for (boxes, scores, labels), (w, h) in zip(results, sizes)]


def _normalise(t: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """uint8 [1, 3, H, W] (any strides) -> float32 ``(t / 255 - mean) / std`` in place on its one float copy."""
    return t.float().div_(255.0).sub_(mean).div_(std)


def _normalisation_table(mean: Tensor, std: Tensor) -> np.ndarray:
    """float32 [1, 256, 3]: entry [0, v, c] is :func:`_normalise` of value v in channel c, computed by the
    same torch operations on a 1 x 256 picture of every value (elementwise, so the same bits)."""
    levels = np.repeat(np.arange(256, dtype=np.uint8).reshape(1, 256, 1), 3, axis=2)  # HxWx3, H=1, W=256
    normalised = _normalise(torch.from_numpy(levels).permute(2, 0, 1)[None], mean.cpu(), std.cpu())
    return np.ascontiguousarray(normalised[0].permute(1, 2, 0).numpy())


def _per_channel(values_255: Sequence[float], device: torch.device) -> Tensor:
    """RGB values on the 0-255 scale as a float32 [1, 3, 1, 1] tensor on the 0-1 scale (rounded once, from float64)."""
    return (torch.tensor(values_255, dtype=torch.float64) / 255.0).float().view(1, 3, 1, 1).to(device)



def detector_from_weights(lw: LoadedWeights, device: str | torch.device = "cpu", precision: str = "fp32",
                          optimize: bool = False) -> Detector:
    """Build a Detector from an already-read weights file (``optimize``: see :class:`Detector`)."""
    if lw.config is None:
        name = "VGG16" if lw.format == "vgg16-imagenet" else lw.format.removesuffix("-imagenet")
        raise ValueError(f"'{lw.path}' is an ImageNet {name} classifier: use it to initialise training "
                         f"(ssd train --backbone), not as a detector")
    model = build_model(lw.config.model)
    load_state_into(model, lw.state_dict, lw.path or "<state dict>")
    return Detector(model, lw.config, lw.class_names, device, precision, lw.path, lw.format, lw.meta, optimize)
