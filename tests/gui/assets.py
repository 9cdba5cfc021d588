"""Files the Detect tests share: a tiny real model with hand-spread scores, clips, broken files; dropping files."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from core.config import ssd300
from core.data.synthetic import render_video
from core.model import build_model
from core.weights import save_checkpoint

CLASS_NAMES = ("__background__", "circle", "square", "triangle")
N_FRAMES = 20


def spread_scores(model: torch.nn.Module, boxes_per_location: tuple[int, ...], num_classes: int) -> None:
    """Zero the classifier's weights and give each (feature map, default box) group one class
    and one logit, so scores are image-independent levels between about 0.1 and 0.95 and the
    labels cover every class whatever the random seed."""
    # the last convolution of each head module: the module itself (SSD300), or the pointwise conv ending
    # a depthwise-separable block (SSDlite)
    convs = [[c for c in m.modules() if isinstance(c, torch.nn.Conv2d)][-1]
             for m in model.head.classification_head.module_list]
    assert len(convs) == len(boxes_per_location) and all(c.bias is not None for c in convs)
    groups = [(m, a) for m, n in enumerate(boxes_per_location) for a in range(n)]
    logits = np.linspace(-2.2, 2.9, len(groups))
    with torch.no_grad():
        for (m, a), t in zip(groups, logits):
            conv = convs[m]
            conv.weight.zero_()
            c = 1 + (m + a) % (num_classes - 1)
            bias = conv.bias.view(boxes_per_location[m], num_classes)
            bias[a] = -10.0
            bias[a, 0] = 0.0
            bias[a, c] = float(t)


def truncated_video(path: Path, frames: int = 40, keep: float = 0.5) -> tuple[Path, int]:
    """An MJPG AVI of ``frames`` frames cut to its first ``keep`` share of bytes, as a copy that was
    interrupted: the header still announces every frame. Returns the path and how many frames decode."""
    full = path.with_name(path.stem + "_full.avi")
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for i in range(frames):
        img = np.full((120, 160, 3), 40 + 4 * i, np.uint8)
        cv2.putText(img, str(i), (20, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        writer.write(img)
    writer.release()
    data = full.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    cap = cv2.VideoCapture(str(path))
    decodable = 0
    while cap.read()[0]:
        decodable += 1
    cap.release()
    assert 0 < decodable < frames, (decodable, frames)
    return path, decodable


def make_detect_assets(folder: Path) -> dict[str, Path]:
    cfg = ssd300(num_classes=len(CLASS_NAMES), priors="voc", width=0.125)
    model = build_model(cfg.model)
    spread_scores(model, cfg.model.priors.boxes_per_location, len(CLASS_NAMES))
    weights = save_checkpoint(folder / "tiny.pt", model, cfg, CLASS_NAMES)
    video = render_video(folder / "clip.mp4", seconds=N_FRAMES / 10, fps=10, seed=3, size=(160, 120))
    bad_video = folder / "notes.mp4"
    bad_video.write_text("this is a text file, not a video\n")
    bad_weights = folder / "broken.pt"
    bad_weights.write_bytes(b"not a torch file at all")
    return {"weights": Path(weights), "video": Path(video), "bad_video": bad_video, "bad_weights": bad_weights}


def drop_files(window: QWidget, paths: list[Path]) -> bool:
    """Drag ``paths`` over ``window`` and drop them; True when the window accepted the drag."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    actions, left, none = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(50, 50), actions, mime, left, none)
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False
    QApplication.sendEvent(window, QDropEvent(QPointF(50, 50), actions, mime, left, none))
    return True


def coco_results_from(gt: object, fp_score: float = 0.3) -> list[dict]:
    """A COCO results list for the ground truth ``gt`` (a DatasetIndex): every object detected exactly at
    score 0.9, plus per image a 4x4 box in the top-left corner (no object there: a false positive of the
    image's first class) at ``fp_score``. The figures at a threshold are then known by hand."""
    entries = []
    for rec in gt.records:  # type: ignore[attr-defined]
        for (x1, y1, x2, y2), lab in zip(rec.boxes.tolist(), rec.labels.tolist()):
            entries.append({"image_id": rec.image_id, "category_id": lab, "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": 0.9})
        entries.append({"image_id": rec.image_id, "category_id": int(rec.labels[0]) if len(rec.labels) else 1,
                        "bbox": [0, 0, 4, 4], "score": fp_score})
    return entries


class TrustAnswer:
    """Answers the app's "this model runs code" confirmation (ssd_gui.dialogs.trust) as a person would:
    waits for the real message box, notes its text, and presses the button that opens the file (or Cancel)."""

    def __init__(self, open_it: bool) -> None:
        self.open_it, self.text, self.tries = open_it, "", 0

    def __call__(self) -> None:
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QMessageBox

        from ssd_gui.dialogs.trust import OPEN_ANYWAY

        box = next((w for w in QApplication.topLevelWidgets()
                    if isinstance(w, QMessageBox) and w.objectName() == "trust_code_dialog" and w.isVisible()), None)
        self.tries += 1
        if box is None:
            if self.tries < 400:
                QTimer.singleShot(25, self)
            return
        self.text = box.text() + "\n" + box.informativeText()
        wanted = OPEN_ANYWAY if self.open_it else "Cancel"
        button = next(b for b in box.buttons() if b.text().replace("&", "") == wanted)
        button.click()
