"""The camera plate source: OpenCV capture → motion gate → plate finder → OCR → Observations.

``CameraSource(url, device=..., grammar=...)`` reads a video file, an HTTP MJPEG or RTSP
URL, or a local device index (``"0"``). A grabber thread keeps only the newest frame of
a live feed, so processing never falls behind it (older frames are counted as dropped).
Only what is needed is processed: at most ``max_fps`` frames a second, no finder or OCR
on frames where nothing moved, OCR only on plate candidates and at most ``ocr_fps``
times a second. Each frame with a plate read gives one Observation (a dual-plate truck's
Mainland plate among its alternates), dated when the grabber got the frame; the
aggregator turns a truck's sightings into one PlateRead. A plate already reported is not
reported again by a later spell of motion within ``repeat_suppress`` seconds (the truck
creeping forward or driving off), nor while the picture has stayed still since it was
reported (a truck standing at the booth for minutes, up to ``hold_still``), and a
recording that is played again does not bring its trucks back.

The OCR engine is loaded when the source starts (``load_engine``, which the CLI calls
before the adapter says it is online), not at the first truck: missing models or a
broken onnxruntime are a start-up error, and the first read is not held up by the load.

A URL that never answers, a dead stream, a 0-byte or corrupt file, black, frozen or
unusable frames, an RTSP stream whose frames come late: the source logs, says so in
``status()`` and drops the frames, reconnects with capped backoff (live sources) or ends
(files, unless ``loop``). An OCR engine that cannot be loaded ends the run at once,
before any frame, with ``state`` ``error``; one that fails on a frame costs that frame.
It never raises out of ``observations``.
"""

from __future__ import annotations

import collections
import logging
import math
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
Roi = tuple[int, int, int, int]
_CREDENTIALS = re.compile(r"(//)[^/@]+@")

# A plate reported while the lane then stays still is the truck standing there: it is
# kept from being reported again for this long after it was last read, however long the
# picture stays still (a truck held at the booth drives off as the same truck). Capped,
# so that a truck that left unseen (a camera down, a frozen picture) is not kept out for
# ever if it comes back.
HOLD_STILL_MAX = 15 * 60.0
# RTSP: a frame that arrives this much later (s) than its connection's usual delay
# behind the camera's clock waited somewhere (a stalled link sending its backlog, a link
# slower than the stream): the truck it shows may be gone, so it is dropped.
STALE_BOUND = 2.0
# ... and nothing but such frames for this long (s): the backlog does not drain, reconnect
STALE_RECONNECT_AFTER = 5.0
# frames in a row of a new RTSP connection whose presentation times must rise before
# they are used, and the frames after which a connection whose times do not is given up
PTS_CHECK_FRAMES = 10
PTS_CHECK_GIVE_UP = 50
# the schemes whose presentation times come from the camera's clock (RTP timestamps);
# FFmpeg makes them up from an assumed frame rate for MJPEG over HTTP and local devices
PTS_SCHEMES = ("rtsp://", "rtsps://")
# exactly identical frames for this long (s): a hung encoder repeating its last picture
FROZEN_AFTER = 30.0
# OCR failing on this many frames in a row makes the status unhealthy
OCR_ERRORS_UNHEALTHY = 3
# a warning or error that repeats with every frame is logged at most once per this (s)
LOG_EVERY = 60.0
# the motion gate's small grey copy (of the ROI, when there is one)
MOTION_SIZE = (160, 90)


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


def check_roi(roi: Any) -> Roi | None:
    """``roi`` as ``(x, y, w, h)`` whole pixels, x and y at least 0, w and h at least 1;
    ``CameraError(avrs_bad_roi)`` otherwise."""
    if roi is None:
        return None
    if (
        not isinstance(roi, tuple | list)
        or len(roi) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in roi)
        or roi[0] < 0
        or roi[1] < 0
        or roi[2] < 1
        or roi[3] < 1
    ):
        raise CameraError(
            f"roi must be X,Y,W,H in whole pixels (X, Y >= 0; W, H >= 1), got {roi!r}",
            key="avrs_bad_roi",
        )
    x, y, w, h = roi
    return (x, y, w, h)


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
    arrival: float = 0.0  # time.monotonic() when the grabber got it
    first: bool = False  # the first frame of a connection (or of a pass of a file)
    taken: bool = True


