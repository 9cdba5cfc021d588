"""What each AP figure means, as text for the ``ssd eval`` table, ``metrics.json`` and the Evaluate view.

Every figure this project prints names its definition: the same detections give different
numbers under VOC2007's 11-point AP, the VOC2010+ area and COCO's 101-point AP over ten IoUs, and
ports of the VOC2007 metric differ among themselves (see the README, "How our VOC07 figures relate
to other tools").
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class APDefinition:
    """One metric's definition.

    Attributes:
        metric: ``voc07``, ``voc12`` or ``coco`` (:data:`core.evaluation.evaluate.METRICS`).
        title: a column or axis title ("AP VOC07 (11-point)").
        short: one line for a table footer or a tooltip's first line.
        text: the full definition (a paragraph), including the matching rule.
    """

    metric: str
    title: str
    short: str
    text: str


_VOC_MATCHING = ("Matching as in the devkit (VOCevaldet.m): detections of a class are taken in descending "
                 "score order; each is compared with the object of its class in its image that it overlaps "
                 "most (IoU with the devkit's +1 pixel widths); at IoU >= 0.5 it is a true positive if that "
                 "object is still free, a false positive if it was taken (no fall-back to the next object), "
                 "and neither if the object is 'difficult'; below 0.5 it is a false positive.")

AP_DEFINITIONS: dict[str, APDefinition] = {
    "voc07": APDefinition(
        metric="voc07", title="AP VOC07 (11-point)",
        short="PASCAL VOC2007 11-point interpolated AP at IoU 0.5, the devkit's recall levels 0:0.1:1",
        text=("PASCAL VOC2007 AP at IoU >= 0.5, 11-point interpolated (VOCevaldet.m): the mean, over the 11 "
              "recall levels t of MATLAB's 0:0.1:1, of the highest precision reached at any recall >= t "
              "(0 where the recall never reaches t). The levels are MATLAB's doubles: 0.6 and 0.7 are "
              "1-4*0.1 and 1-3*0.1, which equal the doubles 0.6 and 0.7, whereas Python ports that use "
              "np.arange(0, 1.1, 0.1) (py-faster-rcnn, mmdetection) get 0.6000000000000001 and "
              "0.7000000000000001 there, so a recall of exactly 3/5 or 7/10 counts here and not there. "
              + _VOC_MATCHING)),
    "voc12": APDefinition(
        metric="voc12", title="AP VOC2010+ (all points)",
        short="PASCAL VOC2010+ AP at IoU 0.5: area under the monotone precision-recall curve, every point",
        text=("PASCAL VOC2010-2012 AP at IoU >= 0.5 (VOCap.m): the precision is made monotone (each value "
              "replaced by the highest precision at any higher recall) and the area under that curve is "
              "summed over every recall step, with no sampling of recall levels. " + _VOC_MATCHING)),
    "coco": APDefinition(
        metric="coco", title="AP COCO @[.5:.95] (101-point)",
        short="COCO AP (pycocotools): 101 recall levels, averaged over IoU 0.50:0.05:0.95, 100 detections per image",
        text=("COCO AP@[.5:.95], pycocotools' own numbers (COCOeval, bbox): for each of the 10 IoU thresholds "
              "0.50, 0.55, ..., 0.95 the precision is made monotone and read at the 101 recall levels "
              "0, 0.01, ..., 1 (np.linspace(0, 1, 101)), averaged; then averaged over the IoUs. At most 100 "
              "detections per image (highest scores), crowd objects (and VOC 'difficult' ones) ignored; each "
              "detection takes the best free object above the IoU, falling back to the next one. AP50 and "
              "AP75 use one IoU; APs, APm, APl count only objects of area < 32^2, 32^2..96^2 and > 96^2 "
              "pixels; AR@1/10/100 is the recall with at most 1, 10, 100 detections per image, averaged over "
              "the IoUs (and AR small/medium/large by area).")),
}


def ap_definition(metric: str) -> APDefinition:
    """The definition of ``metric`` (``voc07``, ``voc12`` or ``coco``).

    Raises:
        ValueError: an unknown metric, naming the known ones.
    """
    try:
        return AP_DEFINITIONS[metric]
    except KeyError:
        raise ValueError(f"no AP definition for metric {metric!r}; known: {', '.join(AP_DEFINITIONS)}") from None


__all__ = ["APDefinition", "AP_DEFINITIONS", "ap_definition"]
