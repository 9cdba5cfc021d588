"""`torchvision:ssdlite320_mobilenet_v3_large_coco` as a weights name: offline message, cache, and a download
from a loopback server (progress, SHA-256 check, nothing partial left)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
import torchvision
from torchvision.models.detection import SSDLite320_MobileNet_V3_Large_Weights

from core.resolve import load_detector
from core.weights.download import MIRROR_ENV, TORCHVISION_FILES, fetch_torchvision_coco, torchvision_cache_path
from tests.local_http import serve_folder

SPEC = "torchvision:ssdlite320_mobilenet_v3_large_coco"


def _ssdlite_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "sd.pth"
    torch.save(torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
               .state_dict(), path)
    return path.read_bytes()


def test_file_name_and_hash_are_torchvision_own() -> None:
    url = SSDLite320_MobileNet_V3_Large_Weights.COCO_V1.url
    assert TORCHVISION_FILES[SPEC] == url.rsplit("/", 1)[1]


def test_offline_says_where_to_put_the_file_then_uses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    dest = torchvision_cache_path(TORCHVISION_FILES[SPEC])
    with pytest.raises(ValueError, match=f"ssdlite320_mobilenet_v3_large_coco are not on this machine.*"
                                         f"put the file at '{dest}'"):
        load_detector(SPEC, allow_download=False)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(_ssdlite_bytes(tmp_path))
    det = load_detector(SPEC, allow_download=False)
    assert det.config.model.arch == "ssdlite320_mobilenet_v3_large" and det.class_names[1] == "person"


def test_download_from_a_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    served = tmp_path / "server"
    served.mkdir()
    payload = _ssdlite_bytes(tmp_path)
    # torchvision's real name on a mirror that holds other bytes: refused by the hash in the name.
    (served / TORCHVISION_FILES[SPEC]).write_bytes(payload)
    dest = torchvision_cache_path(TORCHVISION_FILES[SPEC])
    with serve_folder(served) as base:
        monkeypatch.setenv(MIRROR_ENV, base)
        with pytest.raises(ValueError, match="wrong SHA-256") as info:
            load_detector(SPEC)
        assert base + TORCHVISION_FILES[SPEC] in str(info.value) and str(dest) in str(info.value)
        assert not dest.exists() and list(dest.parent.iterdir()) == []
        # The same download path with a name whose hash prefix is the payload's: fetched with progress, loaded.
        name = f"ssdlite_test-{hashlib.sha256(payload).hexdigest()[:8]}.pth"
        (served / name).write_bytes(payload)
        monkeypatch.setitem(TORCHVISION_FILES, "torchvision:ssdlite_test", name)
        seen: list[int] = []
        got = fetch_torchvision_coco(spec="torchvision:ssdlite_test", on_progress=lambda d, t: seen.append(d))
        assert got == torchvision_cache_path(name) and got.read_bytes() == payload
        assert seen[-1] == len(payload) and seen == sorted(seen)
        got.unlink()
        det = load_detector("torchvision:ssdlite_test")  # the CLI's path: progress printed on stderr
    assert det.config.model.arch == "ssdlite320_mobilenet_v3_large"
    assert f"downloading {name}" in capsys.readouterr().err
