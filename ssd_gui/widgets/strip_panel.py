"""The Evaluate view's image strip: the images where the threshold costs the most, for the selected class,
or the images of the confusion-matrix cell the person clicked (``EvaluateState.cell``).

Bound to an :class:`EvaluateState`: a new threshold, class or evaluation redraws it once the input
settles. Decoding and drawing run in a :class:`ssd_gui.jobs.Job` (tens of ms per image for large
photos); a newer request cancels the older one, whose answer is then dropped. A double click shows
the image at full size, from where it can be opened in the Detect view.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from ssd_gui.jobs import Job
from ssd_gui.state.evaluate import EvaluateState
from ssd_gui.widgets.image_strip import ImageCache, ImageStrip, StripEntry, Thumbnails, draw_breakdown, draw_thumbnails

MAX_IMAGES = 24
DELAY_MS = 120
CACHE_SIZE = 256
LEGEND = (" — <span style='color:#00aa3c'>■ true positive</span> <span style='color:#e11e1e'>■ false positive</span> "
          "<span style='color:#ff9600'>▢ missed (dashed)</span>; double-click: full size")


class StripPanel(QWidget):
    """A header that folds the strip away (the plots then take its room) and the strip.

    Signals:
        updated(): new thumbnails are shown.
        failed(str): an image could not be read (the others are still shown).
        open_in_detect(str): the person asked to open an image file in the Detect view.
    """

    updated = Signal()
    failed = Signal(str)
    open_in_detect = Signal(str)

    def __init__(self, state: EvaluateState, thumb_height: int = 110, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.images = ImageCache(CACHE_SIZE)
        self.image_dialog: Any = None
        self._generation = 0
        self._job: Job | None = None
        self._text = ""
        self.toggle = QToolButton(self)
        self.toggle.setCheckable(True)
        self.toggle.setChecked(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setText("Images")
        self.toggle.setToolTip("Show or hide the images of the selected class")
        self.caption = QLabel("", self)
        self.caption.setWordWrap(True)  # a long caption wraps instead of widening the window
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.strip = ImageStrip(thumb_height, self)
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.toggle)
        header.addWidget(self.caption, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.strip)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DELAY_MS)
        self._timer.timeout.connect(self._draw)
        self.toggle.toggled.connect(self.set_expanded)
        self.strip.opened.connect(self.open_image)
        state.events.output.connect(self._on_output)
        for event in (state.events.selection, state.events.threshold, state.events.cell):
            event.connect(lambda *_: self.schedule())
        self.set_expanded(True)

    @property
    def expanded(self) -> bool:
        return self.strip.isVisibleTo(self)

    def set_expanded(self, on: bool) -> None:
        self.strip.setVisible(on)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        if self.toggle.isChecked() != on:
            self.toggle.setChecked(on)

    # ---------------------------------------------------------------- drawing
    def cancel(self) -> None:
        """Drop the thumbnails being drawn; their answer, if it still comes, is ignored."""
        self._generation += 1
        if self._job is not None:
            self._job.cancel()
            self._job = None

    def schedule(self) -> None:
        """The strip is stale: redraw once the input settles."""
        self.cancel()
        self._timer.start()

    def _on_output(self) -> None:
        self.images.clear()
        self.cancel()
        if self.state.output is None:
            self.strip.set_entries([])
            self.caption.setText("")
        else:
            self.schedule()

    def _draw(self) -> None:
        out = self.state.output
        if out is None:
            return
        result, label, t = out.result, self.state.strip_label, self.state.threshold
        if self.state.cell is not None:
            label = None  # a cell spans two classes (or the background): every box is drawn, named
            shown, self._text = self._cell_images(result, t)
        else:
            shown, self._text = self._class_images(result, label, t)
        self.cancel()
        records = result.gt.records
        fn = partial(draw_thumbnails, self._generation, [(bd.image_index, records[bd.image_index], bd) for bd in shown],
                     result.class_names, self.strip.thumb_height, label is None, self.images)
        self._job = Job(fn, "image strip").start(finished=self._on_thumbnails, failed=self._on_failed)

    @staticmethod
    def _class_images(result: Any, label: int | None, t: float) -> tuple[list[Any], str]:
        """Images where the threshold costs the most (errors first, then hits), counted cheaply;
        only the shown ones are described box by box."""
        tp, fp, missed = result.sweep.image_counts(label, t)
        with_content = np.flatnonzero(tp + fp + missed > 0)
        order = with_content[np.lexsort((with_content, -tp[with_content], -(fp + missed)[with_content]))]
        shown = result.image_breakdown(label, t, images=order[:MAX_IMAGES])
        name = result.class_names[label] if label is not None else "all classes"
        text = (f"<b>{name}</b> at {t:.3f}: {with_content.size} image(s) with detections or objects"
                + (f", the {len(shown)} with the most errors shown" if with_content.size > len(shown) else "")
                + LEGEND)
        return shown, text

    def _cell_images(self, result: Any, t: float) -> tuple[list[Any], str]:
        """The images behind the confusion cell, in dataset order."""
        cm = self.state.confusion()
        true_label, pred_label = self.state.cell  # type: ignore[misc]
        images = cm.images(true_label, pred_label)
        shown = result.image_breakdown(None, t, only_with_content=False, images=images[:MAX_IMAGES])
        names = ["background" if k == 0 else result.class_names[k] for k in (true_label, pred_label)]
        text = (f"<b>true {names[0]}, predicted {names[1]}</b> at {t:.3f}, IoU {cm.iou_threshold:.2f}: "
                f"{images.size} image(s)" + (f", the first {len(shown)} shown" if images.size > len(shown) else "")
                + LEGEND)
        return shown, text

    def _on_failed(self, text: str) -> None:
        self.failed.emit(text)

    def _on_thumbnails(self, thumbs: Thumbnails) -> None:
        if thumbs.generation != self._generation or self.state.output is None:
            return  # superseded by a newer threshold or class, or the results were cleared
        self._job = None
        for err in thumbs.errors[:3]:
            self.failed.emit(f"image strip: {err}")
        self.strip.set_entries(thumbs.entries)
        self.caption.setText(self._text)
        self.updated.emit()

    # ---------------------------------------------------------------- full size
    def open_image(self, entry: StripEntry) -> None:
        """Show ``entry``'s image at full size with the threshold's breakdown drawn on it."""
        from ssd_gui.dialogs.image_dialog import ImageDialog

        out = self.state.output
        if out is None or entry.index < 0:
            return
        record = out.result.gt.records[entry.index]
        t = self.state.threshold
        try:
            image = self.images.get(entry.index, record)
        except ValueError as exc:
            self.failed.emit(str(exc))
            return
        label = None if self.state.cell is not None else self.state.strip_label
        bd = out.result.image_breakdown(label, t, only_with_content=False, images=[entry.index])[0]
        full = draw_breakdown(image, bd, out.result.class_names, height=image.shape[0], show_names=True)
        title = f"{entry.image_id}: TP {entry.num_tp}, FP {entry.num_fp}, missed {entry.num_missed} at {t:.3f}"
        self.image_dialog = ImageDialog(full, title, str(record.file) if record.file else None, self)
        self.image_dialog.open_in_detect.connect(self.open_in_detect)
        self.image_dialog.show()
