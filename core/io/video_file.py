"""Video files as frame sources: :class:`VideoFileSource` (OpenCV decoding, truncated files found
at open, frame numbers never guessed)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.io.frames import Frame, FrameSource, capture_fps, clamp_index


class VideoFileSource(FrameSource):
    """A video file decoded with ``cv2.VideoCapture``.

    The first frame is decoded when the source is opened, so that a file OpenCV "opens" but
    cannot decode is reported at once rather than as an empty video.

    Truncated files (a download or copy cut short: the header announces more frames than the
    data holds) are found when the source is opened, by seeking to the last announced frame;
    when it does not decode, a binary search of seeks finds the last frame that does (a few
    dozen decoded frames). ``frame_count`` is then the number of frames that decode,
    ``header_frame_count`` what the header announced, and ``warnings`` says so. Should reading
    still end earlier than that, ``frame_count`` is lowered again when the end is met.

    Frame numbers are never guessed: after a seek the frame's own timestamp says which frame
    OpenCV decoded, and the frame is labelled with that number. A seek past the last frame that
    decodes lands on that last frame (as a seek past the end of any video does), labelled with
    its true index.

    Attributes:
        frame_count: frames that decode (the header's count until the source learns better).
        header_frame_count: the count the file's header announces (None when it has none).
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"cannot open video '{self.path}': no such file")
        self._cap = self._open()
        ok, bgr = self._cap.read()
        if not ok or bgr is None or bgr.size == 0:
            self._cap.release()
            raise ValueError(f"cannot open video '{self.path}': no frame could be decoded")
        self._pending: np.ndarray | None = bgr
        self.name = self.path.name
        self.fps = capture_fps(self._cap)
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.header_frame_count: int | None = count if count > 0 else None
        self.frame_count = self.header_frame_count
        self._check_pts = False
        if self.header_frame_count is not None and self.header_frame_count > 1:
            self._find_decodable_end(self.header_frame_count)

    def _open(self) -> "cv2.VideoCapture":
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            if mp4_without_index(self.path):
                raise ValueError(f"cannot open video '{self.path}': it is an MP4 without its index (the 'moov' box, "
                                 f"which a recorder writes last): the file is incomplete, a recording or copy cut "
                                 f"off before its end")
            raise ValueError(f"cannot open video '{self.path}': not a video, an unsupported codec, or an incomplete "
                             f"file")
        return cap

    @property
    def truncated(self) -> bool:
        """True when fewer frames decode than the header announces."""
        return (self.header_frame_count is not None and self.frame_count is not None
                and self.frame_count < self.header_frame_count)

    def _true_index(self) -> int | None:
        """Index of the frame just decoded, from its timestamp (None without a frame rate)."""
        if not self.fps:
            return None
        return int(round(float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) * self.fps / 1000.0))

    def _decodes(self, index: int) -> bool:
        """Whether seeking to frame ``index`` yields that very frame (moves the capture)."""
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, float(index))
        if not self._cap.grab():
            return False
        true = self._true_index()
        return true is None or true == index

    def _find_decodable_end(self, announced: int) -> None:
        """Check that the last announced frame decodes; else find the last one that does."""
        if not self._decodes(announced - 1):
            lo, hi = 0, announced - 1  # frame lo decodes (frame 0 did), frame hi does not
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if self._decodes(mid) else (lo, mid)
            self._ended_early(lo + 1)
        # Start again from a fresh capture: sequential reading after seeks is what codecs get wrong.
        self._cap.release()
        self._cap = self._open()
        self._pending = None

    def _ended_early(self, count: int) -> None:
        if self.frame_count is not None and count >= self.frame_count:
            return
        self.frame_count = count
        announced = self.header_frame_count
        self.warnings.append(
            f"{self.path}: the video ended early: {count} of the {announced} frames its header announces "
            f"could be decoded (the file is probably truncated)")

    def read(self) -> Frame | None:
        if self._closed:
            return None
        if self._pending is not None:
            bgr, self._pending = self._pending, None
        else:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                if self._check_pts:  # a seek found nothing there: the end, whose exact place is unknown
                    self._check_pts = False
                elif self.frame_count is not None and self._pos < self.frame_count:
                    self._ended_early(self._pos)  # read on from frame _pos - 1, which decoded
                return None
        index = self._pos
        if self._check_pts:
            self._check_pts = False
            true = self._true_index()
            index = index if true is None else true
        self._pos = index + 1
        if self.frame_count is not None and self._pos > self.frame_count:
            self.frame_count = self._pos  # decoded beyond an end that seeking had suggested
        t = index / self.fps if self.fps else float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
        return Frame(index, np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), t, str(self.path))

    def seek(self, index: int) -> None:
        """Make the next :meth:`read` return frame ``index``, clamped to the frames that decode.

        Where the codec lands elsewhere, the frame read is labelled with its own index (from its
        timestamp), never with ``index``.
        """
        if self._closed:
            return
        index = clamp_index(index, self.frame_count)
        self._pending = None
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, float(index))
        self._pos = index
        self._check_pts = True

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pending = None
            self._cap.release()


def mp4_without_index(path: Path) -> bool:
    """True for an MP4 / QuickTime file (an ``ftyp`` box first) whose top-level boxes, read to the end of
    the file, hold no ``moov``: the index of the samples, which recorders write when they finish, so a
    recording stopped by a crash or a copy cut short has none and no decoder can open it."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            offset, first = 0, True
            while offset + 8 <= size:
                f.seek(offset)
                header = f.read(16)
                length, kind = int.from_bytes(header[:4], "big"), header[4:8]
                if first and kind != b"ftyp":
                    return False
                if kind == b"moov":
                    return False
                if length == 1 and len(header) == 16:  # a 64-bit size follows the type
                    length = int.from_bytes(header[8:16], "big")
                if length == 0:  # the box runs to the end of the file
                    break
                if length < 8:
                    return not first  # a broken box header after ftyp: cut or corrupt, and no index seen
                offset += length
                first = False
            return not first
    except OSError:
        return False
