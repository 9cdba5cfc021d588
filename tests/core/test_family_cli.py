"""`--nms` on `ssd detect` and `ssd eval`, `--model` and `ssd info --models` for the family."""
from __future__ import annotations

import json
from pathlib import Path

import cv2

from core.cli import build_parser, main
from core.cli.train import config_from_args
from core.config import ARCHITECTURES
from core.data.synthetic import render_scene, write_dataset
from core.detector import DEMO_WEIGHTS


def test_detect_and_eval_take_soft_nms(tmp_path: Path, capsys) -> None:
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), cv2.cvtColor(render_scene(seed=2024, index=1, size=(300, 300))[0], cv2.COLOR_RGB2BGR))
    counts = {}
    for nms in ("hard", "soft-gaussian"):
        out = tmp_path / f"{nms}.json"
        assert main(["detect", str(image), "--weights", str(DEMO_WEIGHTS), "--out", str(out), "--nms", nms,
                     "--no-optimize"]) == 0
        counts[nms] = len(json.loads(out.read_text())["images"][0]["detections"])
    assert counts["soft-gaussian"] > counts["hard"] > 0  # decayed, not removed

    data = write_dataset(tmp_path / "voc", count=8, seed=2024, fmt="voc", size=(300, 300))
    metrics = {}
    for nms in ("hard", "soft-linear"):
        out = tmp_path / f"eval_{nms}"
        assert main(["eval", "--gt", str(data), "--split", "trainval", "--weights", str(DEMO_WEIGHTS), "--metric",
                     "voc07", "--nms", nms, "--out", str(out), "--no-plots", "--quiet"]) == 0
        metrics[nms] = json.loads((out / "metrics.json").read_text())
    assert all(0.3 < m["mAP"] <= 1.0 for m in metrics.values())
    n_det = {k: sum(c["num_det"] for c in m["per_class"].values()) for k, m in metrics.items()}
    assert n_det["soft-linear"] > n_det["hard"]
    capsys.readouterr()
    assert main(["info", "--models"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed and a.description in listed for name, a in ARCHITECTURES.items())


def test_default_model_is_the_light_one_on_a_cpu(tmp_path: Path) -> None:
    def arch(*options: str) -> str:
        return config_from_args(build_parser().parse_args(["train", "--out", str(tmp_path), *options])).arch

    assert arch() == arch("--device", "cpu") == "ssdlite320_mobilenet_v3_large"
    assert arch("--device", "cuda") == "ssd300"
    assert arch("--device", "cuda", "--model", "ssdlite300_mobilenet_v2") == "ssdlite300_mobilenet_v2"
