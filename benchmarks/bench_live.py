"""Target 18 (issue 23): SSDlite320's whole ``detect()`` at its network's own speed, and the postprocess alone.

    .venv/bin/python -m benchmarks.bench_live [--quick] [--threads N]

18-18d. SSDlite320 on OpenVINO fp32, batch 1, a 640x480 scene: the whole ``Detector.detect`` (preprocess,
    network, postprocess at the model's thresholds: 0.001, top 300 per class, 300 kept) against its
    network alone (the exported IR in the detector's cache, compiled by OpenVINO with the app's options and
    run directly on the detector's 1x3x320x320 input, reading it in place and returning its outputs without
    a copy), interleaved with torchvision's whole
    ``ssdlite320_mobilenet_v3_large`` call on the same weights. Two weight sets: spread scores (BatchNorm
    statistics measured on scenes, ``benchmarks._models.torchvision_ssdlite``), where every detection must
    have its partner among torchvision's, and torchvision's own initialisation, which gives every score 1/91 (ties everywhere:
    the detections are then compared by count only, since torchvision's choice among equal scores is
    whatever its topk and sort give). 60 rounds; each ratio is the median over the rounds of the two calls'
    times in the same round (benchmarks._common.paired_ratio), which a host that changes speed from
    second to second (other machines on the same processor) affects far less than a ratio of medians.
18e-g. ``core.ssd.postprocess`` alone on those head outputs (SSDlite320: 3,234 x 91; SSD300 with random
    weights: 8,732 x 91 at 0.01), against the absolute targets of 2 ms and 5 ms, with torchvision's
    ``postprocess_detections`` on the same outputs in the same interleaving for the ratio.

Every row names the CPU's flags that decide OpenVINO's kernels (avx2, avx512f, avx512_vnni, avx512_bf16,
amx) and the load average during the run.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
import torchvision

from benchmarks._common import Row, bench_main, cpu_flags, fmt_s, interleaved, median, paired_ratio, status
from benchmarks._models import (same_detections, same_weights_detector, scene_image, torchvision_ssd300,
                                torchvision_ssdlite, tv_input)
from benchmarks.bench_family import matched_detections
from core.runtime.openvino import compile_model
from core.ssd.postprocess import postprocess


def _network_alone(det) -> tuple[object, np.ndarray]:  # type: ignore[no-untyped-def]
    """An infer request of the detector's cached IR, compiled afresh with the app's options, and its input."""
    xml = Path(det.runtime_info["cache_entry"]) / "model.xml"
    request = compile_model(xml, det.precision).create_infer_request()
    return request, np.ascontiguousarray(det.preprocess([scene_image(640, 480)]).numpy())


def _detect_rows(tv: torch.nn.Module, label: str, figures: tuple[str, str], repeats: int, cache: str,
                 compare: bool) -> tuple[list[Row], tuple]:
    image = scene_image(640, 480)
    det = same_weights_detector(tv, runtime="openvino", cache_dir=cache)
    request, x = _network_alone(det)

    def tv_fn():  # type: ignore[no-untyped-def]
        with torch.no_grad():
            return tv([tv_input(image)])

    ours, ref = det.detect([image]), tv_fn()
    if compare:
        # OpenVINO's network differs from torch's by ~1e-4 in the logits, which can swap two detections whose
        # scores are that close: every detection must have a partner (label, box, score), in any order.
        _, note = same_detections(ours, ref, box_atol=1e-2, score_atol=1e-4)
        matched, total = matched_detections(ours, ref, box_atol=1e-2, score_atol=1e-4)
        equal = matched == total
        note = f"{note}; {matched} of {total} have a partner in torchvision's (label, box within 1e-2 px, score within 1e-4)"
    else:
        equal = len(ours[0]) == len(ref[0]["scores"])
        note = f"{len(ours[0])} detections (torchvision {len(ref[0]['scores'])}), all scores 1/91: compared by count"
    load0 = os.getloadavg()[0]
    def net_fn():  # type: ignore[no-untyped-def]
        return request.infer({0: x}, share_inputs=True, share_outputs=True)  # no copy in or out: the network alone

    times = interleaved({"tv": tv_fn, "detect": lambda: det.detect([image]), "net": net_fn}, repeats, warmup=2)
    t_tv, t_det, t_net = median(times["tv"]), median(times["detect"]), median(times["net"])
    ratio = paired_ratio(times, "detect", "net")
    where = (f"{cpu_flags()}; load average {load0:.1f} -> {os.getloadavg()[0]:.1f}; medians of {repeats} "
             f"interleaved rounds (the ratio: the median of each round's detect() over its network alone), "
             f"{torch.get_num_threads()} torch threads")
    rows = [
        Row(figures[0], fmt_s(t_det), fmt_s(t_net) + " (network)", f"{ratio:.2f}x", "<= 1.30x",
            status(ratio <= 1.30, equal), f"{label}: whole detect() on OpenVINO fp32 against its IR alone; {note}; "
                                          f"{where}"),
        Row(figures[1], fmt_s(t_det), fmt_s(t_tv),
            f"{paired_ratio(times, 'detect', 'tv'):.2f}x", "(info)", "info",
            f"{label}: against torchvision's whole call; {where}"),
    ]
    with torch.no_grad():
        logits, deltas = det.forward(det.preprocess([image]))
    return rows, (tv, logits, deltas, det)


def _postprocess_row(figure: str, head: tuple, target_s: float, repeats: int, label: str) -> Row:
    """``core.ssd.postprocess`` on a detector's head outputs against torchvision's ``postprocess_detections``."""
    tv, logits, deltas, det = head
    size = det.image_size
    priors = det._priors
    anchors = torch.cat([priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2], 1) * size

    def ours():  # type: ignore[no-untyped-def]
        with torch.inference_mode():
            return postprocess(logits, deltas, priors, det.coder, det.config.postprocess)

    def reference():  # type: ignore[no-untyped-def]
        with torch.no_grad():
            return tv.postprocess_detections({"cls_logits": logits, "bbox_regression": deltas}, [anchors],
                                             [(size, size)])

    (boxes, scores, labels), ref = ours()[0], reference()[0]
    distinct = len(np.unique(ref["scores"].numpy())) == len(ref["scores"])
    if distinct:
        equal = (torch.equal(labels, ref["labels"]) and bool(((boxes * size - ref["boxes"]).abs() <= 1e-3).all())
                 and bool(((scores - ref["scores"]).abs() <= 1e-6).all()))
        same = "torchvision's detections (labels equal, boxes within 1e-3 px, scores within 1e-6)"
    else:
        equal = len(scores) == len(ref["scores"])
        same = "as many as torchvision (equal scores: its order among them is its topk's)"
    times = interleaved({"ours": ours, "torchvision": reference}, repeats, warmup=2)
    t, t_ref = median(times["ours"]), median(times["torchvision"])
    return Row(figure, fmt_s(t), fmt_s(t_ref) + " (torchvision)", f"{t_ref / t:.0f}x faster", f"<= {fmt_s(target_s)}",
               status(t <= target_s, equal),
               f"{label}: {len(scores)} detections, {same}; {cpu_flags()}; load average {os.getloadavg()[0]:.1f}; "
               f"median of {repeats} interleaved rounds")


def _ssd300_head() -> tuple:
    tv = torchvision_ssd300()
    det = same_weights_detector(tv)
    with torch.no_grad():
        logits, deltas = det.forward(det.preprocess([scene_image(640, 480)]))
    return tv, logits, deltas, det


def run(quick: bool = False) -> list[Row]:
    repeats = 7 if quick else 60
    torch.manual_seed(1234)
    untrained = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).eval()
    with tempfile.TemporaryDirectory() as cache:
        spread_rows, spread_head = _detect_rows(torchvision_ssdlite(), "spread scores",
                                                ("18. SSDlite detect / network, OpenVINO fp32",
                                                 "18b. SSDlite detect / torchvision, OpenVINO fp32"), repeats, cache, True)
        tied_rows, tied_head = _detect_rows(untrained, "torchvision's initialisation",
                                            ("18c. SSDlite detect / network, 1/91 scores",
                                             "18d. SSDlite detect / torchvision, 1/91 scores"), repeats, cache, False)
    pp_repeats = 30 if quick else 100
    return spread_rows + tied_rows + [
        _postprocess_row("18e. postprocess alone, SSDlite320", spread_head, 2e-3, pp_repeats,
                         "SSDlite320 head outputs, spread scores, thresholds 0.001 / 300 / 300"),
        _postprocess_row("18f. postprocess alone, SSDlite320, 1/91", tied_head, 2e-3, pp_repeats,
                         "SSDlite320 head outputs of torchvision's initialisation: every score 1/91"),
        _postprocess_row("18g. postprocess alone, SSD300", _ssd300_head(), 5e-3, pp_repeats,
                         "SSD300-VGG16 head outputs (random weights), thresholds 0.01 / 400 / 200"),
    ]


def main() -> None:
    bench_main(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
