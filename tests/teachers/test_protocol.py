"""The teacher protocol's pieces, pinned by values computed by hand: the ontology grammar, per-prompt scores
merged into classes, tiles and their merge, the checks of a teacher's output, and what a model string names."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.model_spec import UntrustedCodeError, check_trusted, kind_of, parse_model_spec
from core.teachers.ontology import merge_prompt_scores, parse_ontology, select_per_image
from core.teachers.protocol import TeacherOutputError, check_detections
from core.teachers.spec import parse_teacher_spec
from core.teachers.tiling import Tiling, TiledTeacher, merge_views, parse_tiling, tile_windows
from core.types import Detections


def test_ontology_one_class_from_several_prompts_with_its_own_threshold() -> None:
    onto = parse_ontology("forklift>0.3=forklift,fork lift truck;pallet=wooden pallet; person ;")
    assert onto.class_names == ("forklift", "pallet", "person")
    assert onto.prompts == ("forklift", "fork lift truck", "wooden pallet", "person")
    assert onto.prompt_class.tolist() == [0, 0, 1, 2]
    assert onto.thresholds == (0.3, None, None)
    assert onto.text() == "forklift>0.3=forklift,fork lift truck;pallet=wooden pallet;person"
    assert parse_ontology(onto.text()) == onto


@pytest.mark.parametrize("text, message", [
    ("", "the ontology is empty"),
    ("car;;person", "an empty class between two ';'"),
    ("=car", "has no name before '='"),
    ("car=van,", "an empty prompt"),
    ("car;car=van", "class 'car' is given twice"),
    ("car=van;truck=Van", "prompt 'Van' belongs to both 'car' and 'truck'"),
    ("car>high", "must be a number, got 'high'"),
    ("car>1.5", "must be in [0, 1), got 1.5"),
])
def test_a_malformed_ontology_is_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_ontology(text)


def test_a_class_scores_its_best_prompt_and_each_box_gets_one_label() -> None:
    # 3 boxes x 4 prompts (classes 0, 0, 1, 2)
    prompt = torch.tensor([[0.10, 0.60, 0.20, 0.05],
                           [0.30, 0.20, 0.25, 0.40],
                           [0.02, 0.01, 0.03, 0.04]])
    merged = merge_prompt_scores(prompt, np.array([0, 0, 1, 2]), 3)
    assert torch.allclose(merged, torch.tensor([[0.60, 0.20, 0.05], [0.30, 0.25, 0.40], [0.02, 0.03, 0.04]]))
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32)
    # box 1 (0.40, class 2) overlaps box 0 (0.60, class 0) by IoU 81/119 = 0.68 > 0.5: class-agnostic NMS drops it;
    # box 2 scores 0.04 (class 2), under the floor 0.05
    b, s, lab = select_per_image(boxes, merged, 0.05, (None, None, None), 0.5)
    assert lab.tolist() == [0] and s.tolist() == pytest.approx([0.60]) and b.tolist() == [[0, 0, 10, 10]]
    # class 2 with its own threshold 0.03 keeps box 2; class 0 with 0.7 loses box 0, so box 1 survives the NMS
    b, s, lab = select_per_image(boxes, merged, 0.05, (0.7, None, 0.03), 0.5)
    assert lab.tolist() == [2, 2] and s.tolist() == pytest.approx([0.40, 0.04])
    # "above" the threshold, as everywhere in this project: a score equal to it is not kept (0.25 is exact in binary)
    exact = torch.tensor([[0.25, 0.5]])
    far = torch.tensor([[0.0, 0.0, 4.0, 4.0]])
    assert len(select_per_image(far, exact, 0.25, (None, 0.5), 0.5)[0]) == 0
    assert len(select_per_image(far, torch.tensor([[0.25, 0.0]]), 0.125, (None, None), 0.5)[0]) == 1


def test_tiles_cover_the_frame_with_the_asked_overlap() -> None:
    # 3 columns over 100 px with overlap 0.2: tile = ceil(100 / (3 - 2 * 0.2)) = ceil(38.46) = 39, stride 31.2
    assert tile_windows(100, 50, Tiling(1, 3, 0.2)) == [(0, 0, 39, 50), (31, 0, 70, 50), (61, 0, 100, 50)]
    # 2 x 2 without overlap: the four quarters
    assert tile_windows(64, 48, Tiling(2, 2, 0.0)) == [(0, 0, 32, 24), (32, 0, 64, 24), (0, 24, 32, 48),
                                                        (32, 24, 64, 48)]
    assert parse_tiling("2x3", 0.25) == Tiling(2, 3, 0.25) and parse_tiling("1x1") is None and parse_tiling(None) is None
    for bad, message in (("2by3", "ROWSxCOLUMNS"), ("0x2", "rows must be an integer from 1 to 16"),
                         ("2x2", "overlap must be in")):
        with pytest.raises(ValueError, match=message):
            parse_tiling(bad, 0.95 if bad == "2x2" else 0.2)


def test_views_are_moved_to_frame_pixels_and_merged_by_class() -> None:
    whole = Detections(np.array([[10, 10, 30, 30]], np.float32), np.array([0.8], np.float32), np.array([0]))
    # the same object seen in a tile at offset (8, 8) with a better score, and a small one of class 1
    tile = Detections(np.array([[2, 2, 22, 22], [40, 40, 44, 44]], np.float32), np.array([0.9, 0.5], np.float32),
                      np.array([0, 1]))
    out = merge_views([whole, tile], [(0, 0), (8, 8)])
    assert out.boxes.tolist() == [[10, 10, 30, 30], [48, 48, 52, 52]]
    assert out.scores.tolist() == pytest.approx([0.9, 0.5]) and out.labels.tolist() == [0, 1]


class _Corner:
    """A teacher that finds one box in the top-left quarter of whatever image it is given."""

    class_names = ("thing",)
    description = "corner"

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []

    def detect(self, images: list) -> list[Detections]:
        self.sizes += [im.shape[:2] for im in images]
        return [Detections(np.array([[0, 0, im.shape[1] / 4, im.shape[0] / 4]], np.float32),
                           np.array([0.5 + im.shape[1] / 1000], np.float32), np.array([0])) for im in images]

    def fingerprint(self) -> dict:
        return {"kind": "corner"}


def test_a_tiled_teacher_sees_the_frame_and_each_tile() -> None:
    inner = _Corner()
    tiled = TiledTeacher(inner, Tiling(1, 2, 0.0))
    [det] = tiled.detect([np.zeros((40, 80, 3), np.uint8)])
    assert inner.sizes == [(40, 80), (40, 40), (40, 40)]
    # whole frame: (0, 0, 20, 10); left tile: (0, 0, 10, 10) overlaps it by IoU 0.5 (not more): both kept;
    # right tile: (40, 0, 50, 10)
    assert sorted(det.boxes.tolist()) == [[0, 0, 10, 10], [0, 0, 20, 10], [40, 0, 50, 10]]
    assert tiled.fingerprint() == {"kind": "corner", "tiles": [1, 2], "tile_overlap": 0.0}


@pytest.mark.parametrize("boxes, scores, labels, message", [
    ([[0, 0, 1]], [0.5], [0], r"boxes must have shape \(N, 4\)"),
    ([[0, 0, 1, 1]], [0.5, 0.4], [0], r"scores must have shape \(1,\)"),
    ([[0, 0, 1, 1]], [0.5], [[0]], r"labels must have shape \(1,\)"),
    ([[0, 0, np.nan, 1]], [0.5], [0], "boxes hold NaN or infinity"),
    ([[0, 0, 1, 1]], [1.5], [0], r"scores must be finite and in \[0, 1\], got 1.5"),
    ([[0, 0, 1, 1]], [0.5], [2], r"label 2 is out of range: class_names has 2 entries \(labels 0..1\)"),
    ([[0, 0, 1, 1]], [0.5], [0.5], "labels must be integers"),
    ([[5, 0, 1, 1]], [0.5], [0], "boxes must be x1, y1, x2, y2 with x2 >= x1"),
    ([[0, 0, 1000, 10]], [0.5], [0], "boxes lie far outside the 100x50 image"),
])
def test_garbage_from_a_teacher_is_refused_naming_the_field(boxes: list, scores: list, labels: list,
                                                           message: str) -> None:
    with pytest.raises(TeacherOutputError, match=f"my plug-in: image 3: {message}"):
        check_detections("my plug-in", 3, boxes, scores, labels, 2, (100, 50))


def test_good_output_is_sorted_by_score() -> None:
    d = check_detections("t", 0, [[0, 0, 1, 1], [2, 2, 3, 3]], [0.2, 0.9], np.array([1, 0], np.int32), 2, (10, 10))
    assert d.scores.tolist() == pytest.approx([0.9, 0.2]) and d.labels.tolist() == [0, 1]
    assert d.boxes.dtype == np.float32 and d.labels.dtype == np.int64


def test_what_a_model_string_names() -> None:
    assert kind_of("torchvision:fasterrcnn_resnet50_fpn_v2") == "torchvision"
    assert kind_of("owlv2@google/owlv2-base-patch16-ensemble:person") == "owlv2"
    assert kind_of("grounding-dino:person;car") == "grounding-dino"
    assert kind_of("py:teacher.py:build") == "plugin" and kind_of("py:pkg.mod:build") == "plugin"
    # this project's own names of files stay files, and so do the zoo's SSDs (imported exactly, all runtimes)
    for name in ("runs/a/best.pt", "torchvision:ssd300_vgg16_coco", "torchvision:ssd300_vgg16",
                 "torchvision:ssdlite320_mobilenet_v3_large@/tmp/x.pth", "C:/models/net.pt"):
        assert parse_teacher_spec(name) is None and kind_of(name) == "checkpoint"
    spec = parse_teacher_spec("owlv2@my/model:car=car,van")
    assert (spec.kind, spec.model, spec.argument) == ("owlv2", "my/model", "car=car,van")
    with pytest.raises(ValueError, match="nothing after 'owlv2:'; e.g. owlv2:forklift"):
        parse_teacher_spec("owlv2:  ")


def test_a_plugin_is_code_and_needs_the_opt_in(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spec = parse_model_spec(f"py:{tmp_path}/t.py:build")
    assert spec.runs_code and spec.is_teacher and spec.path is None
    with pytest.raises(UntrustedCodeError, match="is a Python plug-in: loading it runs its Python code"):
        check_trusted(spec, trust_code=False)
    check_trusted(spec, trust_code=True)
    for data in ("torchvision:fcos_resnet50_fpn", "owlv2:car", "grounding-dino:car"):
        assert not parse_model_spec(data).runs_code
