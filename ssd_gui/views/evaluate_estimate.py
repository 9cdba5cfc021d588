"""The Evaluate view's "no labels: estimate accuracy": :func:`core.evaluation.estimate.run_estimate` (the
function of ``ssd eval --estimate``) in a job, its result in an
:class:`~ssd_gui.widgets.accuracy_estimate.AccuracyEstimatePanel` that takes the place of the evaluation's
results while that ground-truth choice is made."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QStackedWidget, QWidget

from core.evaluation.estimate import run as estimate_run
from ssd_gui.widgets.accuracy_estimate import AccuracyEstimatePanel


class EstimateMixin:
    """What :class:`ssd_gui.views.evaluate_view.EvaluateView` adds for accuracy estimates (it provides
    ``state``, ``run_job``, ``show_error``, ``say``, ``banner``, ``_job``, ``_on_failed``, ``_on_progress``)."""

    state: Any
    _job: Any
    _cancel_requested: bool

    def _build_estimate_pages(self, results: QWidget) -> QStackedWidget:
        """A stack of the evaluation's ``results`` and the estimate panel, showing the one the inputs ask for."""
        self.estimate_panel = AccuracyEstimatePanel(results.parentWidget())
        self.pages = QStackedWidget(results.parentWidget())
        self.pages.addWidget(results)
        self.pages.addWidget(self.estimate_panel)
        self.state.events.inputs.connect(self._show_page)
        self.state.events.estimate.connect(lambda: self.estimate_panel.show_output(self.state.estimate))
        self._show_page()
        return self.pages

    def _show_page(self) -> None:
        self.pages.setCurrentWidget(self.estimate_panel if self.state.inputs.kind == "estimate"
                                    else self.pages.widget(0))

    def _start_estimate(self) -> bool:
        """Start the estimate the inputs describe; False (and a message) when they are incomplete."""
        try:
            request = self.state.inputs.estimate_request()
        except ValueError as exc:
            self.show_error(str(exc))  # type: ignore[attr-defined]
            return False
        self.banner.dismiss()  # type: ignore[attr-defined]
        self._cancel_requested = False
        # Looked up at each start, so that a test can watch the very function ``ssd eval --estimate`` calls.
        self._job = self.run_job(partial(estimate_run.run_estimate, request), "accuracy estimate",  # type: ignore[attr-defined]
                                 finished=self._on_estimate, failed=self._on_failed,  # type: ignore[attr-defined]
                                 progress=self._on_progress)  # type: ignore[attr-defined]
        self.state.set_running(True)
        self.say(f"Estimating the accuracy of {Path(request.weights).name} without labels…")  # type: ignore[attr-defined]
        return True

    def _on_estimate(self, output: Any) -> None:
        self._job = None
        self.state.set_running(False)
        self.state.set_estimate(output)
        self.say(f"Estimated {output.metric} mAP {output.estimate:.3f} (interval {output.interval[0]:.3f}-"  # type: ignore[attr-defined]
                 f"{output.interval[1]:.3f})")
        self.estimate_finished.emit(output)  # type: ignore[attr-defined]