@dataclass
class _Run:
    """One run of ``observations()``: its grabber's stop and done signals and its slot.

    Each run has its own: a grabber stuck in a read for longer than the run waits for it
    outlives its run, and must stop when the read returns, not carry on beside the next
    run's grabber with a second capture open, nor end the next run when it exits.
    """

    halt: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    cond: threading.Condition = field(default_factory=threading.Condition)
    slot: _Slot = field(default_factory=_Slot)
    # video time where the next pass of a file starts: it keeps rising when a file is
    # played again (``loop``), or the pacing clock would go back and skip every frame
    video_base: float = 0.0


@dataclass
class _Event:
    """One spell of motion in front of the camera (a truck driving in, or out)."""

    started: float
    last_motion: float
    last_motion_at: float = 0.0  # arrival time of its last frame with motion
    peak: float = 0.0
    local_read: bool = False
    mainland: PlateText | None = None
    reported: bool = False
    vrns: set[str] = field(default_factory=set)  # plates reported in this spell


class _LagWatch:
    """How late one connection's frames arrive, from their presentation times.

    A frame's lag is its arrival time less its presentation time (RTSP: the camera's
    clock). The least lag seen on the connection is its baseline: the delay of the
    network and the decoder when nothing waits. A frame more than the source's
    ``stale_bound`` over it waited somewhere (a link that stalled and then sends its backlog, a link slower
    than the stream that queues): it shows the lane as it was that long ago.

    The times are used once ``PTS_CHECK_FRAMES`` frames in a row had rising ones (FFmpeg
    gives the first two frames of an RTSP stream the same time, 0); a stream whose times
    do not rise like that within ``PTS_CHECK_GIVE_UP`` frames (all 0, standing still)
    has none worth using. A time that goes back later (the camera restarted its clock)
    starts a new baseline.
    """

    def __init__(self) -> None:
        self.usable: bool | None = None  # None: not known yet
        self.baseline: float | None = None
        self.last_pts: float | None = None
        self.frames = 0
        self.rising = 0  # frames in a row whose time rose
        self.why = ""  # why the times are not usable

    def lateness(self, arrival: float, pts_ms: float) -> float | None:
        """Seconds this frame is later than the baseline, or None without usable times."""
        if self.usable is False:
            return None
        pts = pts_ms / 1000.0
        if not math.isfinite(pts) or pts < 0:
            self.usable, self.why = False, f"presentation time {pts_ms!r} ms"
            return None
        rose = self.last_pts is not None and pts > self.last_pts
        self.last_pts = pts
        lag = arrival - pts
        if self.usable is None:
            self.frames += 1
            self.rising = self.rising + 1 if rose else 0
            if rose:
                self.baseline = lag if self.baseline is None else min(self.baseline, lag)
            if self.rising >= PTS_CHECK_FRAMES:
                self.usable = True
            elif self.frames >= PTS_CHECK_GIVE_UP:
                self.usable = False
                self.why = "all 0" if pts == 0 else "they do not keep rising"
            return None
        if not rose or self.baseline is None:
            self.baseline = lag  # the camera's clock went back: measure from here
            return 0.0
        self.baseline = min(self.baseline, lag)
        return lag - self.baseline


