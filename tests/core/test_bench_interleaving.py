"""benchmarks._common.interleaved: every function follows every other one equally often."""
from __future__ import annotations

from benchmarks._common import interleaved


def test_rounds_rotate_so_no_function_always_follows_the_same_one() -> None:
    calls: list[str] = []
    times = interleaved({name: (lambda n=name: calls.append(n)) for name in ("tv", "detect", "net")}, 6, warmup=1)
    assert calls[:3] == ["tv", "detect", "net"]  # the warm-up calls, in order
    rounds = [calls[3 + 3 * r: 6 + 3 * r] for r in range(6)]
    rotations = [["tv", "detect", "net"], ["detect", "net", "tv"], ["net", "tv", "detect"]]
    assert rounds == rotations + rotations
    before_detect = [calls[i - 1] for i in range(4, len(calls)) if calls[i] == "detect"]
    assert sorted(set(before_detect)) == ["net", "tv"]  # not always torchvision's call
    assert {k: len(v) for k, v in times.items()} == {"tv": 6, "detect": 6, "net": 6}
    assert all(t >= 0 for v in times.values() for t in v)
