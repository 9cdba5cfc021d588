"""Tiny real models for the teacher tests, written to disk as a user would have them: torchvision detectors
with random weights (``weights=None``, saved as a state dict) and OWLv2 / Grounding DINO built from small
configs with a tokenizer vocabulary written here (as transformers' own tests build theirs)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

#: Words the tiny tokenizers know (the prompts of the tests use only these).
WORDS = ("fork", "lift", "truck", "person", "pallet", "wooden", "car", "van", "dog", "circle", "square")


def zoo_state_dict(name: str, path: Path, seed: int = 0, spread: float = 0.0) -> Path:
    """torchvision's ``name`` with random weights (``weights=None``), saved as a state dict at ``path``.

    ``spread`` > 0 scales the class logits' layer so that scores are spread out (distinct, not all near 1/91).
    """
    from torchvision.models import get_model

    torch.manual_seed(seed)
    model = get_model(name, weights=None, weights_backbone=None, num_classes=91)
    _measure_batchnorm(model.backbone, seed)
    heads = getattr(model, "roi_heads", None)
    if spread and heads is not None:
        # With measured statistics the random features are large: scaled down, the class and box layers give
        # spread-out, distinct scores and boxes near their proposals (unscaled, scores saturate at 1).
        with torch.no_grad():
            heads.box_predictor.cls_score.weight.mul_(spread)
            heads.box_predictor.bbox_pred.weight.mul_(spread / 10)
    torch.save(model.state_dict(), path)
    return path


def _measure_batchnorm(backbone: torch.nn.Module, seed: int) -> None:
    """Random BatchNorm statistics (mean 0, variance 1) let a random MobileNet's features shrink to ~1e-8, so
    every box would look alike: measure them on a few random images instead, as a trained model's are."""
    bns = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the batches
    backbone.train()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _ in range(2):
            backbone(torch.rand((4, 3, 160, 160), generator=g))
    backbone.eval()


def owlv2_folder(folder: Path, seed: int = 0) -> Path:
    """A saved OWLv2 (2 layers, width 32, 64 px images) with its processor; CLIP's tokenizer on :data:`WORDS`."""
    from transformers import CLIPTokenizer, Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    folder.mkdir(parents=True, exist_ok=True)
    # OWLv2 masks a query whose first id is 0, so the start token must not be 0 (CLIP's is 49406).
    vocab = {"!": 0, "<|startoftext|>": 1, "<|endoftext|>": 2}
    for w in WORDS:
        vocab[w + "</w>"] = len(vocab)
    for ch in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16)
    config = Owlv2Config(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=16, bos_token_id=1, eos_token_id=2,
                         pad_token_id=2),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                           image_size=64, patch_size=16),
        projection_dim=32)
    torch.manual_seed(seed)
    model = Owlv2ForObjectDetection(config).eval()
    with torch.no_grad():  # random logit scales saturate the sigmoid (scores of exactly 1 tie): temper them
        for layer in (model.class_head.logit_scale, model.class_head.logit_shift):
            layer.weight.mul_(0.02)
            layer.bias.zero_()
    processor = Owlv2Processor(image_processor=Owlv2ImageProcessor(size={"height": 64, "width": 64}),
                               tokenizer=tokenizer)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def grounding_dino_folder(folder: Path, seed: int = 0) -> Path:
    """A saved Grounding DINO (Swin of width 8, BERT of width 32, 20 queries) with its processor and a BERT
    vocabulary of :data:`WORDS`."""
    from transformers import (BertConfig, BertTokenizer, GroundingDinoConfig, GroundingDinoForObjectDetection,
                              GroundingDinoImageProcessor, GroundingDinoProcessor, SwinConfig)

    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."] + list(WORDS)
    (folder / "vocab.txt").write_text("\n".join(tokens) + "\n")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"))
    backbone = SwinConfig(embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4, image_size=64,
                          out_features=["stage2", "stage3", "stage4"], out_indices=[2, 3, 4])
    text = BertConfig(vocab_size=len(tokens), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=37, max_position_embeddings=64)
    config = GroundingDinoConfig(backbone_config=backbone, text_config=text, d_model=32, encoder_layers=1,
                                 decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2,
                                 decoder_attention_heads=2, num_queries=20, num_feature_levels=3, encoder_n_points=2,
                                 decoder_n_points=2, max_text_len=32, use_timm_backbone=False,
                                 use_pretrained_backbone=False)
    torch.manual_seed(seed)
    model = GroundingDinoForObjectDetection(config).eval()
    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}),
        tokenizer=tokenizer)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


PLUGIN_SOURCE = '''"""A plug-in teacher for the tests: boxes from the frame's size, some ways of going wrong on request."""
import numpy as np

class Squares:
    class_names = ["square", "circle"]
    description = "fixed squares"

    def __init__(self, mode="ok"):
        self.mode = mode

    def detect(self, images):
        out = []
        for img in images:
            h, w = img.shape[:2]
            boxes = np.array([[0.1 * w, 0.1 * h, 0.5 * w, 0.5 * h], [0.4 * w, 0.3 * h, 0.9 * w, 0.95 * h]], np.float32)
            scores = np.array([0.9, 0.7], np.float32)
            labels = np.array([0, 1])
            if self.mode == "nan":
                boxes[1, 2] = np.nan
            elif self.mode == "shape":
                boxes = boxes[:, :3]
            elif self.mode == "label":
                labels = np.array([0, 2])
            elif self.mode == "raise":
                raise RuntimeError("the camera model file is corrupt")
            elif self.mode == "hang":
                import time
                time.sleep(600)
            elif self.mode == "torch":
                import torch
                boxes, scores, labels = torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels)
            out.append((boxes, scores, labels))
        return out

def build():
    return Squares()

def build_nan():
    return Squares("nan")

def build_shape():
    return Squares("shape")

def build_label():
    return Squares("label")

def build_raise():
    return Squares("raise")

def build_hang():
    return Squares("hang")

def build_torch():
    return Squares("torch")

def build_broken():
    raise ImportError("no module named 'my_detector_sdk'")

def build_no_classes():
    s = Squares()
    s.class_names = []
    return s
'''


def plugin_file(folder: Path) -> Path:
    """The test plug-in (:data:`PLUGIN_SOURCE`) as ``folder/square_teacher.py``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "square_teacher.py"
    path.write_text(PLUGIN_SOURCE)
    return path
