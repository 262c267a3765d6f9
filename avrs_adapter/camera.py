"""The camera plate source: OpenCV capture → motion gate → plate finder → OCR → Observations.

``CameraSource(url, device=..., grammar=...)`` reads a video file, an HTTP MJPEG or RTSP
URL, or a local device index (``"0"``). A grabber thread keeps only the newest frame of
a live feed, so processing never falls behind it (older frames are counted as dropped).
Only what is needed is processed: at most ``max_fps`` frames a second, no finder or OCR
on frames where nothing moved, OCR only on plate candidates and at most ``ocr_fps``
times a second. Each frame with a plate read gives one Observation (a dual-plate truck's
Mainland plate among its alternates); the aggregator turns a truck's sightings into one
PlateRead. A plate already reported is not reported again by a later spell of motion
within ``repeat_suppress`` seconds (the truck creeping forward or driving off), and a
recording that is played again does not bring its trucks back.

The OCR engine is loaded when the source starts (``load_engine``, which the CLI calls
before the adapter says it is online), not at the first truck: missing models or a
broken onnxruntime are a start-up error, and the first read is not held up by the load.

A URL that never answers, a dead stream, a 0-byte or corrupt file, black frames: the
source logs, says so in ``status()`` and reconnects with capped backoff (live sources)
or ends (files, unless ``loop``). An OCR engine that cannot be loaded ends the run at
once, before any frame, with ``state`` ``error``. It never raises out of ``observations``.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from avrs_adapter.errors import AvrsError
from avrs_adapter.grammar import GRAMMARS, Grammar, PlateText, primary_and_alternates
from avrs_adapter.observation import Observation
from avrs_adapter.ocr import OcrEngine, OcrError
from avrs_adapter.ocr import engine as shared_engine
from avrs_adapter.plate_finder import find_plates
from avrs_adapter.plate_reader import is_blank, read_plates

logger = logging.getLogger(__name__)

Frame = NDArray[Any]  # a BGR uint8 image; OpenCV's stubs type images loosely
Kind = Literal["file", "stream", "device"]
_CREDENTIALS = re.compile(r"(//)[^/@]+@")


class CameraError(AvrsError):
    """A camera source that cannot be set up as asked (bad URL, bad options)."""

    key = "avrs_camera_error"


def redact(url: str) -> str:
    """The URL without ``user:password@`` (status and logs never show credentials)."""
    return _CREDENTIALS.sub(r"\1***@", url)


def source_kind(url: str) -> Kind:
    """``device`` for an index like ``0``, ``stream`` for a URL, else ``file``."""
    if url.strip().isdigit():
        return "device"
    if re.match(r"^[a-z][a-z0-9+.-]*://", url, re.IGNORECASE) and not url.lower().startswith(
        "file://"
    ):
        return "stream"
    return "file"


class _Rate:
    """Events per second over the last ``window`` seconds."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self._times: collections.deque[float] = collections.deque(maxlen=2000)

    def tick(self, now: float) -> None:
        self._times.append(now)

    def per_second(self, now: float) -> float:
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        return round((len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-3), 2)


@dataclass
class _Slot:
    """The newest frame, handed from the grabber to the processing loop."""

    frame: Frame | None = None
    video_time: float = 0.0
    taken: bool = True


@dataclass
class _Event:
    """One spell of motion in front of the camera (a truck driving in, or out)."""

    started: float
    last_motion: float
    peak: float = 0.0
    local_read: bool = False
    mainland: PlateText | None = None
    reported: bool = False
    vrns: set[str] = field(default_factory=set)  # plates reported in this spell


@dataclass
class CameraStats:
    """Counters behind ``status()``."""

    frames_in: int = 0
    frames_processed: int = 0
    frames_gated: int = 0
    frames_ocr: int = 0
    dropped: int = 0
    blank_frames: int = 0
    stream_errors: int = 0
    reconnects: int = 0
    observations: int = 0
    repeats_suppressed: int = 0
    blank_run: int = 0  # blank frames in a row, now
    last_error: str = ""
    last_vrn: str = ""
    last_read_at: float | None = None
    state: str = "idle"
    rate_in: _Rate = field(default_factory=_Rate)
    rate_out: _Rate = field(default_factory=_Rate)
    rate_ocr: _Rate = field(default_factory=_Rate)


