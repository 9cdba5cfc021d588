"""Evaluation against a reference model: the reference's detections on footage are the ground truth."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.data.frames import open_frames, read_video_frame, sample_frames, video_frame_path
from core.data.loader import read_image_rgb
from core.evaluation.reference import ReferenceSource
from core.evaluation.run import EvaluationCancelled, EvaluationRequest, run_evaluation
from core.jobs import Progress


@pytest.fixture(scope="module")
def self_agreement(demo_weights: Path, short_video: Path):  # type: ignore[no-untyped-def]
    seen: list[Progress] = []
    source = ReferenceSource(str(demo_weights), str(short_video), threshold=0.5, batch_size=4)
    output = run_evaluation(EvaluationRequest(source, weights=str(demo_weights), batch_size=4, with_coco=True),
                            on_progress=seen.append)
    return output, seen


def test_a_model_against_itself_agrees_fully(self_agreement) -> None:  # type: ignore[no-untyped-def]
    output, seen = self_agreement
    result = output.result
    assert len(output.gt.records) == 12
    with_objects = np.flatnonzero(result.sweep.num_gt > 0)
    assert len(with_objects) >= 3  # the demo model finds several kinds of shape in the video
    for use_07 in (True, False):
        ap = result.voc(use_07).ap
        # (the 11-point sum of p/11 is 0.9999999999999999 for p = 1, in the devkit as here)
        np.testing.assert_allclose(ap[with_objects], 1.0, rtol=0, atol=1e-12)
        assert np.isnan(np.delete(ap, with_objects)).all()
    assert output.metrics["mAP"] == pytest.approx(1.0, abs=1e-12)
    # just above the reference threshold both keep the same detections: no error anywhere
    t = 0.5 + 1e-6
    stats = result.at_threshold(t)
    assert stats.fp.sum() == 0 and stats.fn.sum() == 0 and stats.tp.sum() == result.sweep.num_gt.sum()
    assert all(b.num_errors == 0 for b in result.image_breakdown(None, t))
    cm = result.confusion_matrix(t)
    assert cm.counts.sum() == np.trace(cm.counts) == stats.tp.sum()
    assert output.coco is not None and output.coco.stats[0] > 0.99  # pycocotools agrees (IoU 1 everywhere)
    # it says what the figures mean, on the output and in metrics.json
    assert output.caveat.startswith("Agreement with a model, not accuracy")
    assert output.metrics["caveat"] == output.caveat
    assert output.metrics["ground_truth_source"]["kind"] == "reference_model"
    stages = [p.stage for p in seen]
    assert "reference" in stages and stages.index("reference") < stages.index("detect")
    done = [p for p in seen if p.stage == "reference" and p.total]
    assert done[-1].done == done[-1].total == 12


def test_video_frame_records_read_back_the_same_pixels(self_agreement,  # type: ignore[no-untyped-def]
                                                        short_video: Path) -> None:
    output, _ = self_agreement
    records = output.gt.records
    assert records[3].file == video_frame_path(short_video, 3) and records[3].image_id == "shapes_000003"
    with open_frames(str(short_video)) as src:
        frames = list(sample_frames(src, str(short_video)))
    # out of order (a strip): seeks; in order: the next frame
    for k in (7, 2, 3, 4, 11, 0):
        np.testing.assert_array_equal(read_image_rgb(records[k]), frames[k].image)
    with pytest.raises(ValueError, match="frame 40"):
        read_video_frame(short_video, 40)


def test_cli_reference_with_a_model_and_with_a_detections_file(demo_weights: Path, short_video: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    common = ["eval", "--reference", str(demo_weights), "--reference-thresh", "0.4", "--images", str(short_video),
              "--every", "3", "--metric", "voc07", "--quiet", "--no-plots"]
    assert main(common + ["--weights", str(demo_weights), "--out", str(tmp_path / "model")]) == 0
    out = capsys.readouterr().out
    assert "Agreement with a model, not accuracy" in out and "AP: PASCAL VOC2007 11-point" in out
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["mAP"] == pytest.approx(1.0, abs=1e-12) and metrics["num_images"] == 4  # frames 0, 3, 6, 9
    assert metrics["ground_truth_source"]["threshold"] == 0.4

    # the same agreement from the JSON of `ssd detect`, matched frame by frame
    dets = tmp_path / "dets.json"
    assert main(["detect", str(short_video), "--weights", str(demo_weights), "--out", str(dets)]) == 0
    assert main(common + ["--dets", str(dets), "--out", str(tmp_path / "file")]) == 0
    from_file = json.loads((tmp_path / "file" / "metrics.json").read_text())
    assert from_file["mAP"] == pytest.approx(1.0, abs=1e-12)
    assert any("not in" in w for w in from_file["warnings"])  # the frames --every 3 left out are named


def test_bad_reference_inputs_are_named(demo_weights: Path, short_video: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    def fails(args: list[str]) -> str:
        assert main(["eval", "--metric", "voc07", "--quiet", "--out", str(tmp_path / "o")] + args) == 2
        return capsys.readouterr().err

    ref = ["--reference", str(demo_weights)]
    assert "--images" in fails(ref + ["--weights", str(demo_weights)])
    assert "missing.mp4" in fails(ref + ["--images", str(tmp_path / "missing.mp4"), "--weights", str(demo_weights)])
    assert "camera" in fails(ref + ["--images", "camera:0", "--weights", str(demo_weights)])
    assert "lower the reference threshold" in fails(ref + ["--images", str(short_video), "--reference-thresh",
                                                           "0.99999", "--weights", str(demo_weights)])
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    assert "notes.mp4" in fails(ref + ["--images", str(not_video), "--weights", str(demo_weights)])
    assert "--reference" in fails(["--gt", str(tmp_path), "--images", str(short_video), "--weights", "x.pt"])
    with pytest.raises(ValueError, match="threshold"):
        ReferenceSource(str(demo_weights), str(short_video), threshold=1.5)


def test_reference_stops_when_asked(demo_weights: Path, short_video: Path) -> None:
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2

    request = EvaluationRequest(ReferenceSource(str(demo_weights), str(short_video), batch_size=2),
                                weights=str(demo_weights))
    with pytest.raises(EvaluationCancelled, match="reference"):
        run_evaluation(request, should_stop=stop)


def test_one_reference_built_once_serves_two_models(demo_weights: Path, short_video: Path, tmp_path: Path) -> None:
    import torch

    from core.model import build_model
    from core.evaluation.compare import compare_evaluations
    from core.weights import load_weights, save_checkpoint

    lw = load_weights(demo_weights)
    torch.manual_seed(0)
    noisy = build_model(lw.config.model)
    noisy.load_state_dict(lw.state_dict)
    with torch.no_grad():  # a perturbed copy of the reference: it agrees, but not fully
        for p in noisy.parameters():
            p.mul_(1 + 0.3 * torch.randn_like(p))
    other = save_checkpoint(tmp_path / "noisy.pt", noisy, lw.config, lw.class_names)
    fixed = ReferenceSource(str(demo_weights), str(short_video), threshold=0.5, every=2).build()
    a = run_evaluation(EvaluationRequest(fixed, weights=str(demo_weights)))
    b = run_evaluation(EvaluationRequest(fixed, weights=str(other)))
    assert a.caveat == b.caveat == fixed.caveat and a.gt is b.gt
    cmp = compare_evaluations(a, b, names=("reference", "perturbed"))
    assert cmp.map_a == pytest.approx(1.0, abs=1e-12) and cmp.map_b < 0.99
    assert len(cmp.pr_curves(int(np.flatnonzero(cmp.num_gt)[0]))) == 2
