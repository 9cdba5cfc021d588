"""Target 3: postprocessing 91-class head outputs, core.ssd.postprocess vs torchvision's
``SSD.postprocess_detections`` on the same outputs (both decode, threshold, top-k and NMS).

    .venv/bin/python -m benchmarks.bench_postprocess [--quick]

The head outputs come from torchvision's ssd300_vgg16 with random weights on synthetic scenes,
so many class scores sit near 1/91, just above the 0.01 threshold: many candidates, the hard case
for NMS. A second row uses score_thresh 0.3.
"""
from __future__ import annotations


import torch
from torchvision.models.detection.image_list import ImageList

from benchmarks._common import Row, bench_main, fmt_s, interleaved, median, status
from benchmarks._models import same_weights_detector, scene_image, torchvision_ssd300
from core.ssd.postprocess import postprocess


def _head_outputs(tv, det, index: int) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
    x = det.preprocess([scene_image(index=index)])
    with torch.no_grad():
        feats = list(tv.backbone(x).values())
        head = tv.head(feats)
        anchors = tv.anchor_generator(ImageList(x, [(300, 300)]), feats)
    return head, anchors


def run(quick: bool = False) -> list[Row]:
    tv = torchvision_ssd300()
    det = same_weights_detector(tv)
    repeats = 5 if quick else 15
    rows = []
    cases = [(0.01, 0), (0.3, 1)]
    for thresh, index in cases:
        head, anchors = _head_outputs(tv, det, index)
        tv.score_thresh = thresh
        cfg = det.config.postprocess

        def ref_fn():
            with torch.no_grad():
                return tv.postprocess_detections(head, anchors, [(300, 300)])

        def ours_fn():
            with torch.inference_mode():
                return postprocess(head["cls_logits"], head["bbox_regression"], det._priors, det.coder, cfg, thresh)

        ref = ref_fn()[0]
        boxes, scores, labels = ours_fn()[0]
        equal = (len(scores) == len(ref["scores"]) and torch.equal(labels, ref["labels"])
                 and bool(((boxes * 300 - ref["boxes"]).abs() <= 1e-3).all())
                 and bool(((scores - ref["scores"]).abs() <= 1e-6).all()))
        times = interleaved({"ref": ref_fn, "ours": ours_fn}, repeats)
        t_ref, t_ours = median(times["ref"]), median(times["ours"])
        speedup = t_ref / t_ours
        rows.append(Row(f"3. postprocess, 91 classes, thresh {thresh}", fmt_s(t_ours), fmt_s(t_ref),
                        f"{speedup:.1f}x faster", ">= 5x", status(speedup >= 5.0, equal),
                        f"thresh {thresh}: {len(scores)} detections, "
                        f"{'identical' if equal else 'DIFFERENT'} to torchvision (labels equal, boxes <= 1e-3 px, "
                        f"scores <= 1e-6); median of {repeats} interleaved runs"))
    return rows


def main() -> None:
    bench_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
