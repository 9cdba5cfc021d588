"""Knowledge distillation: the teacher's soft class scores on the matched priors as an extra loss term."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch

from core.config import preset
from core.data.synthetic import SHAPE_CLASSES
from core.engine import train
from core.engine.distill import Distiller, distillation_term, load_teacher
from core.engine.tensorboard import read_scalars
from core.model import build_model
from core.weights import save_checkpoint
from tests.engine.helpers import tiny_config


def test_the_term_is_zero_when_the_distributions_agree_and_positive_otherwise() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 50, 9)
    positive = torch.rand(2, 50) < 0.3
    assert float(distillation_term(logits, logits.clone(), positive, 2.0)) == 0.0
    other = logits + 0.5 * torch.randn_like(logits)
    for t in (1.0, 2.0, 4.0):
        assert float(distillation_term(other, logits, positive, t)) > 0
    assert float(distillation_term(other, logits, torch.zeros(2, 50, dtype=torch.bool), 2.0)) == 0.0
    student = other.clone().requires_grad_()
    distillation_term(student, logits, positive, 2.0).backward()
    assert float(student.grad[~positive].abs().max()) == 0.0 and float(student.grad[positive].abs().max()) > 0


def test_the_term_at_t2_equals_the_hand_computed_kl_times_t_squared() -> None:
    """``T^2 * mean over positives of KL(softmax(z_t / T) || softmax(z_s / T))`` worked by hand.

    Teacher logits (2 ln 3, 0) at T = 2 are (ln 3, 0): softmax (3/4, 1/4); student logits (0, 0): (1/2, 1/2).
    KL(teacher || student) = 3/4 ln(3/2) + 1/4 ln(1/2) = 0.1308..., and T^2 = 4 times it is ln(27/16).
    """
    ln3 = math.log(3.0)
    teacher = torch.tensor([[[2 * ln3, 0.0], [1.0, 5.0], [10.0, 0.0]]])
    student = torch.tensor([[[0.0, 0.0], [1.0, 5.0], [0.0, 10.0]]])
    one = torch.tensor([[True, False, False]])
    assert float(distillation_term(student, teacher, one, 2.0)) == pytest.approx(math.log(27 / 16), rel=1e-6)
    # the mean over the positive priors: the second agrees (KL 0), the third is not a positive
    two = torch.tensor([[True, True, False]])
    assert float(distillation_term(student, teacher, two, 2.0)) == pytest.approx(math.log(27 / 16) / 2, rel=1e-6)
    # T = 1: softmax(2 ln 3, 0) = (9/10, 1/10); KL = 9/10 ln(9/5) + 1/10 ln(1/5), times 1
    kl1 = 0.9 * math.log(1.8) + 0.1 * math.log(0.2)
    assert float(distillation_term(student, teacher, one, 1.0)) == pytest.approx(kl1, rel=1e-6)
    # KL(student || teacher) would be 4 * (1/2 ln(2/3) + 1/2 ln 2) = 2 ln(4/3): the direction matters
    assert float(distillation_term(teacher, student, one, 2.0)) == pytest.approx(2 * math.log(4 / 3), rel=1e-6)


def test_the_distiller_weighs_the_term_by_a_on_the_matched_priors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        Distiller(tmp_path / "never_read.pt", None, SHAPE_CLASSES, torch.zeros(1, 4), torch.device("cpu"),
                  temperature=0.0)
    teacher_path = _teacher(tmp_path / "teacher.pt")
    cfg = preset("ssd300", num_classes=len(SHAPE_CLASSES), priors="voc", width=0.05)
    torch.manual_seed(7)
    student = build_model(cfg.model).eval()
    device = torch.device("cpu")
    priors = student.priors(device)
    distiller = Distiller(teacher_path, cfg, SHAPE_CLASSES, priors, device, weight=3.0, temperature=2.0)
    images = torch.randn(1, 3, 300, 300)
    labels = torch.zeros(1, priors.shape[0], dtype=torch.int64)
    labels[0, 10], labels[0, 500] = 2, 5  # matched priors; every other prior is background (label 0)
    with torch.no_grad():
        logits, _ = student(images)
        term = distillation_term(logits, distiller.teacher_logits(images), labels > 0, 2.0)
        assert float(term) > 0
        assert float(distiller(images, logits, labels)) == pytest.approx(3.0 * float(term), rel=1e-6)
        # only the matched priors count: the term on priors 10 and 500 alone, by hand from the logits
        t = torch.softmax(distiller.teacher_logits(images)[0, [10, 500]] / 2.0, dim=-1).double()
        s = torch.softmax(logits[0, [10, 500]] / 2.0, dim=-1).double()
        kl = (t * (t / s).log()).sum(dim=-1).mean()
        assert float(term) == pytest.approx(4.0 * float(kl), rel=1e-5)


def _teacher(path: Path, priors: str = "voc", seed: int = 1, classes: tuple[str, ...] = SHAPE_CLASSES) -> Path:
    cfg = preset("ssd300", num_classes=len(classes), priors=priors, width=0.05)
    torch.manual_seed(seed)
    return save_checkpoint(path, build_model(cfg.model), cfg, classes)


def test_same_weights_agree_exactly_and_other_weights_do_not(tmp_path: Path) -> None:
    from core.weights import load_weights, load_state_into

    teacher_path = _teacher(tmp_path / "teacher.pt")
    cfg = preset("ssd300", num_classes=len(SHAPE_CLASSES), priors="voc", width=0.05)
    student = build_model(cfg.model).train()
    load_state_into(student, load_weights(teacher_path).state_dict, teacher_path)
    device = torch.device("cpu")
    distiller = Distiller(teacher_path, cfg, SHAPE_CLASSES, student.priors(device), device, weight=1.0, temperature=2.0)
    images = torch.randn(2, 3, 300, 300)
    labels = torch.zeros(2, student.priors(device).shape[0], dtype=torch.int64)
    labels[:, ::97] = 3  # some matched priors
    logits, _ = student(images)
    assert float(distiller(images, logits, labels).detach()) == 0.0
    torch.manual_seed(5)
    other = build_model(cfg.model).train()
    assert float(distiller(images, other(images)[0], labels).detach()) > 0

    # a teacher of other default boxes or without the student's classes is refused, naming the file
    with pytest.raises(ValueError, match="default boxes") as info:
        Distiller(_teacher(tmp_path / "coco_priors.pt", priors="coco"), cfg, SHAPE_CLASSES, student.priors(device),
                  device)
    assert "coco_priors.pt" in str(info.value)
    few = _teacher(tmp_path / "few.pt", classes=("__background__", "circle", "square"))
    with pytest.raises(ValueError, match="no class 'triangle'"):
        Distiller(few, cfg, SHAPE_CLASSES, student.priors(device), device)


def test_ssd_train_distill_logs_a_term_that_starts_at_zero_from_the_teachers_weights(tmp_path: Path) -> None:
    from core.cli import main

    teacher = _teacher(tmp_path / "teacher.pt")
    out = tmp_path / "run"
    assert main(["train", "--format", "synthetic", "--synthetic-count", "4", "--synthetic-size", "64",
                 "--val-split", "none", "--model", "ssd300", "--width", "0.05", "--batch-size", "2",
                 "--max-iterations", "3",
                 "--optimizer", "adam", "--workers", "0", "--threads", "1", "--warmup-iters", "0",
                 "--init", str(teacher), "--distill", str(teacher), "--distill-weight", "0.5",
                 "--distill-temperature", "3", "--out", str(out)]) == 0
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    distill = [float(r["distill_loss"]) for r in rows]
    assert distill[0] == 0.0  # the student starts as the teacher: the same scores
    assert distill[1] > 0 and distill[2] > 0  # one Adam step later they differ
    for r in rows:
        terms = float(r["loc_loss"]) + float(r["conf_loss"]) + float(r["distill_loss"])
        assert float(r["loss"]) == pytest.approx(terms, rel=1e-5)
    assert [v for _, v in read_scalars(out)["loss/distill"]] == pytest.approx(distill, rel=1e-6, abs=1e-12)
    # without --distill the column stays empty
    plain = train(tiny_config(tmp_path / "plain", max_iterations=1))
    with plain.metrics_csv.open() as f:
        assert next(csv.DictReader(f))["distill_loss"] == ""


@pytest.mark.parametrize("fmt, suffix", [("onnx", ".onnx"), ("openvino", ".xml"), ("torchscript", ".torchscript")])
def test_an_exported_teacher_gives_its_checkpoints_logits(tmp_path: Path, fmt: str, suffix: str) -> None:
    """Issue 19 item 11: a network `ssd export` wrote teaches as its checkpoint does (it used to fail with
    "'NoneType' object has no attribute 'to'")."""
    from core.runtime.export import export_model

    teacher = _teacher(tmp_path / "teacher.pt")
    exported = export_model(teacher, fmt, tmp_path / f"teacher{suffix}")
    cfg = preset("ssd300", num_classes=len(SHAPE_CLASSES), priors="voc", width=0.05)
    device = torch.device("cpu")
    priors = build_model(cfg.model).priors(device)
    reference = Distiller(teacher, cfg, SHAPE_CLASSES, priors, device)
    distiller = Distiller(exported, cfg, SHAPE_CLASSES, priors, device, trust_code=fmt == "torchscript")
    images = torch.randn(2, 3, 300, 300)
    torch.testing.assert_close(distiller.teacher_logits(images), reference.teacher_logits(images), atol=1e-3,
                               rtol=1e-3)
    # a student on a GPU still gets an exported teacher, which runs on the CPU (no GPU needed to check that)
    assert load_teacher(exported, "cuda", trust_code=fmt == "torchscript").device.type == "cpu"


def test_ssd_train_distills_from_an_onnx_teacher(tmp_path: Path) -> None:
    from core.cli import main
    from core.runtime.export import export_model

    teacher = _teacher(tmp_path / "teacher.pt")
    onnx = export_model(teacher, "onnx", tmp_path / "teacher.onnx")
    out = tmp_path / "run"
    assert main(["train", "--format", "synthetic", "--synthetic-count", "4", "--synthetic-size", "64",
                 "--val-split", "none", "--model", "ssd300", "--width", "0.05", "--batch-size", "2",
                 "--max-iterations", "2", "--optimizer", "adam", "--workers", "0", "--threads", "1",
                 "--warmup-iters", "0", "--init", str(teacher), "--distill", str(onnx), "--out", str(out)]) == 0
    with (out / "metrics.csv").open() as f:
        distill = [float(r["distill_loss"]) for r in csv.DictReader(f)]
    assert distill[0] < 1e-6 < distill[1]  # the student starts as the teacher (OpenVINO's logits to ~1e-5)


def test_a_teacher_that_cannot_teach_is_refused_before_the_labelling(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    from core.cli import main
    from core.data.synthetic import render_video

    video = render_video(tmp_path / "clip.mp4", seconds=1, fps=4, seed=1, size=(96, 96))
    run = tmp_path / "run"
    assert main(["train", "--unlabelled", str(video), "--teacher", "demo", "--distill-from-teacher", "--every", "1",
                 "--model", "ssdlite320_mobilenet_v3_large", "--width", "0.25", "--max-iterations", "1",
                 "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "demo: the teacher takes 300 px images" in err and "the student 320 px" in err
    assert not (run / "pseudo_labels" / "Annotations").exists()  # no frame was labelled first
