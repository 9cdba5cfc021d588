"""Downloading torchvision's COCO detector weights: the only files this project ever fetches.

Nothing downloads at import or test time. The file goes into torchvision's own cache
(``$TORCH_HOME/hub/checkpoints``, shared with torchvision's weights API), appears only when
complete and hash-checked, and ``$SSD_WEIGHTS_MIRROR`` fetches it from a mirror instead.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch

from core.jobs import Cancelled

TORCHVISION_COCO_FILE = "ssd300_vgg16_coco-b556d3b4.pth"
TORCHVISION_COCO_SPEC = "torchvision:ssd300_vgg16_coco"
#: Weights names (``--weights torchvision:...``) -> torchvision's file names, ``<name>-<first 8 hex of SHA-256>.pth``.
TORCHVISION_FILES = {
    TORCHVISION_COCO_SPEC: TORCHVISION_COCO_FILE,
    "torchvision:ssdlite320_mobilenet_v3_large_coco": "ssdlite320_mobilenet_v3_large_coco-a79551df.pth",
}
TORCHVISION_MODELS_URL = "https://download.pytorch.org/models/"
#: A base URL to fetch torchvision's weights from instead of download.pytorch.org (a mirror).
MIRROR_ENV = "SSD_WEIGHTS_MIRROR"


def torchvision_cache_path(file: str = TORCHVISION_COCO_FILE) -> Path:
    """Where torchvision's weights API keeps ``file`` (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / file


class DownloadCancelled(Cancelled):
    """A download stopped by its ``should_stop`` callback; nothing was written."""


def torchvision_coco_url(file: str = TORCHVISION_COCO_FILE) -> str:
    """Where torchvision's ``file`` comes from: torchvision's server, or ``$SSD_WEIGHTS_MIRROR`` + its name."""
    base = os.environ.get(MIRROR_ENV) or TORCHVISION_MODELS_URL
    return base.rstrip("/") + "/" + file


def download_file(url: str, dest: str | Path, sha256_prefix: str,
                  on_progress: Callable[[int, int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None, timeout_s: float = 20.0) -> Path:
    """Download ``url`` to ``dest`` in 64 KiB chunks; the file appears only when complete and verified.

    Args:
        sha256_prefix: the expected start of the file's SHA-256 in hex (torchvision names its files
            ``<name>-<first 8 hex digits>.pth``).
        on_progress: called with (bytes so far, total bytes or 0 when the server does not say).
        should_stop: polled between chunks; True abandons the download.

    Raises:
        DownloadCancelled: ``should_stop`` said so. ValueError: the hash does not match (names the URL).
        OSError (``urllib.error.URLError``, timeouts, HTTP errors): the transfer failed.
        In every case no partial file is left behind.
    """
    import hashlib
    import urllib.request

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp, open(part, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            while True:
                if should_stop is not None and should_stop():
                    raise DownloadCancelled(f"download of {url} cancelled")
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if on_progress is not None:
                    on_progress(done, total)
        if not digest.hexdigest().startswith(sha256_prefix):
            raise ValueError(f"the file downloaded from {url} has the wrong SHA-256 "
                             f"({digest.hexdigest()[:8]}…, expected {sha256_prefix}…)")
        part.replace(dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


def _download_progress_printer(file: str) -> Callable[[int, int], None]:
    import sys

    def show(done: int, total: int) -> None:
        size = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        sys.stderr.write(f"\rdownloading {file}: {size}")
        if total and done >= total:
            sys.stderr.write("\n")

    return show


def fetch_torchvision_coco(progress: bool = True, allow_download: bool = True,
                           on_progress: Callable[[int, int], None] | None = None,
                           should_stop: Callable[[], bool] | None = None,
                           spec: str = TORCHVISION_COCO_SPEC) -> Path:
    """A torchvision COCO detector file (``spec``, a key of :data:`TORCHVISION_FILES`; SSD300 by default): from
    torchvision's cache (``torchvision_cache_path(file)``, shared with torchvision's weights API), else
    downloaded there from :func:`torchvision_coco_url` and hash-checked (:func:`fetch_torchvision_file`)."""
    return fetch_torchvision_file(TORCHVISION_FILES[spec], f"torchvision's COCO weights {spec.split(':', 1)[1]}",
                                  progress=progress, allow_download=allow_download, on_progress=on_progress,
                                  should_stop=should_stop)


def fetch_torchvision_file(file: str, what: str, size_mb: float | None = None, progress: bool = True,
                           allow_download: bool = True, on_progress: Callable[[int, int], None] | None = None,
                           should_stop: Callable[[], bool] | None = None) -> Path:
    """One of torchvision's weights files (``<name>-<first 8 hex of SHA-256>.pth``): from torchvision's cache, else
    downloaded there from :func:`torchvision_coco_url` (torchvision's server or the mirror) and hash-checked.

    Args:
        file: the file name; what: the weights, for messages; size_mb: the file's size, for the offline message.
        progress: print a progress line on stderr (when ``on_progress`` is not given).
        on_progress, should_stop: as in :func:`download_file`.

    Raises:
        ValueError: offline, failed or corrupt download, or ``allow_download=False`` and not cached;
            the message names the file, its size and the folder to put it in. DownloadCancelled: ``should_stop``.
    """
    dest = torchvision_cache_path(file)
    if dest.is_file():
        return dest
    url = torchvision_coco_url(file)
    size = f" ({size_mb:.0f} MB)" if size_mb else ""
    hint = (f"{what} are not on this machine. Download {url}{size} elsewhere and put the file at '{dest}' "
            f"(or open it directly as a weights file).")
    if not allow_download:
        raise ValueError(hint)
    prefix = file.rsplit("-", 1)[1].split(".")[0]
    report = on_progress if on_progress is not None else (_download_progress_printer(file) if progress else None)
    try:
        download_file(url, dest, prefix, report, should_stop)
    except DownloadCancelled:
        raise
    except (OSError, ValueError) as exc:  # URLError, HTTPError, socket timeouts, SSL; or a bad hash
        raise ValueError(f"download failed ({type(exc).__name__}: {exc}). {hint}") from None
    return dest
