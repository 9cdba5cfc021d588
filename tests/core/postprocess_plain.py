"""The postprocess written as plain loops from its definition, for the tests of core.ssd.postprocess.

torchvision's algorithm (per class: scores above the threshold, the best ``topk_candidates``, greedy NMS
with torchvision's own ``nms`` kernel; then the best ``detections_per_img`` over all classes), with
equal scores in detection order (class, then prior), which core.ssd.candidates documents.
"""
from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import nms

from core.config import PostprocessConfig


def plain_candidates(scores: np.ndarray, thresh: float, cap: int | None) -> list[tuple[float, int, int]]:
    """Every candidate (score, column, prior) in detection order: per column the entries above ``thresh``
    (in float32) by descending score then prior, the first ``cap`` of them; all columns sorted together."""
    th = np.float32(thresh)
    out = []
    for c in range(scores.shape[1]):
        col = scores[:, c]
        order = [int(p) for p in np.argsort(-col, kind="stable") if col[p] > th]
        out += [(float(col[p]), c, p) for p in order[:cap]]
    out.sort(key=lambda e: (-e[0], e[1], e[2]))
    return out


def plain_postprocess(scores: np.ndarray, boxes: np.ndarray, cfg: PostprocessConfig
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detections of one image from its class probabilities and decoded boxes.

    Args:
        scores: float32 [P, C-1] probabilities of the real classes; boxes: float32 [P, 4] x1y1x2y2.

    Returns:
        (boxes [N, 4], scores [N], labels [N] = column + 1) in detection order.
    """
    survivors = []
    cands = plain_candidates(scores, cfg.score_thresh, cfg.topk_candidates)
    for c in range(scores.shape[1]):
        mine = [(s, p) for s, col, p in cands if col == c]  # already best first
        if not mine:
            continue
        b = torch.from_numpy(boxes[[p for _, p in mine]])
        keep = nms(b, -torch.arange(len(mine), dtype=torch.float32), cfg.nms_thresh).tolist()
        survivors += [(mine[i][0], c, mine[i][1]) for i in keep]
    survivors.sort(key=lambda e: (-e[0], e[1], e[2]))
    survivors = survivors[: cfg.detections_per_img]
    idx = [p for _, _, p in survivors]
    return (boxes[idx].reshape(-1, 4), np.array([s for s, _, _ in survivors], np.float32),
            np.array([c + 1 for _, c, _ in survivors], np.int64))
