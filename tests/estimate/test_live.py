"""The running estimate of a source as it plays (core.evaluation.estimate.live): on the same frames it is the
number ``ssd eval --estimate`` gives, its window keeps the newest frames, it says why there is no number
yet, and its job runs in a real thread until stopped."""
from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from core.detector import DEMO_VIDEO
from core.evaluation.estimate import run_estimate
from core.evaluation.estimate.live import LiveEstimate, LiveValue, NewestFrame, run_live_estimate
from core.evaluation.estimate.run import calibrate_model
from core.evaluation.estimate.scoring import measure_images
from core.jobs import Cancelled
from tests.estimate.test_pipeline import tiny


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("live_cache"))


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """The eight frames ``tiny()`` estimates from: every 25th of the demo video."""
    from core.data.frames import open_frames, sample_frames

    source = open_frames(str(DEMO_VIDEO))
    try:
        return [f.image for f in sample_frames(source, str(DEMO_VIDEO), 25, 8)]
    finally:
        source.close()


@pytest.fixture(scope="module")
def model(cache: str):  # type: ignore[no-untyped-def]
    from core.resolve import load_detector

    detector = load_detector("demo", optimize=True)
    return detector, calibrate_model(detector, tiny(cache_dir=cache))


def test_on_the_same_frames_it_is_the_estimate_of_ssd_eval(model, frames, cache: str) -> None:  # type: ignore[no-untyped-def]
    detector, calibration = model
    request = tiny(cache_dir=cache)
    live = LiveEstimate(detector, calibration, request)
    values = [live.add(f) for f in frames]
    assert values[:7] == [None] * 7  # a batch of eight: nothing measured before it is full
    value = values[7]
    assert isinstance(value, LiveValue) and value.frames == 8 and value.reason is None
    reference = run_estimate(request)
    assert reference.calibration.cached and reference.frames == 8
    out = value.output
    assert out.estimate == reference.estimate and out.interval == reference.interval
    expected = {k: a.value for k, a in reference.signals.items() if k != "temporal"}
    assert out.values() == expected  # every signal to the bit (sampled frames have no temporal agreement)
    assert value.text().startswith(f"estimated mAP {out.estimate:.2f} [") and "last 8 of 8 frames" in value.text()


def test_the_window_keeps_the_newest_frames(model, frames, cache: str) -> None:  # type: ignore[no-untyped-def]
    detector, calibration = model
    request = tiny(cache_dir=cache)
    live = LiveEstimate(detector, calibration, request, window=8)
    later = frames[::-1]
    for f in frames + later:
        value = live.add(f)
    assert value is not None and value.frames == 16 and value.output.frames == 8 and len(live.acc) == 8
    # the second batch's dropout masks come from seed + 1, as in a 16-frame measure_images
    alone = measure_images(detector, later, replace(request.settings, seed=request.settings.seed + 1))
    assert value.output.values() == alone.values()
    assert "last 8 of 16 frames" in value.text()
    value = [live.add(f) for f in frames][-1]  # a third batch: still the newest 8, of 24 measured
    assert value.frames == 24 and value.output.frames == 8 and "last 8 of 24 frames" in value.text()
    third = measure_images(detector, frames, replace(request.settings, seed=request.settings.seed + 2))
    assert value.output.values() == third.values()
    with pytest.raises(ValueError, match="window must be >= min_frames"):
        LiveEstimate(detector, calibration, request, window=3)
    assert LiveEstimate(detector, calibration, request, window=request.min_frames).window == 4


def test_it_says_why_there_is_no_number_yet(model, frames, cache: str) -> None:  # type: ignore[no-untyped-def]
    detector, calibration = model
    request = tiny(cache_dir=cache, min_frames=12)
    live = LiveEstimate(detector, calibration, request)
    first = live.current()
    assert first.output is None and first.frames == 0 and "0 of the 12 frames" in first.text()
    value = [live.add(f) for f in frames][-1]
    assert value.output is None and "8 of the 12 frames an estimate needs" in value.text()
    # as many frames as needed: no longer "too few" (an estimate, or another reason)
    exact = LiveEstimate(detector, calibration, tiny(cache_dir=cache, min_frames=16))
    value = [exact.add(f) for f in frames + frames][-1]
    assert value.frames == 16 and "frames an estimate needs" not in value.text()
    # frames on which the model finds nothing: a reason, never a number
    blank = LiveEstimate(detector, calibration, tiny(cache_dir=cache))
    value = [blank.add(np.full((300, 300, 3), 127, np.uint8)) for _ in range(8)][-1]
    assert value.output is None and "detects nothing" in value.text() and value.frames == 8


def test_the_mailbox_keeps_only_the_newest_frame() -> None:
    box = NewestFrame()
    assert box.take(0.01) is None
    a, b = np.zeros((2, 2, 3), np.uint8), np.ones((2, 2, 3), np.uint8)
    box.put(a)
    box.put(b)
    assert box.take(0.01) is b and box.replaced == 1 and box.take(0.01) is None
    # a frame put from another thread wakes a waiting take
    threading.Timer(0.05, box.put, (a,)).start()
    assert box.take(5.0) is a


def test_the_job_runs_in_a_thread_until_stopped(model, frames, cache: str) -> None:  # type: ignore[no-untyped-def]
    box, stop, values, errors = NewestFrame(), threading.Event(), [], []
    got = threading.Condition()

    def on_value(v: LiveValue) -> None:
        with got:
            values.append(v)
            got.notify_all()

    def job() -> None:
        try:
            run_live_estimate(tiny(cache_dir=cache), box, on_value, should_stop=stop.is_set, poll_s=0.01)
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            errors.append(exc)

    thread = threading.Thread(target=job)
    thread.start()
    try:
        with got:
            assert got.wait_for(lambda: len(values) >= 1, 120.0)
        assert values[0].frames == 0 and values[0].output is None  # calibrated, no frame yet
        for f in frames:
            box.put(f)
            while box.pending:  # let the job take each frame (it samples: a new one replaces)
                threading.Event().wait(0.005)
        with got:
            assert got.wait_for(lambda: len(values) >= 2, 120.0)
        assert values[1].frames == 8 and values[1].output is not None
        direct = LiveEstimate(*model, tiny(cache_dir=cache))
        assert values[1].output.estimate == [direct.add(f) for f in frames][-1].output.estimate
    finally:
        stop.set()
        thread.join(60.0)
    assert not thread.is_alive() and len(errors) == 1 and isinstance(errors[0], Cancelled)