class CameraSource:
    """A camera as a plate ``Source`` (see ``avrs_adapter.observation``)."""

    def __init__(
        self,
        url: str,
        *,
        device: str,
        grammar: Grammar = "hk",
        max_fps: float = 15.0,
        ocr_fps: float = 8.0,
        max_candidates: int = 3,
        motion_threshold: float = 0.002,
        roi: tuple[int, int, int, int] | None = None,
        realtime: bool | None = None,
        loop: bool = False,
        open_timeout: float = 5.0,
        read_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.5, 10.0),
        min_confidence: float = 0.5,
        quiet_after: float = 1.0,
        report_unread: bool = False,
        repeat_suppress: float = 60.0,
        engine: OcrEngine | None = None,
    ) -> None:
        if grammar not in GRAMMARS:
            raise CameraError(
                f"grammar must be one of {GRAMMARS}, got {grammar!r}",
                key="avrs_bad_grammar",
                grammar=grammar,
            )
        if not url.strip():
            raise CameraError("camera URL is empty", key="avrs_camera_url", url=url)
        if (
            min(max_fps, ocr_fps, open_timeout, read_timeout, backoff[0]) <= 0
            or backoff[1] < backoff[0]
            or repeat_suppress < 0
        ):
            raise CameraError(
                "rates, timeouts and backoff must be positive (backoff min <= max)",
                key="avrs_camera_options",
            )
        self.url = url.strip()
        self.kind = source_kind(self.url)
        self.device = device
        self.grammar: Grammar = grammar
        self.max_fps = max_fps
        self.ocr_fps = ocr_fps
        self.max_candidates = max_candidates
        self.motion_threshold = motion_threshold
        self.roi = roi
        # a file is played as fast as it can be processed, every frame, unless asked to
        # play in real time; a live feed always is real time (newest frame only)
        self.realtime = (self.kind != "file") if realtime is None else realtime
        self.loop = loop
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.backoff = backoff
        self.min_confidence = min_confidence
        self.quiet_after = quiet_after
        self.report_unread = report_unread
        self.repeat_suppress = repeat_suppress
        self.pair_within = 2.0
        # a pair not seen for this long is forgotten: a wrong pairing, or the truck back
        # another day with another Mainland plate, does not ride along for ever
        self.pair_keep = 30 * self.pair_within
        # HK vrn -> its truck's Mainland plate, and when the HK plate was last read
        self._pairs: dict[str, tuple[PlateText, float]] = {}
        self._pending: tuple[PlateText, float] | None = None  # a Mainland plate read alone
        self._recent: dict[str, float] = {}  # vrn -> clock of its last sighting
        self._engine = engine
        self.stats = CameraStats()
        self._cond = threading.Condition()
        self._slot = _Slot()
        self._grabber_done = threading.Event()
        self._halt = threading.Event()
        self._prev_small: Frame | None = None
        self._last_ocr_at = -1e9
        self._last_processed_at = -1e9
        self._event: _Event | None = None
        self._t0 = time.monotonic()

    def load_engine(self) -> OcrEngine:
        """The OCR engine, loaded now if it is not yet; ``OcrError`` if it cannot be (the
        models missing from the rapidocr wheel, onnxruntime broken or absent)."""
        if self._engine is None:
            try:
                self._engine = shared_engine()
            except ImportError as err:  # rapidocr or onnxruntime not installed, or broken
                raise OcrError(
                    f"cannot load the OCR engine: {err}", key="avrs_ocr_unavailable"
                ) from err
        return self._engine

    # -- the Source protocol -------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Figures for ``status/avrs``."""
        s = self.stats
        now = time.monotonic()
        return {
            "state": s.state,
            "url": redact(self.url),
            "kind": self.kind,
            "fps_in": s.rate_in.per_second(now),
            "fps_out": s.rate_out.per_second(now),
            "ocr_fps": s.rate_ocr.per_second(now),
            "frames_in": s.frames_in,
            "frames_processed": s.frames_processed,
            "frames_gated": s.frames_gated,
            "frames_ocr": s.frames_ocr,
            "dropped": s.dropped,
            "blank_frames": s.blank_frames,
            "stream_errors": s.stream_errors,
            "reconnects": s.reconnects,
            "observations": s.observations,
            "repeats_suppressed": s.repeats_suppressed,
            "last_error": s.last_error,
            "last_vrn": s.last_vrn,
            "last_read_age_s": None if s.last_read_at is None else round(now - s.last_read_at, 2),
            # what the publisher puts in status/avrs: healthy, or what is wrong now
            "ok": s.state in ("streaming", "ended") and s.blank_run == 0,
            "problem": self._problem(),
        }

    def _problem(self) -> str:
        s = self.stats
        if s.state in ("connecting", "reconnecting", "error"):
            return f"camera {s.state}: {s.last_error}" if s.last_error else f"camera {s.state}"
        if s.blank_run:
            return f"camera sends blank frames ({s.blank_run} in a row)"
        return ""

    def observations(self, stop: threading.Event) -> Iterator[Observation]:
        """Sightings until ``stop`` is set (or a file ends, unless ``loop``)."""
        self._grabber_done.clear()
        self._halt.clear()
        # a fresh run (the publisher restarts an ended source): pacing starts again
        self._t0 = time.monotonic()
        self._slot = _Slot()
        self._prev_small = None
        self._last_ocr_at = self._last_processed_at = -1e9
        self._event = None
        self._pending = None
        try:
            self.load_engine()  # before any frame: a broken engine is not found at a truck
        except OcrError as err:
            logger.error("camera %s: %s", self.device, err)
            self.stats.last_error = err.key
            self.stats.state = "error"
            return
        grabber = threading.Thread(
            target=self._grab_loop, args=(stop,), name=f"camera-grab-{self.device}", daemon=True
        )
        grabber.start()
        try:
            while not stop.is_set():
                item = self._take(stop)
                if item is None:
                    if self._grabber_done.is_set():
                        break
                    continue
                frame, video_time = item
                yield from self._process(frame, video_time)
            yield from self._end_event(force=True)
        finally:
            with self._cond:
                self._cond.notify_all()
            # the grabber sees this within one read timeout; do not wait for it for ever
            self._halt.set()
            grabber.join(timeout=self.read_timeout + self.open_timeout + 1)
            if self.stats.state not in ("error", "ended"):
                self.stats.state = "stopped"

    # -- capture (grabber thread) --------------------------------------------------------

    def _open(self) -> Any:
        if self.kind == "device":
            cap = cv2.VideoCapture(int(self.url))
        elif self.kind == "stream":
            cap = cv2.VideoCapture(
                self.url,
                cv2.CAP_FFMPEG,
                [
                    cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                    int(self.open_timeout * 1000),
                    cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                    int(self.read_timeout * 1000),
                ],
            )
        else:
            path = (
                self.url[len("file://") :] if self.url.lower().startswith("file://") else self.url
            )
            if not Path(path).is_file():
                self._error(f"no such video file: {path}", key="camera_file_missing")
                return None
            if Path(path).stat().st_size == 0:
                self._error(f"video file is empty (0 bytes): {path}", key="camera_file_empty")
                return None
            cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            cap.release()
            self._error(f"cannot open {redact(self.url)}", key="camera_open_failed")
            return None
        return cap

    def _error(self, message: str, *, key: str) -> None:
        self.stats.last_error = key
        logger.warning("camera %s: %s", self.device, message)

    def _stopping(self, stop: threading.Event) -> bool:
        return stop.is_set() or self._halt.is_set()

    def _pause(self, stop: threading.Event, seconds: float) -> None:
        """Wait before reconnecting; a stop or a closed ``observations`` ends it early, so
        closing the source never waits for a backoff of up to 10 s."""
        deadline = time.monotonic() + seconds
        while not self._stopping(stop):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            stop.wait(min(left, 0.1))

    def _grab_loop(self, stop: threading.Event) -> None:
        delay = self.backoff[0]
        first = True
        try:
            while not self._stopping(stop):
                self.stats.state = "connecting" if first else "reconnecting"
                if not first:
                    self.stats.reconnects += 1
                first = False
                cap = self._open()
                if cap is None:
                    if self.kind == "file":
                        self.stats.state = "error"
                        return
                    self.stats.stream_errors += 1
                    self._pause(stop, delay)
                    delay = min(delay * 2, self.backoff[1])
                    continue
                opened_at = time.monotonic()
                try:
                    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
                    fps = fps if 0 < fps <= 240 else 25.0
                    got_any = self._read_frames(cap, stop, fps)
                finally:
                    cap.release()
                if self.kind == "file":
                    if not got_any:
                        self._error(
                            f"no frame could be decoded from {self.url}", key="camera_file_corrupt"
                        )
                        self.stats.state = "error"
                        return
                    if not self.loop:
                        self.stats.state = "ended"
                        return
                    continue
                self.stats.stream_errors += 1
                self.stats.state = "reconnecting"
                # a stream that gave a frame or two and failed (a flapping camera, one that
                # kicks extra clients) must back off too; only one that streamed for longer
                # than the longest pause starts again from the shortest
                if got_any and time.monotonic() - opened_at > self.backoff[1]:
                    delay = self.backoff[0]
                self._pause(stop, delay)
                delay = min(delay * 2, self.backoff[1])
        except Exception as err:  # top-level of the grabber thread: report, never crash the adapter
            logger.exception("camera %s grabber failed", self.device)
            self.stats.last_error = f"camera_grabber_failed: {err}"
            self.stats.state = "error"
        finally:
            self._grabber_done.set()
            with self._cond:
                self._cond.notify_all()

    def _read_frames(self, cap: Any, stop: threading.Event, fps: float) -> bool:
        """Read until the stream ends or fails; True if any frame came."""
        got_any = False
        index = 0
        start = time.monotonic()
        while not self._stopping(stop):
            ok, frame = cap.read()
            if not ok or frame is None:
                if got_any and self.kind != "file":
                    self._error(
                        f"stream {redact(self.url)} stopped delivering frames",
                        key="camera_stream_lost",
                    )
                return got_any
            got_any = True
            now = time.monotonic()
            self.stats.frames_in += 1
            self.stats.rate_in.tick(now)
            self.stats.state = "streaming"
            video_time = index / fps if self.kind == "file" else now - self._t0
            index += 1
            if self.kind == "file" and self.realtime:
                # play a recording at its own speed, as the camera would have sent it
                ahead = start + video_time - time.monotonic()
                if ahead > 0:
                    stop.wait(ahead)
            self._put(frame, video_time, stop)
        return got_any

    def _put(self, frame: Frame, video_time: float, stop: threading.Event) -> None:
        with self._cond:
            if not self.realtime:
                while not self._slot.taken and not self._stopping(stop):
                    self._cond.wait(0.2)
            elif not self._slot.taken:
                self.stats.dropped += 1  # never fall behind a live feed: keep the newest
            self._slot = _Slot(frame, video_time, taken=False)
            self._cond.notify_all()

    def _take(self, stop: threading.Event) -> tuple[Frame, float] | None:
        with self._cond:
            if self._slot.taken:
                self._cond.wait(0.2)
            if self._slot.taken or self._slot.frame is None or stop.is_set():
                return None
            self._slot.taken = True
            self._cond.notify_all()
            return self._slot.frame, self._slot.video_time

    # -- processing (the caller's thread) ------------------------------------------------

    def _clock(self, video_time: float) -> float:
        """Pacing time (skipping, OCR rate, motion spells): video time for a file, so a
        recording processed faster than real time behaves as it did live."""
        return self._t0 + video_time

    def _process(self, frame: Frame, video_time: float) -> Iterator[Observation]:
        now = self._clock(video_time)
        if frame.size == 0 or is_blank(frame):
            self.stats.blank_frames += 1
            self.stats.blank_run += 1
            self.stats.last_error = "camera_blank_frame"
            return
        self.stats.blank_run = 0
        if now - self._last_processed_at < 1.0 / self.max_fps - 1e-6:
            return  # frame skipping: never more than max_fps
        self._last_processed_at = now
        self.stats.frames_processed += 1
        self.stats.rate_out.tick(time.monotonic())
        changed = self._motion(frame)
        moving = changed >= self.motion_threshold
        if moving:
            if self._event is None:
                self._event = _Event(started=now, last_motion=now)
            self._event.last_motion = now
            self._event.peak = max(self._event.peak, changed)
        else:
            yield from self._end_event(now=now)
            self.stats.frames_gated += 1
            return
        if now - self._last_ocr_at < 1.0 / self.ocr_fps - 1e-6:
            return
        candidates = find_plates(frame, max_candidates=self.max_candidates, roi=self.roi)
        if not candidates:
            return
        self._last_ocr_at = now
        self.stats.frames_ocr += 1
        self.stats.rate_ocr.tick(time.monotonic())
        engine = self.load_engine()  # loaded at start: this only returns it
        read = read_plates(frame, engine, grammar=self.grammar, candidates=candidates)
        found = [p for p in read.plates if p.confidence >= self.min_confidence]
        yield from self._observe(found, now)

    def _observe(self, found: list[PlateText], now: float) -> Iterator[Observation]:
        """One frame's plates to (at most) one Observation.

        A dual-plate truck's Mainland plate is paired with its HK plate when both are read
        in one frame; a Mainland plate read alone (it is smaller, so often read later or
        earlier than the HK one) is held for ``pair_within`` seconds and given to the next
        HK plate, unless it is already paired with another one (the truck before).
        """
        primary, others = primary_and_alternates(found)
        if primary is None:
            return
        self._pairs = {v: p for v, p in self._pairs.items() if now - p[1] <= self.pair_keep}
        event = self._event
        if self._repeat(primary.vrn, now, event):
            if event is not None:
                event.local_read = True  # identified, just not new: no "unread" at its end
            return
        if primary.kind == "mainland":
            if event is not None:
                if primary.vrn not in {p.vrn for p, _ in self._pairs.values()}:
                    self._pending = (primary, now)
                if event.mainland is None or primary.confidence > event.mainland.confidence:
                    event.mainland = primary
                return
            others = []
        else:
            if event is not None:
                event.local_read = True
            mainland = [p for p in others if p.kind == "mainland"]
            if mainland:
                self._pairs[primary.vrn] = (mainland[0], now)
            elif primary.vrn in self._pairs:
                paired = self._pairs[primary.vrn][0]
                self._pairs[primary.vrn] = (paired, now)
                others = [*others, paired]
            elif self._pending is not None and now - self._pending[1] <= self.pair_within:
                held = self._pending[0]
                self._pairs[primary.vrn] = (held, now)
                others = [*others, held]
            self._pending = None
            if len(self._pairs) > 256:  # bounded: only recent trucks matter
                self._pairs.pop(next(iter(self._pairs)))
        yield self._observation(primary, others, now)

    def _repeat(self, vrn: str, now: float, event: _Event | None) -> bool:
        """True for a plate already reported in an earlier spell of motion, recently: the
        same truck creeping forward or driving off is not a new truck. Only reported
        plates count (not a frame's other readings, which may be the next truck's plate),
        and the Mainland plate paired with one of them (the same truck)."""
        if event is not None and vrn in event.vrns:
            return False
        wall = time.monotonic()  # wall time: it must hold across restarts of a file too
        last = self._recent.get(vrn)
        if last is not None and wall - last < self.repeat_suppress:
            self.stats.repeats_suppressed += 1
            self._recent[vrn] = wall
            return True
        for hk, (paired, _) in self._pairs.items():
            seen = self._recent.get(hk)
            if paired.vrn == vrn and seen is not None and wall - seen < self.repeat_suppress:
                self.stats.repeats_suppressed += 1  # its HK plate's time is not refreshed
                return True
        return False

    def _observation(self, primary: PlateText, others: list[PlateText], now: float) -> Observation:
        self.stats.observations += 1
        self.stats.last_vrn = primary.vrn
        self.stats.last_read_at = time.monotonic()
        wall = time.monotonic()
        self._recent = {v: t for v, t in self._recent.items() if wall - t < self.repeat_suppress}
        # the reported plate only: a frame's other readings may be the next truck's plate,
        # which would then not be reported while it is seen
        self._recent[primary.vrn] = wall
        if self._event is not None:
            self._event.vrns.add(primary.vrn)
        return Observation(
            vrn=primary.vrn,
            raw=primary.raw[:64],
            confidence=primary.confidence,
            source="camera",
            device=self.device,
            at=time.monotonic(),
            alternates=tuple((p.vrn, p.confidence) for p in others[:8]),
        )

    def _end_event(self, *, now: float | None = None, force: bool = False) -> Iterator[Observation]:
        """Close the spell of motion once the lane has been still for ``quiet_after``."""
        event = self._event
        if event is None or event.reported:
            return
        if not force and (now is None or now - event.last_motion < self.quiet_after):
            return
        self._event = None
        if event.local_read:
            return
        if event.mainland is not None:
            if not self._repeat(event.mainland.vrn, event.last_motion, None):
                yield self._observation(event.mainland, [], event.last_motion)
        elif self.report_unread and event.peak >= 0.02 and event.last_motion - event.started >= 0.3:
            # something big moved for a while and no plate could be read: say so once
            self.stats.observations += 1
            yield Observation(
                vrn="",
                raw="",
                confidence=0.0,
                source="camera",
                device=self.device,
                at=time.monotonic(),
            )

    def _motion(self, frame: Frame) -> float:
        """The share of a small, blurred grey copy that changed since the last processed frame."""
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        small = cv2.GaussianBlur(
            cv2.resize(gray, (160, 90), interpolation=cv2.INTER_AREA), (5, 5), 0
        )
        prev, self._prev_small = self._prev_small, small
        if prev is None or prev.shape != small.shape:
            return 1.0  # the first frame (after a reconnect too) is always looked at
        diff = cv2.absdiff(small, prev)
        # a dark (night) scene changes by less: the threshold follows the brightness
        threshold = min(18.0, max(6.0, 0.2 * float(small.mean())))
        return float(np.count_nonzero(diff > threshold)) / diff.size
