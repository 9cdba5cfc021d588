"""The Evaluate tab's state, without Qt: what to evaluate on which ground truth, the last evaluation,
the evaluation kept for comparison, and how they are looked at (confidence threshold, AP metric,
selected classes, the confusion matrix cell whose images the strip shows).

Every figure shown for a threshold comes from the one matching pass in ``output`` (its
``result.sweep``), so moving the threshold only looks values up; the confusion matrix, the
confidence curves and the comparison are core functions called on that pass.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.engine.config import VAL_SEED
from ssd_gui.state.events import Events

DATASET_KINDS: tuple[tuple[str, str], ...] = (
    ("synthetic", "Synthetic shapes"), ("voc", "VOC folder"), ("coco", "COCO JSON"), ("yolo", "YOLO folder"),
    ("reference", "Reference model"), ("estimate", "No labels: estimate accuracy"))
THRESHOLD_STEP = 0.001
METRIC_NAMES: tuple[tuple[str, str], ...] = (("voc12", "VOC2010+"), ("voc07", "VOC07 11-point"), ("coco", "COCO"))


@dataclass(frozen=True)
class EvalInputs:
    """The Evaluate form's values.

    Attributes:
        use_model: evaluate ``weights`` (run over the images) rather than the ``detections`` file.
        kind: one of :data:`DATASET_KINDS`' keys; ``path`` the VOC folder(s), COCO JSON or YOLO folder;
            ``split`` the VOC image set or YOLO split ("" for the default: test, else val, else trainval
            (YOLO: train)).
        count, seed, size: synthetic scenes (square side in pixels).
        device: where the model runs; ``runtime`` and ``precision`` how (see :func:`core.runtime.runtime_choices`).
        nms: the evaluated model's NMS ("" keeps the model's own, else one of :data:`core.config.NMS_METHODS`).
        reference, reference_thresh, every: kind "reference": the reference model whose detections with a
            score above ``reference_thresh`` on ``path`` (a video, an image folder or an image), one frame
            in ``every``, are the ground truth (:class:`core.evaluation.reference.ReferenceSource`).
        calibration_data: kind "estimate": labelled images to calibrate the accuracy estimate on ("" for the
            data the checkpoint records); ``path`` is then the footage.
    """

    use_model: bool = True
    weights: str = ""
    detections: str = ""
    kind: str = "synthetic"
    path: str = ""
    split: str = ""
    count: int = 50
    seed: int = VAL_SEED
    size: int = 300
    device: str = "cpu"
    runtime: str = "torch"
    precision: str = "fp32"
    nms: str = ""
    reference: str = ""
    reference_thresh: float = 0.5
    every: int = 1
    calibration_data: str = ""

    @property
    def source(self) -> str:
        """The file being evaluated ("" when none is chosen)."""
        return (self.weights if self.use_model else self.detections).strip()

    def ground_truth(self) -> Any:
        """The ground-truth source these values describe (a ``DatasetSpec`` or a ``ReferenceSource``).

        Raises:
            ValueError: a required path is empty or the kind is unknown.
        """
        from core.data.index import DatasetSpec

        if self.kind not in [k for k, _ in DATASET_KINDS]:
            raise ValueError(f"unknown dataset kind {self.kind!r}; choose from {[k for k, _ in DATASET_KINDS]}")
        if self.kind == "synthetic":
            return DatasetSpec("synthetic", count=self.count, seed=self.seed, size=self.size)
        if self.kind == "estimate":
            raise ValueError("an accuracy estimate has no ground truth: see EvalInputs.estimate_request")
        if not self.path.strip():
            what = {"voc": "VOC folder", "coco": "COCO annotation JSON", "yolo": "YOLO dataset folder",
                    "reference": "video, image folder or image for the reference model"}[self.kind]
            raise ValueError(f"choose the {what} to evaluate on")
        if self.kind == "reference":
            from core.evaluation.reference import ReferenceSource

            if not self.reference.strip():
                raise ValueError("choose the reference model whose detections are the ground truth")
            # The trusted model runs as the exact PyTorch fp32 reference, as ``ssd eval --reference`` runs it.
            return ReferenceSource(self.reference.strip(), self.path.strip(), threshold=self.reference_thresh,
                                   every=self.every, device=self.device)
        split = (self.split.strip() or None) if self.kind in ("voc", "yolo") else None
        return DatasetSpec(self.kind, self.path.strip(), split)

    def request(self, ground_truth: Any = None) -> Any:
        """The :class:`core.evaluation.run.EvaluationRequest` these values describe (with COCO metrics).

        Args:
            ground_truth: use this source instead of :meth:`ground_truth` (a reference already run).

        Raises:
            ValueError: a required path is empty or the kind is unknown.
        """
        from core.evaluation.run import EvaluationRequest

        if not self.source:
            raise ValueError("choose a model file (or the demo model) or a detections file to evaluate")
        truth = self.ground_truth() if ground_truth is None else ground_truth
        model = {"runtime": self.runtime, "precision": self.precision, "nms": self.nms or None} if self.use_model else {}
        return EvaluationRequest(truth, weights=self.source if self.use_model else None,
                                 detections=None if self.use_model else self.source,
                                 metric="voc07", with_coco=True, device=self.device, **model)

    def estimate_request(self) -> Any:
        """The :class:`core.evaluation.estimate.EstimateRequest` of kind "estimate" (the model on ``path``).

        Raises:
            ValueError: no model (a detections file cannot be perturbed) or no footage.
        """
        from core.evaluation.estimate import EstimateRequest

        if not self.use_model or not self.weights.strip():
            raise ValueError("choose a model file (or the demo model) to estimate: the estimate runs the model "
                             "several times, which a detections file cannot do")
        if not self.path.strip():
            raise ValueError("choose the video, image folder or image whose accuracy to estimate")
        return EstimateRequest(self.weights.strip(), self.path.strip(), calibration_data=self.calibration_data.strip()
                               or None, every=self.every, device=self.device, runtime=self.runtime,
                               precision=self.precision)

    def describe_run(self) -> str:
        """What is evaluated, how, in a few words ("tiny.pt, OpenVINO int8, soft-linear NMS")."""
        parts = [Path(self.source).name or "?"]
        if self.use_model:
            parts.append(f"{'OpenVINO' if self.runtime == 'openvino' else 'PyTorch'} {self.precision}")
            parts.append(f"{self.nms or 'model'} NMS")
        return ", ".join(parts)


class EvaluateState:
    """What the Evaluate tab shows.

    Events (``state.events.<name>.connect(callback)``):
        inputs(): the form's values changed.
        running(bool), progress(str): an evaluation started or ended; what it is doing.
        output(): a new evaluation (or none: results cleared).
        threshold(float), metric(): the confidence threshold or the AP metric changed.
        selection(): the selected classes changed.
        cell(): the confusion-matrix cell whose images the strip shows changed (or its IoU).
        compare(): the evaluation kept as "A" changed (the comparison with ``output`` follows).
    """

    def __init__(self, device: str = "cpu") -> None:
        self.events = Events("inputs", "running", "progress", "output", "threshold", "metric", "selection", "cell",
                             "compare", "estimate")
        from core.runtime import choose_runtime

        # the model runs as the Detect view and `ssd eval --runtime auto` run it: OpenVINO fp32 where installed
        self.inputs = EvalInputs(device=device, runtime=choose_runtime(None, device)[0])
        self.running = False
        self.output: Any = None            # core.evaluation.run.EvaluationOutput
        self.estimate: Any = None          # core.evaluation.estimate.EstimateOutput (kind "estimate")
        self.output_name = ""              # what it evaluated, how (EvalInputs.describe_run at its start)
        self.kept: Any = None              # the evaluation kept as "A" for the comparison
        self.kept_name = ""
        self.threshold = 0.5
        self.metric = "voc12"
        self.selected: tuple[int, ...] = ()
        self.cell: tuple[int, int] | None = None
        self.confusion_iou: float | None = None   # None: the evaluation's own IoU
        self._cache: dict[str, tuple[Any, Any]] = {}
        self._reference: tuple[Any, Any] | None = None  # (ReferenceSource, the FixedGroundTruth it built)

    # ---------------------------------------------------------------- inputs and running
    def set_inputs(self, **changes: Any) -> None:
        """Change form values; results of another model or detections file are cleared."""
        new = replace(self.inputs, **changes)
        if new == self.inputs:
            return
        source_changed = (new.use_model, new.source) != (self.inputs.use_model, self.inputs.source)
        self.inputs = new
        self.events.inputs.emit()
        if source_changed and self.output is not None and not self.running:
            self.set_output(None)
        if source_changed and self.estimate is not None and not self.running:
            self.set_estimate(None)

    def set_estimate(self, estimate: Any) -> None:
        """Show an accuracy estimate (None clears it)."""
        self.estimate = estimate
        self.events.estimate.emit()

    def set_running(self, running: bool) -> None:
        if running != self.running:
            self.running = running
            self.events.running.emit(running)

    def ground_truth_for_run(self) -> Any:
        """The inputs' ground truth; a reference model that already labelled the same frames is not run
        again (its :class:`~core.evaluation.reference.FixedGroundTruth`), so that evaluations against it
        score the very same objects and can be compared."""
        truth = self.inputs.ground_truth()
        if self._reference is not None and self._reference[0] == truth:
            return self._reference[1]
        return truth

    def remember_reference(self, output: Any) -> None:
        """Keep the ground truth a reference model built for ``output`` (see :meth:`ground_truth_for_run`)."""
        from core.evaluation.reference import FixedGroundTruth, ReferenceSource

        source = output.request.ground_truth
        if isinstance(source, ReferenceSource):
            self._reference = (source, FixedGroundTruth(gt=output.gt, text=source.describe(), caveat=source.caveat,
                                                        info=source.info()))

    # ---------------------------------------------------------------- results
    def set_output(self, output: Any, name: str = "") -> None:
        """Show ``output`` (None clears), evaluated as ``name`` says; the class with the most objects
        starts selected."""
        self.output = output
        self.output_name = name or (Path(output.request.source).name if output is not None else "")
        self._cache.clear()
        self.cell = None
        first: tuple[int, ...] = ()
        if output is not None:
            sweep = output.result.sweep
            evaluated = np.flatnonzero(sweep.evaluated)
            first = (int(evaluated[np.argmax(sweep.num_gt[evaluated])]) if evaluated.size else 1,)
        self.events.output.emit()
        self.select(first, force=True)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.output.result.class_names) if self.output is not None else ()

    def set_threshold(self, threshold: float) -> None:
        t = round(min(1.0, max(0.0, float(threshold))) / THRESHOLD_STEP) * THRESHOLD_STEP
        if not math.isclose(t, self.threshold, abs_tol=THRESHOLD_STEP / 10):
            self.threshold = round(t, 3)
            self.events.threshold.emit(self.threshold)

    @property
    def use_07(self) -> bool:
        """The threshold figures (AP@t, mAP by threshold) use VOC07's 11-point AP (else VOC2010+'s)."""
        return self.metric == "voc07"

    def set_use_07(self, on: bool) -> None:
        self.set_metric("voc07" if on else "voc12")

    def set_metric(self, metric: str) -> None:
        """The AP the table, the comparison and the definitions show: "voc07", "voc12" or "coco"."""
        if metric not in [k for k, _ in METRIC_NAMES]:
            raise ValueError(f"unknown metric {metric!r}; choose from {[k for k, _ in METRIC_NAMES]}")
        if metric != self.metric:
            self.metric = metric
            self.events.metric.emit()

    def select(self, labels: Any, force: bool = False) -> None:
        """Select the classes ``labels`` (their PR curves are drawn, the first feeds the image strip)."""
        value = tuple(int(v) for v in labels)
        if value != self.selected or force:
            self.selected = value
            self.cell = None
            self.events.selection.emit()

    def _cached(self, name: str, key: Any, make: Any) -> Any:
        if name not in self._cache or self._cache[name][0] != key:
            self._cache[name] = (key, make())
        return self._cache[name][1]

    def stats(self) -> Any:
        """``core.evaluation.ThresholdStats`` at the current threshold and AP flavour (None without results)."""
        if self.output is None:
            return None
        return self._cached("stats", (self.threshold, self.use_07),
                            lambda: self.output.result.at_threshold(self.threshold, self.use_07))

    # ---------------------------------------------------------------- confusion matrix, confidence curves
    def confusion(self) -> Any:
        """:class:`core.evaluation.confusion.ConfusionMatrix` at the threshold and ``confusion_iou`` (None
        without results)."""
        if self.output is None:
            return None
        return self._cached("confusion", (self.threshold, self.confusion_iou),
                            lambda: self.output.result.confusion_matrix(self.threshold, self.confusion_iou))

    def set_confusion_iou(self, iou: float | None) -> None:
        """The IoU at which the confusion matrix matches (None: the evaluation's)."""
        if iou != self.confusion_iou:
            self.confusion_iou = iou
            self.cell = None
            self.events.cell.emit()

    def set_cell(self, cell: tuple[int, int] | None) -> None:
        """Show the images of confusion cell (true label, predicted label) in the strip (None: the class)."""
        value = None if cell is None else (int(cell[0]), int(cell[1]))
        if value != self.cell:
            self.cell = value
            self.events.cell.emit()

    def confidence_curves(self) -> Any:
        """:class:`core.evaluation.confidence.ConfidenceCurves` of the output (None without results)."""
        if self.output is None:
            return None
        return self._cached("confidence", id(self.output), self.output.result.confidence_curves)

    # ---------------------------------------------------------------- comparison
    def keep_as_a(self) -> None:
        """Keep the current evaluation as "A"; the next one on the same data is compared with it."""
        if self.output is not None and self.kept is not self.output:
            self.kept, self.kept_name = self.output, self.output_name
            self.events.compare.emit()

    def clear_kept(self) -> None:
        if self.kept is not None:
            self.kept, self.kept_name = None, ""
            self.events.compare.emit()

    def comparison(self) -> tuple[Any, str]:
        """(:class:`core.evaluation.compare.Comparison` of the kept "A" and the output "B" on the metric,
        or None; why there is none: "" when nothing is to compare, else the reason)."""
        if self.kept is None or self.output is None or self.kept is self.output:
            return None, ""

        def make() -> tuple[Any, str]:
            from core.evaluation.compare import compare_evaluations

            try:
                return compare_evaluations(self.kept, self.output, self.metric,
                                           names=(self.kept_name, self.output_name)), ""
            except Exception as exc:  # noqa: BLE001 - other data, or COCO metrics that cannot be computed: said in the panel
                return None, str(exc)

        return self._cached("compare", (id(self.kept), id(self.output), self.metric), make)

    def pr_curves(self) -> tuple[list[Any], list[str], list[bool]]:
        """(PR curves of the selected classes, their legend suffixes, which are dashed): one curve per class,
        or, while comparing, "A" (dashed) and "B" of each."""
        comparison, _ = self.comparison()
        if self.output is None:
            return [], [], []
        if comparison is None:
            curves = [self.output.result.pr_curve(label) for label in self.selected]
            return curves, [""] * len(curves), [False] * len(curves)
        curves = [c for label in self.selected for c in comparison.pr_curves(label)]
        return curves, ["A", "B"] * len(self.selected), [True, False] * len(self.selected)

    @property
    def strip_label(self) -> int | None:
        """The class the image strip shows: the first selected, or None (every class)."""
        return self.selected[0] if self.selected else None