@dataclass
class CameraStats:
    """Counters behind ``status()``."""

    frames_in: int = 0
    frames_processed: int = 0
    frames_gated: int = 0
    frames_ocr: int = 0
    dropped: int = 0
    blank_frames: int = 0
    bad_frames: int = 0  # not 8-bit grey, BGR or BGRA: cannot be read
    stale_frames: int = 0  # RTSP frames that came too late (``STALE_BOUND``)
    ocr_errors: int = 0
    frame_errors: int = 0  # frames whose processing failed otherwise (a bug: logged)
    stream_errors: int = 0
    reconnects: int = 0
    observations: int = 0
    repeats_suppressed: int = 0
    blank_run: int = 0  # blank frames in a row, now
    bad_run: int = 0  # unusable frames in a row, now
    ocr_error_run: int = 0  # frames in a row on which OCR failed, now
    frozen_for: float = 0.0  # seconds the picture has been exactly the same, once frozen
    frame_lag: float | None = None  # the last frame's lateness over the baseline (RTSP)
    presentation_times: str = "unknown"  # "yes", "no" or "unknown" (this connection)
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
        roi: Roi | None = None,
        realtime: bool | None = None,
        loop: bool = False,
        open_timeout: float = 5.0,
        read_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.5, 10.0),
        min_confidence: float = 0.5,
        quiet_after: float = 1.0,
        report_unread: bool = False,
        repeat_suppress: float = 60.0,
        hold_still: float = HOLD_STILL_MAX,
        frozen_after: float = FROZEN_AFTER,
        stale_bound: float = STALE_BOUND,
        stale_reconnect: float = STALE_RECONNECT_AFTER,
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
            min(
                max_fps,
                ocr_fps,
                open_timeout,
                read_timeout,
                backoff[0],
                frozen_after,
                stale_bound,
                stale_reconnect,
            )
            <= 0
            or backoff[1] < backoff[0]
            or repeat_suppress < 0
            or hold_still < 0
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
        self.roi = check_roi(roi)
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
        self.hold_still = hold_still
        self.frozen_after = frozen_after
        self.stale_bound = stale_bound
        self.stale_reconnect = stale_reconnect
        self.pair_within = 2.0
        # a pair not seen for this long is forgotten: a wrong pairing, or the truck back
        # another day with another Mainland plate, does not ride along for ever
        self.pair_keep = 30 * self.pair_within
        # HK vrn -> its truck's Mainland plate, and when the HK plate was last read
        self._pairs: dict[str, tuple[PlateText, float]] = {}
        self._recent: dict[str, float] = {}  # vrn -> pacing clock of its last sighting
        # the plate(s) last reported, which may be standing in front of the camera still
        self._held: set[str] = set()
        self._held_read_at = -math.inf  # pacing clock of the last read of one of them
        self._held_event: _Event | None = None  # the spell of motion that reported them
        self._engine = engine
        self.stats = CameraStats()
        self._run = _Run()
        self._seed = False  # the next processed frame is the motion gate's new reference
        self._reset_run()
        self._t0 = time.monotonic()
        self._last_clock = -math.inf
        self._said: set[str] = set()  # what was logged once
        self._logged_at: dict[str, float] = {}  # throttled messages: when last logged

    def _reset_run(self) -> None:
        """What a run of ``observations`` starts without: the motion gate's and the frozen
        watch's last frames, the spell of motion and its pending Mainland plate, the OCR
        pacing, the ROI check. What outlives a run (the plates reported, the pairs, the
        pacing clock) is not here."""
        self._prev_small: Frame | None = None
        self._prev_frame: Frame | None = None
        self._same_since: float | None = None
        self._frozen = False
        self.stats.frozen_for = 0.0
        self._fatal = ""  # a reason this run cannot go on (the ROI does not fit the frames)
        self._roi_checked: tuple[int, int] | None = None  # frame size the ROI was checked on
        self._last_ocr_at = -1e9
        self._last_processed_at = -1e9
        self._event: _Event | None = None
        self._pending: tuple[PlateText, float] | None = None  # a Mainland plate read alone

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
        problems = self._problems()
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
            "bad_frames": s.bad_frames,
            "stale_frames": s.stale_frames,
            "ocr_errors": s.ocr_errors,
            "frame_errors": s.frame_errors,
            "stream_errors": s.stream_errors,
            "reconnects": s.reconnects,
            "observations": s.observations,
            "repeats_suppressed": s.repeats_suppressed,
            "frozen": s.frozen_for > 0,
            "frame_lag_s": s.frame_lag,
            "presentation_times": s.presentation_times,
            "last_error": s.last_error,
            "last_vrn": s.last_vrn,
            "last_read_age_s": None if s.last_read_at is None else round(now - s.last_read_at, 2),
            # what the publisher puts in status/avrs: healthy, or what is wrong now
            "ok": s.state in ("streaming", "ended") and not problems,
            "problem": "; ".join(problems),
        }

    def _problems(self) -> list[str]:
        s = self.stats
        if s.state in ("connecting", "reconnecting", "error"):
            return [f"camera {s.state}: {s.last_error}" if s.last_error else f"camera {s.state}"]
        problems = []
        if s.blank_run:
            problems.append(f"camera sends blank frames ({s.blank_run} in a row)")
        if s.bad_run:
            problems.append(f"camera sends frames that cannot be read ({s.bad_run} in a row)")
        if s.frozen_for:
            problems.append(f"camera picture frozen (the same for {s.frozen_for:.0f} s)")
        if s.frame_lag is not None and s.frame_lag > self.stale_bound:
            problems.append(f"camera frames come {s.frame_lag:.1f} s late (dropped)")
        if s.ocr_error_run >= OCR_ERRORS_UNHEALTHY:
            problems.append(f"OCR failing ({s.ocr_error_run} frames in a row): avrs_ocr_error")
        return problems

    def observations(self, stop: threading.Event) -> Iterator[Observation]:
        """Sightings until ``stop`` is set (or a file ends, unless ``loop``)."""
        # a fresh run (the publisher restarts an ended source), with its own grabber,
        # slot and signals: a grabber of an earlier run still stuck in a read stops when
        # the read returns and neither feeds nor ends this run
        run = self._run = _Run()
        # the pacing clock never goes back, so what happened in an earlier run of a file
        # processed faster than real time (its plates, their times) still counts
        self._t0 = max(time.monotonic(), self._last_clock + 1.0 / self.max_fps)
        self._reset_run()
        try:
            self.load_engine()  # before any frame: a broken engine is not found at a truck
        except OcrError as err:
            logger.error("camera %s: %s", self.device, err)
            self.stats.last_error = err.key
            self.stats.state = "error"
            return
        grabber = threading.Thread(
            target=self._grab_loop,
            args=(stop, run),
            name=f"camera-grab-{self.device}",
            daemon=True,
        )
        grabber.start()
        try:
            while not stop.is_set() and not self._fatal:
                slot = self._take(run, stop)
                if slot is None:
                    if run.done.is_set():
                        break
                    continue
                try:
                    yield from self._process(slot)
                except Exception:  # one frame must not end the camera: log, count, go on
                    self.stats.frame_errors += 1
                    self.stats.last_error = "camera_frame_error"
                    if self._due("frame_error"):
                        logger.exception("camera %s: processing a frame failed", self.device)
            yield from self._end_event(force=True)
        finally:
            with run.cond:
                run.cond.notify_all()
            # the grabber sees this within one read timeout; do not wait for it for ever
            run.halt.set()
            grabber.join(timeout=self.read_timeout + self.open_timeout + 1)
            if self._fatal:
                self.stats.state = "error"
                self.stats.last_error = self._fatal
            elif self.stats.state not in ("error", "ended"):
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

    def _due(self, key: str) -> bool:
        """True unless ``key`` was logged less than ``LOG_EVERY`` ago: a fault that hits
        every frame must not flood the log."""
        now = time.monotonic()
        if now - self._logged_at.get(key, -math.inf) < LOG_EVERY:
            return False
        self._logged_at[key] = now
        return True

    def _say_once(self, key: str, level: int, message: str, *args: object) -> None:
        if key not in self._said:
            self._said.add(key)
            logger.log(level, message, *args)

    def _stopping(self, stop: threading.Event, run: _Run) -> bool:
        return stop.is_set() or run.halt.is_set()

    def _pause(self, stop: threading.Event, run: _Run, seconds: float) -> None:
        """Wait before reconnecting; a stop or a closed ``observations`` ends it early, so
        closing the source never waits for a backoff of up to 10 s."""
        deadline = time.monotonic() + seconds
        while not self._stopping(stop, run):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            stop.wait(min(left, 0.1))

    def _grab_loop(self, stop: threading.Event, run: _Run) -> None:
        delay = self.backoff[0]
        first = True
        try:
            while not self._stopping(stop, run):
                self.stats.state = "connecting" if first else "reconnecting"
                if not first:
                    self.stats.reconnects += 1
                first = False
                cap = self._open()
                if self._stopping(stop, run):  # the run ended while the camera was opened
                    if cap is not None:
                        cap.release()
                    return
                if cap is None:
                    if self.kind == "file":
                        self.stats.state = "error"
                        return
                    self.stats.stream_errors += 1
                    self._pause(stop, run, delay)
                    delay = min(delay * 2, self.backoff[1])
                    continue
                opened_at = time.monotonic()
                try:
                    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
                    fps = fps if 0 < fps <= 240 else 25.0
                    got_any = self._read_frames(cap, stop, run, fps)
                finally:
                    cap.release()
                if self._stopping(stop, run):
                    return  # this run is over: its state is not this grabber's to say
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
                self._pause(stop, run, delay)
                delay = min(delay * 2, self.backoff[1])
        except Exception as err:  # top-level of the grabber thread: report, never crash the adapter
            logger.exception("camera %s grabber failed", self.device)
            if not run.halt.is_set():
                self.stats.last_error = f"camera_grabber_failed: {err}"
                self.stats.state = "error"
        finally:
            run.done.set()
            with run.cond:
                run.cond.notify_all()

    def _lag_watch(self) -> _LagWatch | None:
        """A watch on how late a new connection's frames come, where the stream's
        presentation times can tell (RTSP); None where they cannot."""
        self.stats.frame_lag = None
        if self.kind == "stream" and self.url.lower().startswith(PTS_SCHEMES):
            self.stats.presentation_times = "unknown"
            return _LagWatch()
        if self.kind != "file":
            self.stats.presentation_times = "no"
            self._say_once(
                "no_pts",
                logging.INFO,
                "camera %s: no presentation times from %s (FFmpeg makes them up from an "
                "assumed frame rate for MJPEG over HTTP and local devices): frames that "
                "come late cannot be told, they are read as they come",
                self.device,
                redact(self.url),
            )
        return None

    def _read_frames(self, cap: Any, stop: threading.Event, run: _Run, fps: float) -> bool:
        """Read until the stream ends or fails (or its frames keep coming too late); True
        if any frame came."""
        got_any = False
        put_any = False
        index = 0
        start = time.monotonic()
        base = run.video_base
        lag = self._lag_watch()
        stale_since: float | None = None
        try:
            while not self._stopping(stop, run):
                ok, frame = cap.read()
                arrival = time.monotonic()
                if self._stopping(stop, run):
                    break  # the run ended during the read: neither its frame nor a state
                if not ok or frame is None:
                    if got_any and self.kind != "file":
                        self._error(
                            f"stream {redact(self.url)} stopped delivering frames",
                            key="camera_stream_lost",
                        )
                    break
                got_any = True
                self.stats.frames_in += 1
                self.stats.rate_in.tick(arrival)
                self.stats.state = "streaming"
                if self.kind == "file":
                    # video time keeps rising from pass to pass of a looped file
                    video_time = base + index / fps
                    index += 1
                    if self.realtime:
                        # play a recording at its own speed, as the camera would have sent it
                        ahead = start + (video_time - base) - time.monotonic()
                        if ahead > 0:
                            stop.wait(ahead)
                else:
                    video_time = arrival - self._t0
                    if lag is not None:
                        late = self._lateness(lag, cap, arrival)
                        if late is not None and late > self.stale_bound:
                            stale_since = arrival if stale_since is None else stale_since
                            if arrival - stale_since >= self.stale_reconnect:
                                self._error(
                                    f"frames of {redact(self.url)} have come more than "
                                    f"{self.stale_bound:g} s late for "
                                    f"{arrival - stale_since:.1f} s: reconnecting",
                                    key="camera_stream_stale",
                                )
                                break
                            continue
                        stale_since = None
                self._put(run, frame, video_time, arrival, stop, first=not put_any)
                put_any = True
        finally:
            if self.kind == "file":
                run.video_base = base + index / fps
        return got_any

    def _lateness(self, lag: _LagWatch, cap: Any, arrival: float) -> float | None:
        """How late this frame is over its connection's usual (None: cannot tell); a
        frame late by more than ``stale_bound`` is counted, and warned of now and then."""
        known = lag.usable
        late = lag.lateness(arrival, float(cap.get(cv2.CAP_PROP_POS_MSEC)))
        if known is None and lag.usable is not None:
            self.stats.presentation_times = "yes" if lag.usable else "no"
            if not lag.usable:
                self._say_once(
                    "unusable_pts",
                    logging.INFO,
                    "camera %s: %s gives no usable presentation times (%s): frames that "
                    "come late cannot be told, they are read as they come",
                    self.device,
                    redact(self.url),
                    lag.why,
                )
        self.stats.frame_lag = None if late is None else round(late, 3)
        if late is not None and late > self.stale_bound:
            self.stats.stale_frames += 1
            if self._due("stale"):
                logger.warning(
                    "camera %s: frames come %.1f s later than usual (more than %g s): dropped "
                    "(%d so far)",
                    self.device,
                    late,
                    self.stale_bound,
                    self.stats.stale_frames,
                )
        return late

    def _put(
        self,
        run: _Run,
        frame: Frame,
        video_time: float,
        arrival: float,
        stop: threading.Event,
        *,
        first: bool = False,
    ) -> None:
        with run.cond:
            if not self.realtime:
                while not run.slot.taken and not self._stopping(stop, run):
                    run.cond.wait(0.2)
            elif not run.slot.taken:
                self.stats.dropped += 1  # never fall behind a live feed: keep the newest
                first = first or run.slot.first  # a new connection's mark goes with it
            run.slot = _Slot(frame, video_time, arrival, first, taken=False)
            run.cond.notify_all()

    def _take(self, run: _Run, stop: threading.Event) -> _Slot | None:
        with run.cond:
            if run.slot.taken:
                run.cond.wait(0.2)
            if run.slot.taken or run.slot.frame is None or stop.is_set():
                return None
            run.slot.taken = True
            run.cond.notify_all()
            return run.slot

    # -- processing (the caller's thread) ------------------------------------------------

    def _clock(self, video_time: float) -> float:
        """Pacing time (skipping, OCR rate, motion spells, repeats): video time for a
        file, so a recording processed faster than real time behaves as it did live; the
        arrival time for a live feed."""
        return self._t0 + video_time

    def _usable(self, frame: Any) -> Frame | None:
        """The frame as 8-bit BGR (H×W×3): grey and BGRA ones converted. Anything else (16
        bits, floats, two channels) cannot be read: counted, said once, None."""
        if isinstance(frame, np.ndarray) and frame.dtype == np.uint8:
            if frame.ndim == 3 and frame.shape[2] == 3 or frame.size == 0:
                return frame
            if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
                grey: Frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
                return grey
            if frame.ndim == 3 and frame.shape[2] == 4:
                bgr: Frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
                return bgr
        self.stats.bad_frames += 1
        self.stats.bad_run += 1
        self.stats.last_error = "camera_bad_frame"
        self._say_once(
            "bad_frame",
            logging.WARNING,
            "camera %s: a frame that cannot be read (%s, shape %s; 8-bit grey, BGR or BGRA "
            "wanted): such frames are skipped",
            self.device,
            getattr(frame, "dtype", type(frame).__name__),
            getattr(frame, "shape", "?"),
        )
        return None

    def _roi_fits(self, frame: Frame) -> bool:
        """False (and the run ends with ``camera_roi_outside``) when the ROI does not lie
        inside the frames: it was measured on another camera or another resolution."""
        if self.roi is None:
            return True
        height, width = frame.shape[:2]
        if self._roi_checked == (width, height):
            return True
        x, y, w, h = self.roi
        if x + w > width or y + h > height:
            self._fatal = "camera_roi_outside"
            self.stats.last_error = self._fatal
            self.stats.state = "error"
            logger.error(
                "camera %s: the ROI %d,%d,%d,%d (X,Y,W,H) does not fit in its %dx%d frames",
                self.device,
                x,
                y,
                w,
                h,
                width,
                height,
            )
            return False
        self._roi_checked = (width, height)
        return True

    def _process(self, slot: _Slot) -> Iterator[Observation]:
        now = self._clock(slot.video_time)
        self._last_clock = max(self._last_clock, now)
        if slot.first:
            self._seed = True  # a new connection: its first frame is the motion reference
        frame = self._usable(slot.frame)
        if frame is None:
            return
        self.stats.bad_run = 0
        if frame.size == 0 or is_blank(frame):
            self.stats.blank_frames += 1
            self.stats.blank_run += 1
            self.stats.last_error = "camera_blank_frame"
            return
        self.stats.blank_run = 0
        if not self._roi_fits(frame):
            return
        if now - self._last_processed_at < 1.0 / self.max_fps - 1e-6:
            return  # frame skipping: never more than max_fps
        self._last_processed_at = now
        self.stats.frames_processed += 1
        self.stats.rate_out.tick(time.monotonic())
        self._watch_frozen(frame, now)
        changed = self._motion(frame, now)
        moving = changed >= self.motion_threshold
        if moving:
            if self._event is None:
                self._event = _Event(started=now, last_motion=now)
            self._event.last_motion = now
            self._event.last_motion_at = slot.arrival
            self._event.peak = max(self._event.peak, changed)
        else:
            self._hold_still(now)
            yield from self._end_event(now=now)
            self.stats.frames_gated += 1
            return
        if now - self._last_ocr_at < 1.0 / self.ocr_fps - 1e-6:
            return
        try:
            candidates = find_plates(frame, max_candidates=self.max_candidates, roi=self.roi)
            if not candidates:
                return
            self._last_ocr_at = now
            self.stats.frames_ocr += 1
            self.stats.rate_ocr.tick(time.monotonic())
            engine = self.load_engine()  # loaded at start: this only returns it
            read = read_plates(frame, engine, grammar=self.grammar, candidates=candidates)
        except Exception:  # the finder or OCR failing on one frame costs that frame only
            self.stats.ocr_errors += 1
            self.stats.ocr_error_run += 1
            self.stats.last_error = "avrs_ocr_error"
            if self._due("ocr_error"):
                logger.exception(
                    "camera %s: reading plates in a frame failed (%d so far)",
                    self.device,
                    self.stats.ocr_errors,
                )
            return
        self.stats.ocr_error_run = 0
        found = [p for p in read.plates if p.confidence >= self.min_confidence]
        yield from self._observe(found, now, slot.arrival)

    def _observe(
        self, found: list[PlateText], now: float, at: float | None = None
    ) -> Iterator[Observation]:
        """One frame's plates to (at most) one Observation, dated ``at`` (when the frame
        came; now if not given).

        A dual-plate truck's Mainland plate is paired with its HK plate when both are read
        in one frame; a Mainland plate read alone (it is smaller, so often read later or
        earlier than the HK one) is held for ``pair_within`` seconds and given to the next
        HK plate, unless it is already paired with another one (the truck before). The
        same holds for a Mainland plate read in one frame with a HK plate: the truck
        before, driving off, may be in the frame as the next one comes in.
        """
        primary, others = primary_and_alternates(found)
        if primary is None:
            return
        # a pairing lasts while its HK plate is seen or held (a truck standing at the booth
        # for minutes keeps its Mainland plate: unpaired, it went to the next truck)
        self._pairs = {
            v: p
            for v, p in self._pairs.items()
            if now - max(p[1], self._recent.get(v, -math.inf)) <= self.pair_keep
        }
        if primary.kind != "mainland":
            owner = {paired.vrn: hk for hk, (paired, _) in self._pairs.items()}
            others = [
                p
                for p in others
                if p.kind != "mainland" or owner.get(p.vrn, primary.vrn) == primary.vrn
            ]
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
        yield self._observation(primary, others, now, at)

    def _repeat(self, vrn: str, now: float, event: _Event | None) -> bool:
        """True for a plate already reported in an earlier spell of motion, recently (by
        the pacing clock): the same truck creeping forward or driving off is not a new
        truck. Only reported plates count (not a frame's other readings, which may be the
        next truck's plate), and the Mainland plate paired with one of them (the same
        truck). A plate held while the lane stays still (``_hold_still``) stays recent."""
        if event is not None and vrn in event.vrns:
            return False
        last = self._recent.get(vrn)
        if last is not None and now - last < self.repeat_suppress:
            self.stats.repeats_suppressed += 1
            self._recent[vrn] = now
            if vrn in self._held:
                self._held_read_at = now  # read again: it is still there
            return True
        for hk, (paired, _) in self._pairs.items():
            seen = self._recent.get(hk)
            if paired.vrn == vrn and seen is not None and now - seen < self.repeat_suppress:
                self.stats.repeats_suppressed += 1  # its HK plate's time is not refreshed
                return True
        return False

    def _holding(self, now: float) -> bool:
        """Whether a plate is held as standing in view: one was reported and read within
        ``hold_still``, and no other plate was reported since."""
        if self._held and now - self._held_read_at > self.hold_still:
            logger.info(
                "camera %s: %s not read for %.0f s: no longer held as standing in view",
                self.device,
                ",".join(sorted(self._held)),
                now - self._held_read_at,
            )
            self._held = set()
        return bool(self._held)

    def _hold_still(self, now: float) -> None:
        """A frame in which nothing moved: the plate(s) last reported are where they
        were, so they stay recent, however long the truck stands (its session may time
        out meanwhile; a new PlateRead when it drives off would open another session and
        show its instruction to the next truck). Not on a frozen picture, which shows
        nothing, and no longer than ``hold_still`` after the plate was last read."""
        if self._frozen or not self._holding(now):
            return
        for vrn in self._held:
            self._recent[vrn] = now

    def _observation(
        self, primary: PlateText, others: list[PlateText], now: float, at: float | None = None
    ) -> Observation:
        self.stats.observations += 1
        self.stats.last_vrn = primary.vrn
        self.stats.last_read_at = time.monotonic()
        self._recent = {v: t for v, t in self._recent.items() if now - t < self.repeat_suppress}
        # the reported plate only: a frame's other readings may be the next truck's plate,
        # which would then not be reported while it is seen
        self._recent[primary.vrn] = now
        event = self._event
        if event is not None:
            event.vrns.add(primary.vrn)
        # held while the lane stays still: the plates of this spell of motion; a plate of
        # another spell is another truck, and the ones before are no longer in front
        if event is not None and event is self._held_event:
            self._held.add(primary.vrn)
        else:
            self._held, self._held_event = {primary.vrn}, event
        self._held_read_at = now
        return Observation(
            vrn=primary.vrn,
            raw=primary.raw[:64],
            confidence=primary.confidence,
            source="camera",
            device=self.device,
            at=time.monotonic() if at is None else at,
            alternates=tuple((p.vrn, p.confidence) for p in others[:8]),
        )

    def _end_event(self, *, now: float | None = None, force: bool = False) -> Iterator[Observation]:
        """Close the spell of motion once the lane has been still for ``quiet_after``.

        What it reports is dated by its last frame with motion (when the vehicle was
        last seen moving), not by the end of the spell, ``quiet_after`` later."""
        event = self._event
        if event is None or event.reported:
            return
        if not force and (now is None or now - event.last_motion < self.quiet_after):
            return
        self._event = None
        if event.local_read:
            return
        at = event.last_motion_at or None
        if event.mainland is not None:
            if not self._repeat(event.mainland.vrn, event.last_motion, None):
                yield self._observation(event.mainland, [], event.last_motion, at)
        elif self.report_unread and event.peak >= 0.02 and event.last_motion - event.started >= 0.3:
            # something big moved for a while and no plate could be read: say so once
            self.stats.observations += 1
            yield Observation(
                vrn="",
                raw="",
                confidence=0.0,
                source="camera",
                device=self.device,
                at=time.monotonic() if at is None else at,
            )

    def _watch_frozen(self, frame: Frame, now: float) -> None:
        """A picture that stays exactly the same, to the bit, for ``frozen_after`` is
        frozen (a hung encoder sending its last image): a live camera's sensor noise
        changes every frame even when nothing moves."""
        prev, self._prev_frame = self._prev_frame, frame
        if prev is None or prev.shape != frame.shape or not np.array_equal(prev, frame):
            if self._frozen:
                logger.info("camera %s: the picture changes again", self.device)
            self._frozen = False
            self._same_since = now
            self.stats.frozen_for = 0.0
            return
        same_for = now - (now if self._same_since is None else self._same_since)
        if same_for < self.frozen_after:
            return
        if not self._frozen:
            logger.warning(
                "camera %s: the picture has been exactly the same for %.0f s: frozen",
                self.device,
                same_for,
            )
        self._frozen = True
        self.stats.frozen_for = round(same_for, 1)

    def _small(self, frame: Frame) -> Frame:
        """The motion gate's view: the ROI (or the frame), small, grey and blurred."""
        if self.roi is not None:
            x, y, w, h = self.roi
            frame = frame[y : y + h, x : x + w]
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        small: Frame = cv2.GaussianBlur(
            cv2.resize(gray, MOTION_SIZE, interpolation=cv2.INTER_AREA), (5, 5), 0
        )
        return small

    def _motion(self, frame: Frame, now: float) -> float:
        """The share of a small, blurred grey copy that changed since the last processed
        frame.

        The first frame of a new connection (a reconnect, a restart of the source) is the
        new reference, not motion, while a plate is held as standing in view: that truck
        has not moved, and reading it again would report it again once the repeat window
        has passed. With none held (a fresh start, an empty lane) it is looked at like
        motion, so a truck standing there is read now rather than when it drives off."""
        small = self._small(frame)
        prev, self._prev_small = self._prev_small, small
        if self._seed or prev is None or prev.shape != small.shape:
            self._seed = False
            return 0.0 if self._holding(now) else 1.0
        diff = cv2.absdiff(small, prev)
        # a dark (night) scene changes by less: the threshold follows the brightness
        threshold = min(18.0, max(6.0, 0.2 * float(small.mean())))
        return float(np.count_nonzero(diff > threshold)) / diff.size
