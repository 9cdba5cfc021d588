"""Evaluation: VOC07 / VOC2010+ AP, COCO metrics via pycocotools, PR curves and
everything that depends on a confidence threshold.

Entry point: :func:`evaluate` -> :class:`EvaluationResult` (see ``evaluate.py``).
"""
from __future__ import annotations

from core.evaluation.coco import COCO_STAT_NAMES, COCOMetrics, coco_metrics
from core.evaluation.curves import ClassCurve, ImageBreakdown, PRCurve, ThresholdStats, ThresholdSweep
from core.evaluation.evaluate import METRICS, EvaluationResult, VOCMetrics, evaluate, prepare_detections
from core.evaluation.matching import FP, IGNORED, TP, MatchResult, match_detections
from core.evaluation.voc import VOC07_RECALL_LEVELS, average_precision

__all__ = [
    "evaluate", "EvaluationResult", "VOCMetrics", "COCOMetrics", "ThresholdStats", "PRCurve", "ImageBreakdown",
    "ThresholdSweep", "ClassCurve", "MatchResult", "match_detections", "prepare_detections", "coco_metrics",
    "average_precision", "VOC07_RECALL_LEVELS", "COCO_STAT_NAMES", "METRICS", "TP", "FP", "IGNORED",
]
