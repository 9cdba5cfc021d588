"""OWLv2 and Grounding DINO as teachers, on tiny random models written here: our own mapping of their outputs
(padded-square boxes back to the frame, token spans back to prompts, prompts to classes, one label per object)
checked against the models' raw outputs and transformers' own post-processing."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.ops import box_convert, nms

from core.resolve import load_detector, model_identity

IMAGES = [np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8),
          np.random.default_rng(1).integers(0, 255, (60, 30, 3), dtype=np.uint8)]


def test_owlv2_boxes_and_classes_match_transformers_post_processing(owlv2_dir: Path) -> None:
    det = load_detector(f"owlv2@{owlv2_dir}:square=square,car;circle")
    teacher = det.teacher
    assert det.class_names == ("__background__", "square", "circle")
    got = det.detect(IMAGES, score_thresh=0.0)
    # transformers' own post-processing of the same outputs: the best prompt per box, boxes scaled to the
    # padded square (its _scale_boxes), then the class of that prompt and one box per object (NMS at 0.5)
    inputs = teacher.processor(text=[["square", "car", "circle"]] * 2, images=IMAGES, return_tensors="pt")
    with torch.inference_mode():
        outputs = teacher.model(**inputs)
    sizes = [im.shape[:2] for im in IMAGES]
    hf = teacher.processor.image_processor.post_process_object_detection(outputs, threshold=0.05, target_sizes=sizes)
    for im, g, r in zip(IMAGES, got, hf):
        h, w = im.shape[:2]
        boxes = torch.minimum(r["boxes"].clamp(min=0), torch.tensor([w, h, w, h], dtype=torch.float32))
        keep = nms(boxes, r["scores"], 0.5)
        classes = torch.tensor([0, 0, 1])[r["labels"][keep]] + 1
        assert len(g) == len(keep) > 0
        assert np.allclose(g.boxes, boxes[keep].numpy(), atol=1e-4)
        assert np.allclose(g.scores, r["scores"][keep].numpy(), atol=1e-6)
        assert g.labels.tolist() == classes.tolist()
        assert (g.boxes[:, 2] <= w).all() and (g.boxes[:, 3] <= h).all()
    assert any(len(set(g.labels.tolist())) == 2 for g in got), "both classes occur (the test would miss a mix-up)"
    # a class's own threshold beats the run's; the fingerprint is known without loading the model
    strict = load_detector(f"owlv2@{owlv2_dir}:square>0.99=square,car;circle")
    assert all(1 not in d.labels.tolist() or d.scores[d.labels == 1].min() > 0.99
               for d in strict.detect(IMAGES, score_thresh=0.0))
    assert model_identity(f"owlv2@{owlv2_dir}:square=square,car;circle") == {"teacher": det.fingerprint()}
    assert det.fingerprint()["ontology"] == "square=square,car;circle"
    assert strict.fingerprint() != det.fingerprint()


def test_owlv2_maps_padded_square_boxes_to_the_frame() -> None:
    from core.teachers.owlv2 import frame_boxes

    # a 100 x 50 frame is padded to 100 x 100 at the bottom: (cx, cy, w, h) = (0.5, 0.25, 0.2, 0.1) of the square
    # is x 40..60, y 20..30 in the frame; a box reaching into the padding is clipped to the frame
    out = frame_boxes(torch.tensor([[0.5, 0.25, 0.2, 0.1], [0.9, 0.6, 0.4, 0.4]]), 100, 50)
    assert torch.allclose(out, torch.tensor([[40.0, 20, 60, 30], [70, 40, 100, 50]]), atol=1e-4)


def test_grounding_dino_scores_each_prompt_by_its_tokens(gdino_dir: Path) -> None:
    from core.teachers.grounding_dino import prompt_spans

    det = load_detector(f"grounding-dino@{gdino_dir}:vehicle=fork lift truck,car;person")
    teacher = det.teacher
    assert det.class_names == ("__background__", "vehicle", "person")
    ids, spans = prompt_spans(teacher.processor.tokenizer, ["fork lift truck", "car", "person"])
    vocab = teacher.processor.tokenizer.convert_tokens_to_ids
    assert ids == [vocab(t) for t in ("[CLS]", "fork", "lift", "truck", ".", "car", ".", "person", ".", "[SEP]")]
    assert spans == [(1, 4), (5, 6), (7, 8)]
    got = det.detect(IMAGES, score_thresh=0.0)
    inputs = teacher.processor(images=IMAGES, text=["fork lift truck . car . person ."] * 2, return_tensors="pt")
    with torch.inference_mode():
        outputs = teacher.model(**inputs)
    for im, g, logits, pred in zip(IMAGES, got, outputs.logits, outputs.pred_boxes):
        h, w = im.shape[:2]
        p = torch.sigmoid(logits)
        per_class = torch.stack([p[:, 1:6].amax(1), p[:, 7:8].amax(1)], 1)  # vehicle: fork lift truck . car
        per_class[:, 0] = torch.maximum(p[:, 1:4].amax(1), p[:, 5:6].amax(1))  # (the "." between is no prompt)
        scores, labels = per_class.max(1)
        boxes = box_convert(pred, "cxcywh", "xyxy") * torch.tensor([w, h, w, h])
        boxes = torch.minimum(boxes.clamp(min=0), torch.tensor([w, h, w, h], dtype=torch.float32))
        ok = scores > 0.1
        keep = nms(boxes[ok], scores[ok], 0.5)
        assert len(g) == len(keep) > 0
        assert np.allclose(g.scores, scores[ok][keep].numpy(), atol=1e-6)
        assert np.allclose(g.boxes, boxes[ok][keep].numpy(), atol=1e-4)
        assert g.labels.tolist() == (labels[ok][keep] + 1).tolist()


def test_missing_models_say_how_to_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("huggingface_hub")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    for text, model in (("owlv2:car", "google/owlv2-base-patch16-ensemble"),
                        ("grounding-dino:car", "IDEA-Research/grounding-dino-tiny")):
        with pytest.raises(ValueError, match=f"'{model}' is not in the Hugging Face cache .*run: hf download {model}"):
            load_detector(text)
    with pytest.raises(ValueError, match="holds no config.json"):
        load_detector(f"owlv2@{tmp_path}:car")
    with pytest.raises(ValueError, match="class 'car' is given twice"):
        load_detector(f"owlv2@{tmp_path}:car;car")


def test_without_the_extra_the_message_says_how_to_install_it(owlv2_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed: importing it fails
    with pytest.raises(ValueError, match=r"needs Hugging Face transformers, which is not installed: "
                                         r"pip install 'ssd-desktop\[zero-shot\]'"):
        load_detector(f"owlv2@{owlv2_dir}:car")


@pytest.mark.parametrize("kind", ["owlv2", "grounding-dino"])
def test_real_weights_find_a_drawn_shape(kind: str) -> None:
    """With the real model in the Hugging Face cache, the text 'circle' finds a drawn disc."""
    import cv2

    from core.teachers.hf import DEFAULT_MODELS
    from core.teachers.spec import parse_teacher_spec
    from core.teachers import hf

    try:
        hf.local_model(parse_teacher_spec(f"{kind}:circle"))
    except ValueError:
        pytest.skip(f"{DEFAULT_MODELS[kind]} is not in the Hugging Face cache; run `hf download "
                    f"{DEFAULT_MODELS[kind]}` online, then rerun this test")
    img = np.full((240, 320, 3), 255, np.uint8)
    cv2.circle(img, (160, 120), 60, (200, 30, 30), -1)
    [d] = load_detector(f"{kind}:circle").detect([img], score_thresh=0.2)
    assert len(d) >= 1 and abs(float(d.boxes[0, 0]) - 100) < 20 and abs(float(d.boxes[0, 2]) - 220) < 20


def test_grounding_dino_takes_a_caption_of_exactly_its_text_length(gdino_dir: Path) -> None:
    """The tiny model reads 32 tokens (``max_text_len``): [CLS], 11 one-word prompts with their "." (22), "fork
    lift truck ." and "wooden pallet truck ." (4 each) and [SEP] make 32: accepted and usable; one word more is
    refused before any image is read."""
    singles = "fork,lift,truck,person,pallet,wooden,car,van,dog,circle,square"
    det = load_detector(f"grounding-dino@{gdino_dir}:a={singles};b=fork lift truck,wooden pallet truck")
    assert det.teacher.caption_length == 32
    assert len(det.detect(IMAGES[:1], score_thresh=0.0)) == 1
    with pytest.raises(ValueError, match="the ontology's caption is 33 tokens, more than the model's 32"):
        load_detector(f"grounding-dino@{gdino_dir}:a={singles};b=fork lift truck,wooden pallet truck van")


def test_grounding_dino_boxes_reaching_past_the_frame_end_at_its_edges(gdino_dir: Path) -> None:
    """The box head's width and height biases raised by 6: every box is about the image's size (sigmoid(6 + x)
    of it) around a centre inside, so it reaches past the frame; x1, y1, x2, y2 are the model's (cx, cy, w, h)
    times the frame's size, each clipped to 0 .. W or 0 .. H."""
    det = load_detector(f"grounding-dino@{gdino_dir}:car;person")
    teacher = det.teacher
    with torch.no_grad():
        for head in teacher.model.bbox_embed:
            head.layers[-1].bias[2:] += 6.0
    got = det.detect(IMAGES, score_thresh=0.0)
    inputs = teacher.processor(images=IMAGES, text=["car . person ."] * 2, return_tensors="pt")
    with torch.inference_mode():
        pred_boxes = teacher.model(**inputs).pred_boxes
    for im, g, pred in zip(IMAGES, got, pred_boxes):
        h, w = im.shape[:2]
        cx, cy, bw, bh = pred.unbind(1)
        raw = torch.stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], 1)
        assert (raw[:, 0] < 0).any() and (raw[:, 2] > w).any() and (raw[:, 1] < 0).any() and (raw[:, 3] > h).any()
        clipped = torch.stack([raw[:, 0].clamp(0, w), raw[:, 1].clamp(0, h), raw[:, 2].clamp(0, w),
                               raw[:, 3].clamp(0, h)], 1).numpy()
        assert len(g) > 0
        for box in g.boxes:  # each kept box is one query's, clipped
            assert np.abs(clipped - box).max(axis=1).min() < 1e-3
        assert g.boxes[:, [0, 1]].min() >= 0 and g.boxes[:, 2].max() <= w and g.boxes[:, 3].max() <= h
        assert np.isclose(g.boxes[:, 2].max(), w) or np.isclose(g.boxes[:, 3].max(), h)
