"""The synthetic videos know who is who: MovingScene's object ids (the ground truth of the tracking benchmark)."""
from __future__ import annotations

import hashlib

import numpy as np

from core.data.shapes import compose, compose_indexed
from core.data.synthetic import MovingScene
from core.data.synthetic_files import _Mover


def test_ids_follow_each_shape_and_newcomers_get_new_ids() -> None:
    scene = MovingScene(600_120, (200, 150), 25, num_objects=6)
    first_seen: dict[int, int] = {}
    last_box: dict[int, tuple[int, np.ndarray]] = {}
    for f, (_, boxes, labels, ids) in enumerate(scene.frames_with_ids(120)):
        assert len(ids) == len(boxes) == len(labels) and len(set(ids.tolist())) == len(ids)
        by_mover = {m.object_id: m for m in scene.movers}
        for i, box, label in zip(ids.tolist(), boxes, labels.tolist()):
            first_seen.setdefault(i, f)
            mover = by_mover[i]  # a box's id is the id of a shape on the screen now
            assert mover.spec.label == label
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            assert max(abs(cx - mover.spec.cx), abs(cy - mover.spec.cy)) < mover.spec.radius * 1.5
            last_box[i] = (f, box)
    # shapes that fly out are replaced: new ids, numbered on from the first six, never reused
    assert max(first_seen) > 6 and sorted(first_seen) == sorted(set(first_seen))
    assert all(first_seen[i] > 0 for i in first_seen if i > 6)


def test_recording_ids_changes_no_pixel() -> None:
    """The ids come from the painter's bookkeeping: the frames are those ``frames()`` gives (the demo video and the
    proof's footage stay the same files)."""
    a = [im for im, *_ in MovingScene(7, (160, 120), 25).frames(12)]
    b = [im for im, *_ in MovingScene(7, (160, 120), 25).frames_with_ids(12)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    digest = hashlib.sha256(b"".join(x.tobytes() for x in a)).hexdigest()
    assert digest == hashlib.sha256(b"".join(x.tobytes() for x in b)).hexdigest()


def test_compose_indexed_names_each_box_s_shape() -> None:
    scene = MovingScene(11, (160, 120), 25, num_objects=5)
    shapes = [m.spec for m in scene.movers]
    img, boxes, labels, kept = compose_indexed(scene.background, shapes)
    img2, boxes2, labels2 = compose(scene.background, shapes)
    assert np.array_equal(img, img2) and np.array_equal(boxes, boxes2) and np.array_equal(labels, labels2)
    assert [shapes[k].label for k in kept.tolist()] == labels.tolist()
    assert isinstance(scene.movers[0], _Mover) and [m.object_id for m in scene.movers] == [1, 2, 3, 4, 5]
