"""The Evaluate tab's state, without Qt: what to evaluate on which dataset, the last evaluation, and
how it is looked at (confidence threshold, AP flavour, selected classes).

Every figure shown for a threshold comes from the one matching pass in ``output`` (its
``result.sweep``), so moving the threshold only looks values up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from core.engine.config import VAL_SEED
from ssd_gui.state.events import Events

DATASET_KINDS: tuple[tuple[str, str], ...] = (
    ("synthetic", "Synthetic shapes"), ("voc", "VOC folder"), ("coco", "COCO JSON"))
THRESHOLD_STEP = 0.001


@dataclass(frozen=True)
class EvalInputs:
    """The Evaluate form's values.

    Attributes:
        use_model: evaluate ``weights`` (run over the images) rather than the ``detections`` file.
        kind: one of :data:`DATASET_KINDS`' keys; ``path`` the VOC folder(s) or COCO JSON; ``split``
            the VOC image set ("" for the default: test, else val, else trainval).
        count, seed, size: synthetic scenes (square side in pixels).
        device: where the model runs.
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

    @property
    def source(self) -> str:
        """The file being evaluated ("" when none is chosen)."""
        return (self.weights if self.use_model else self.detections).strip()

    def request(self) -> Any:
        """The :class:`core.evaluation.run.EvaluationRequest` these values describe (with COCO metrics).

        Raises:
            ValueError: a required path is empty or the kind is unknown.
        """
        from core.data.index import DatasetSpec
        from core.evaluation.run import EvaluationRequest

        if not self.source:
            raise ValueError("choose a model file (or the demo model) or a detections file to evaluate")
        if self.kind not in [k for k, _ in DATASET_KINDS]:
            raise ValueError(f"unknown dataset kind {self.kind!r}; choose from {[k for k, _ in DATASET_KINDS]}")
        if self.kind == "synthetic":
            spec = DatasetSpec("synthetic", count=self.count, seed=self.seed, size=self.size)
        else:
            if not self.path.strip():
                what = "VOC folder" if self.kind == "voc" else "COCO annotation JSON"
                raise ValueError(f"choose the {what} to evaluate on")
            spec = DatasetSpec(self.kind, self.path.strip(), (self.split.strip() or None) if self.kind == "voc" else None)
        return EvaluationRequest(spec, weights=self.source if self.use_model else None,
                                 detections=None if self.use_model else self.source,
                                 metric="voc07", with_coco=True, device=self.device)


class EvaluateState:
    """What the Evaluate tab shows.

    Events (``state.events.<name>.connect(callback)``):
        inputs(): the form's values changed.
        running(bool), progress(str): an evaluation started or ended; what it is doing.
        output(): a new evaluation (or none: results cleared).
        threshold(float), metric(): the confidence threshold or the AP flavour changed.
        selection(): the selected classes changed.
    """

    def __init__(self, device: str = "cpu") -> None:
        self.events = Events("inputs", "running", "progress", "output", "threshold", "metric", "selection")
        self.inputs = EvalInputs(device=device)
        self.running = False
        self.output: Any = None            # core.evaluation.run.EvaluationOutput
        self.threshold = 0.5
        self.use_07 = False
        self.selected: tuple[int, ...] = ()
        self._stats: tuple[tuple[float, bool], Any] | None = None

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

    def set_running(self, running: bool) -> None:
        if running != self.running:
            self.running = running
            self.events.running.emit(running)

    # ---------------------------------------------------------------- results
    def set_output(self, output: Any) -> None:
        """Show ``output`` (None clears); the class with the most objects starts selected."""
        self.output = output
        self._stats = None
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

    def set_use_07(self, on: bool) -> None:
        if bool(on) != self.use_07:
            self.use_07 = bool(on)
            self.events.metric.emit()

    def select(self, labels: Any, force: bool = False) -> None:
        """Select the classes ``labels`` (their PR curves are drawn, the first feeds the image strip)."""
        value = tuple(int(v) for v in labels)
        if value != self.selected or force:
            self.selected = value
            self.events.selection.emit()

    def stats(self) -> Any:
        """``core.evaluation.ThresholdStats`` at the current threshold and AP flavour (None without results)."""
        if self.output is None:
            return None
        key = (self.threshold, self.use_07)
        if self._stats is None or self._stats[0] != key:
            self._stats = (key, self.output.result.at_threshold(self.threshold, self.use_07))
        return self._stats[1]

    @property
    def strip_label(self) -> int | None:
        """The class the image strip shows: the first selected, or None (every class)."""
        return self.selected[0] if self.selected else None
