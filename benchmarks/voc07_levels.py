"""How much the recall levels of Python ports change VOC2007 11-point AP: MATLAB's ``0:0.1:1`` (the
devkit, and this project) against ``np.arange(0, 1.1, 0.1)`` (py-faster-rcnn's voc_eval.py,
mmdetection's mean_ap.py), which differ at exactly 0.6 and 0.7. Prints one row per class and the mAP.
Never run by the tests (tests/evaluation/test_confidence_compare.py checks the float facts).

    .venv/bin/python -m benchmarks.voc07_levels [--weights resources/demo_model.pt] [--count 500] [--seed 2024]
"""
from __future__ import annotations

import argparse

import numpy as np

from core.evaluation.voc import VOC07_RECALL_LEVELS

NP_ARANGE_LEVELS = np.arange(0.0, 1.1, 0.1)


def ap_11(recall: np.ndarray, precision: np.ndarray, levels: np.ndarray) -> float:
    """11-point AP at the given recall levels (max precision at recall >= level, 0 if never reached)."""
    return float(sum((precision[recall >= t].max() if (recall >= t).any() else 0.0) / 11.0 for t in levels))


def main(argv: list[str] | None = None) -> int:
    from core.data.synthetic import synthetic_index
    from core.detector import DEMO_WEIGHTS
    from core.engine.config import TEST_SEED
    from core.evaluation.run import EvaluationRequest, run_evaluation
    from core.evaluation.reference import FixedGroundTruth

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(DEMO_WEIGHTS))
    parser.add_argument("--count", type=int, default=500, help="held-out synthetic scenes (300x300)")
    parser.add_argument("--seed", type=int, default=TEST_SEED)
    args = parser.parse_args(argv)
    gt = synthetic_index(args.count, args.seed, (300, 300))
    result = run_evaluation(EvaluationRequest(FixedGroundTruth(gt, f"synthetic seed={args.seed} n={args.count}"),
                                              weights=args.weights)).result
    print(f"{'class':<10} {'num_gt':>6} {'devkit 0:0.1:1':>15} {'np.arange':>10} {'difference':>11}")
    ours, theirs = [], []
    for label in np.flatnonzero(result.sweep.evaluated):
        c = result.pr_curve(int(label))
        a, b = ap_11(c.recall, c.precision, VOC07_RECALL_LEVELS), ap_11(c.recall, c.precision, NP_ARANGE_LEVELS)
        ours.append(a)
        theirs.append(b)
        print(f"{c.name:<10} {c.num_gt:>6} {a:>15.6f} {b:>10.6f} {a - b:>+11.6f}")
    print(f"{'mAP':<10} {'':>6} {np.mean(ours):>15.6f} {np.mean(theirs):>10.6f} {np.mean(ours) - np.mean(theirs):>+11.6f}")
    assert abs(np.mean(ours) - result.voc(True).mAP) < 1e-12  # the first column is this project's own VOC07 mAP
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
