"""Weights download over a loopback HTTP server: progress, hash check, cancel, errors; never a partial file."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core.weights.download import (MIRROR_ENV, TORCHVISION_COCO_FILE, DownloadCancelled, download_file,
                           fetch_torchvision_coco, torchvision_cache_path, torchvision_coco_url)
from tests.local_http import serve_folder

PAYLOAD = bytes(range(256)) * 2000  # 512,000 bytes: eight 64 KiB chunks


@pytest.fixture()
def served(tmp_path: Path) -> Path:
    folder = tmp_path / "server"
    folder.mkdir()
    (folder / "file.bin").write_bytes(PAYLOAD)
    return folder


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_reports_progress_and_verifies_the_hash(served: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    dest = tmp_path / "out" / "file.bin"
    with serve_folder(served) as base:
        got = download_file(base + "file.bin", dest, hashlib.sha256(PAYLOAD).hexdigest()[:8],
                            lambda d, t: seen.append((d, t)))
    assert got == dest and dest.read_bytes() == PAYLOAD
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert len(seen) == 8 and _leftovers(dest.parent) == ["file.bin"]


def test_wrong_hash_cancel_and_missing_file_leave_nothing(served: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with serve_folder(served) as base:
        with pytest.raises(ValueError, match="wrong SHA-256") as info:
            download_file(base + "file.bin", out / "file.bin", "00000000")
        assert base + "file.bin" in str(info.value)
        assert _leftovers(out) == []

        chunks: list[int] = []
        with pytest.raises(DownloadCancelled):
            download_file(base + "file.bin", out / "file.bin", "", lambda d, t: chunks.append(d),
                          should_stop=lambda: len(chunks) >= 2)
        assert len(chunks) == 2 and _leftovers(out) == []

        with pytest.raises(OSError, match="404"):
            download_file(base + "missing.bin", out / "missing.bin", "")
        assert _leftovers(out) == []


def test_fetch_uses_the_mirror_and_says_where_to_put_the_file(served: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    dest = torchvision_cache_path()
    # The mirror has a file of the right name but other bytes than torchvision's: refused by its hash.
    (served / TORCHVISION_COCO_FILE).write_bytes(PAYLOAD)
    with serve_folder(served) as base:
        monkeypatch.setenv(MIRROR_ENV, base)
        assert torchvision_coco_url() == base + TORCHVISION_COCO_FILE
        seen: list[int] = []
        with pytest.raises(ValueError, match="wrong SHA-256") as info:
            fetch_torchvision_coco(on_progress=lambda d, t: seen.append(d))
        assert seen[-1] == len(PAYLOAD) and str(dest) in str(info.value) and not dest.exists()
        (served / TORCHVISION_COCO_FILE).unlink()
        with pytest.raises(ValueError, match="404") as info:
            fetch_torchvision_coco(progress=False)
        assert str(dest) in str(info.value) and _leftovers(dest.parent) == []
    # A file already in torchvision's cache is used as it is, without a download.
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(b"cached")
    monkeypatch.setenv(MIRROR_ENV, "http://127.0.0.1:9/")  # nothing listens there
    assert fetch_torchvision_coco() == dest
