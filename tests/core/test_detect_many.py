"""``ssd detect a.mp4 b.mp4``: one JSON and one annotated video per source, the frames of both through the model
in shared batches with the same detections as one source at a time, and the refusals (a plain file name, two
sources with one stem, an output that is a source) before the model loads."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main
from core.config import ssd300
from core.inference import run_inference
from core.inference_loop import interleaved_batches
from core.inference_many import OUTPUT_NAMES, output_path, plan_outputs, run_inference_many, source_stem
from core.io.video import open_source
from core.model import build_model
from core.resolve import load_detector
from core.weights import save_checkpoint
from tests.core.videos import frame_number, write_video
from tests.gui.assets import spread_scores

NAMES = ("__background__", "circle", "square", "star")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    cfg = ssd300(num_classes=len(NAMES), priors="voc", width=0.125)
    model = build_model(cfg.model)
    spread_scores(model, cfg.model.priors.boxes_per_location, len(NAMES))  # distinct scores: a stable kept set
    return save_checkpoint(tmp_path_factory.mktemp("w") / "tiny.pt", model, cfg, NAMES)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return write_video(folder / "yard.mp4", 5, size=(96, 64)), write_video(folder / "shop.mp4", 3, size=(64, 48))


def test_the_batches_take_each_source_in_turn(clips: tuple[Path, Path]) -> None:
    with open_source(clips[0]) as a, open_source(clips[1]) as b:
        batches = [[(k, frame_number(f.image)) for k, f in batch] for batch in interleaved_batches([a, b], 3)]
    # yard has frames 0-4, shop 0-2: one of each in turn, the rest of yard once shop has ended
    assert batches == [[(0, 0), (1, 0), (0, 1)], [(1, 1), (0, 2), (1, 2)], [(0, 3), (0, 4)]]
    with open_source(clips[0]) as a, open_source(clips[1]) as b:
        capped = [[(k, f.index) for k, f in batch] for batch in interleaved_batches([a, b], 4, max_frames=2)]
        assert (a.position, b.position) == (2, 2)  # no frame past max_frames is read
    assert capped == [[(0, 0), (1, 0), (0, 1), (1, 1)]]


def test_two_sources_write_their_own_files_with_the_detections_of_separate_runs(tmp_path: Path, weights: Path,
                                                                               clips: tuple[Path, Path],
                                                                               capsys) -> None:
    out = tmp_path / "out"
    assert main(["detect", *map(str, clips), "--weights", str(weights), "--out", f"{out}/",
                 "--save-video", str(out / "{stem}_boxes.mp4"), "--batch-size", "4", "--score-thresh", "0.3",
                 "--no-optimize"]) == 0
    err = capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["shop_boxes.mp4", "shop_detections.json", "yard_boxes.mp4",
                                                    "yard_detections.json"]
    detector = load_detector(weights, optimize=False)
    for clip, n, shape in zip(clips, (5, 3), ((64, 96, 3), (48, 64, 3))):
        doc = json.loads((out / f"{clip.stem}_detections.json").read_text())
        assert doc["source"] == str(clip) and doc["frames_done"] == n and doc["partial"] is False
        assert doc["video"]["file"] == str(out / f"{clip.stem}_boxes.mp4")
        assert f"{n} of {n} image(s)" in err and str(out / f"{clip.stem}_detections.json") in err
        alone = run_inference(detector, clip, json_path=tmp_path / f"{clip.stem}_alone.json", score_thresh=0.3)
        ref = json.loads(alone.json_path.read_text())
        assert alone.frames_done == n and doc["images"] == ref["images"]  # batched with the other source: same boxes
        assert sum(len(im["detections"]) for im in doc["images"]) > 0
        with open_source(out / f"{clip.stem}_boxes.mp4") as video:
            assert video.frame_count == n and all(f.image.shape == shape for f in video)  # each its own source's


def test_one_forward_pass_serves_both_sources(tmp_path: Path, weights: Path, clips: tuple[Path, Path]) -> None:
    detector = load_detector(weights, optimize=False)
    calls: list[int] = []
    real = detector.detect

    def counted(images, **kw):  # type: ignore[no-untyped-def]
        calls.append(len(images))
        return real(images, **kw)

    detector.detect = counted  # the real detector, its calls counted
    results = run_inference_many(detector, [str(c) for c in clips], json_path=str(tmp_path / "{stem}.json"),
                                 batch_size=2)
    assert [r.frames_done for r in results] == [5, 3]
    assert calls == [2, 2, 2, 2]  # (yard 0, shop 0), (yard 1, shop 1), (yard 2, shop 2), (yard 3, yard 4)


def test_collisions_and_outputs_that_are_inputs_are_refused_before_the_model_loads(tmp_path: Path,
                                                                                  clips: tuple[Path, Path],
                                                                                  capsys) -> None:
    other = tmp_path / "b"
    other.mkdir()
    twin = write_video(other / "yard.mp4", 2)
    missing_weights = str(tmp_path / "never_read.pt")  # a refusal comes first: the weights are never opened

    def refused(*args: str) -> str:
        assert main(["detect", *args, "--weights", missing_weights]) == 2
        return capsys.readouterr().err

    err = refused(str(clips[0]), str(twin), "--out", f"{tmp_path}/out/")
    assert f"'{clips[0]}' and '{twin}' would both write" in err and "the same stem 'yard'" in err
    err = refused(str(clips[0]), str(clips[0]), "--out", str(tmp_path / "{stem}.json"))
    assert "would both write" in err
    err = refused(*map(str, clips), "--out", str(tmp_path / "all.json"))
    assert "with 2 sources the detections file must be a folder (ending in '/') or a name with {stem}" in err
    # --save-video {stem}.mp4 next to the sources would write yard.mp4 over the source yard.mp4
    err = refused(*map(str, clips), "--save-video", str(clips[0].parent / "{stem}.mp4"))
    assert f"video file {clips[0]} is the source video {clips[0]}: writing it would destroy its own input" in err
    link = tmp_path / "link"
    link.mkdir()
    os.link(clips[1], link / "shop_detections.mp4")  # a hard link to a source, where the folder's name would go
    err = refused(*map(str, clips), "--save-video", f"{link}/")
    assert f"is the source video {clips[1]} (the same file under another name)" in err
    # the weights are an input too: a weights file named where a source's JSON would go is refused
    weights_there = tmp_path / "w" / "yard_detections.json"
    assert main(["detect", *map(str, clips), "--out", f"{weights_there.parent}/", "--weights", str(weights_there)]) == 2
    assert f"detections file {weights_there} is the weights {weights_there}" in capsys.readouterr().err
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "shop_detections.mp4").write_bytes(b"an earlier run")  # a video is replaced only with --overwrite
    err = refused(*map(str, clips), "--save-video", f"{kept}/")
    assert f"video file {kept / 'shop_detections.mp4'} exists" in err and "--overwrite" in err
    assert (kept / "shop_detections.mp4").read_bytes() == b"an earlier run"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_stems_and_names() -> None:
    assert source_stem("videos/clip.mp4") == "clip" and source_stem("camera:2") == "camera2"
    assert source_stem(str(Path(__file__).parent)) == "core"  # a folder: its name
    assert output_path("out/", "clip", "mot", 2) == Path("out") / OUTPUT_NAMES["mot"].format(stem="clip")
    assert output_path("r/{stem}-{stem}.json", "a", "json", 2) == Path("r/a-a.json")
    assert output_path(None, "a", "json", 2) is None
    with pytest.raises(ValueError, match="no source given"):
        plan_outputs([], "out/")


def test_every_source_keeps_its_frames_when_the_run_stops(tmp_path: Path, weights: Path,
                                                          clips: tuple[Path, Path]) -> None:
    detector = load_detector(weights, optimize=False)
    seen: list[int] = []

    def stop_after_four() -> bool:
        return len(seen) >= 4

    results = run_inference_many(detector, [str(c) for c in clips], json_path=f"{tmp_path}/", batch_size=2,
                                 on_progress=lambda p: seen.append(p.done), should_stop=stop_after_four)
    assert [r.frames_done for r in results] == [2, 2] and all(r.partial for r in results)
    assert seen == [1, 2, 3, 4] and results[0].frames_total == 5
    for clip in clips:
        doc = json.loads((tmp_path / f"{clip.stem}_detections.json").read_text())
        assert doc["partial"] is True and [im["frame"] for im in doc["images"]] == [0, 1]
    assert np.isfinite([d["score"] for im in doc["images"] for d in im["detections"]]).all()
