"""OpenVINO's compile options (issue 23): what the CPU plugin is given, and the int8 note per CPU kind."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("openvino")

import core.runtime.openvino as ov_runtime  # noqa: E402
from core import load_detector  # noqa: E402
from core.runtime.openvino import cpu_int8_dot_product, int8_speed_note  # noqa: E402
from tests.runtime.helpers import scenes, tiny_checkpoint  # noqa: E402


def test_compiled_network_has_the_chosen_options(tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / "m.pt", "ssdlite320_mobilenet_v3_large")
    det = load_detector(weights, runtime="openvino", cache_dir=tmp_path / "cache")
    compiled = det.network.compiled
    assert str(compiled.get_property("PERFORMANCE_HINT")).endswith("LATENCY")
    assert compiled.get_property("NUM_STREAMS") == 1  # the latency hint: one request, every core on it
    assert compiled.get_property("ENABLE_CPU_PINNING") is False
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"


@pytest.mark.parametrize("flags, fast", [
    (["sse4_2", "avx2", "fma"], False),  # the issue's AVX2 machine: int8 13 ms against fp32's 11 ms
    (["avx2", "avx512f", "avx512bw"], False),  # Skylake-SP: AVX-512 without VNNI
    (["avx2", "avx512f", "avx512_vnni"], True),  # Cascade Lake, Ice Lake, Zen 4 (this VM)
    (["avx2", "avx_vnni"], True),  # Alder Lake and later desktop parts
    (["avx2", "avx512f", "amx_tile", "amx_int8"], True),  # Sapphire Rapids
])
def test_int8_dot_product_flags(flags: list[str], fast: bool) -> None:
    assert cpu_int8_dot_product(flags) is fast
    note = int8_speed_note(flags)
    assert (note is None) == fast
    if note:
        assert "no faster than fp32" in note and "VNNI" in note


def test_loading_int8_says_when_this_cpu_gains_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU cannot be swapped in a test; its flags can: as an AVX2 machine's, int8 loads with the note,
    as a VNNI machine's without it."""
    weights = tiny_checkpoint(tmp_path / "m.pt")
    calib = scenes(2, (96, 96), seed=3)
    for flags, noted in ((["avx2"], True), (["avx2", "avx512_vnni"], False)):
        monkeypatch.setattr(ov_runtime, "_linux_cpu_flags", lambda flags=flags: flags)
        det = load_detector(weights, runtime="openvino", precision="int8", calibration=calib,
                            cache_dir=tmp_path / "cache")
        assert any("no faster than fp32" in n for n in det.runtime_info["notes"]) is noted
    fp32 = load_detector(weights, runtime="openvino", cache_dir=tmp_path / "cache")
    assert not any("int8" in n for n in fp32.runtime_info["notes"])  # the AVX2 flags are still set: fp32 says nothing
