"""Accuracy without labels: estimate a model's mAP on footage nobody annotated, with an interval.

    from core.evaluation.estimate import EstimateRequest, run_estimate
    out = run_estimate(EstimateRequest("demo", images="clip.mp4"))
    print(out.estimate, out.interval, out.trust())

The modules, in the order the data flows: :mod:`.signals` (box agreement by Hungarian matching, exact),
:mod:`.pooled` (the agreements with lost boxes counted as IoU 0, the mean confidence),
:mod:`.dropout` (where BoS's feature-map dropout goes in each architecture), :mod:`.scoring` (the
detector's passes over a set of images), :mod:`.corruptions` (the shifts of the meta-set),
:mod:`.calibrate` (the meta-set: shifted labelled images, each with its true mAP and signals),
:mod:`.fit` (linear fit, leave-one-corruption-out validation, interval), :mod:`.store` (the cache per
weights file), :mod:`.run` and :mod:`.output` (the job behind ``ssd eval --estimate`` and the GUI),
:mod:`.live` (the running estimate of a source as it plays, the Detect view's).
"""
from core.evaluation.estimate.output import CAVEAT, METRIC_NAMES, EstimateOutput
from core.evaluation.estimate.run import MIN_FRAMES, Calibration, EstimateRequest, calibrate_model, run_estimate
from core.evaluation.estimate.scoring import SIGNALS, SignalSettings

__all__ = ["CAVEAT", "METRIC_NAMES", "MIN_FRAMES", "SIGNALS", "Calibration", "EstimateOutput", "EstimateRequest",
           "SignalSettings", "calibrate_model", "run_estimate"]
