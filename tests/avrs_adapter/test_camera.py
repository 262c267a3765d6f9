"""The camera source on real inputs: a generated video, an MJPEG stream over loopback,
and the inputs that go wrong (0-byte and corrupt files, black frames, a silent URL)."""

from __future__ import annotations

import collections
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from avrs_adapter.aggregator import Aggregator
from avrs_adapter.camera import (
    CameraError,
    CameraSource,
    _Event,
    _LagWatch,
    _Run,
    redact,
    source_kind,
)
from avrs_adapter.grammar import PlateText
from avrs_adapter.observation import Observation
from avrs_adapter.ocr import OcrError, OcrModelMissing
from avrs_adapter.ocr import engine as shared_ocr_engine
from avrs_adapter.publisher import AvrsPublisher
from hardware_sim.synthetic_camera import (
    LiveCamera,
    MjpegServer,
    Pass,
    RtspCamera,
    Truck,
    encode_jpeg,
    frames,
    write_video,
)
from rocars.bus import Bus
from rocars.messages import PlateRead, parse
from rocars.topics import plate_topic
from tests.fixtures.brokers import Mosquitto
from tests.fixtures.logs import said_by

TRUCKS = [
    Truck("AB 1234", mainland="粤Z·F023港", view="front"),
    Truck("XY 98", view="rear", body_bgr=(200, 200, 200)),
    Truck("KM 5678", view="front", headboard="HK LOGISTICS"),
]
SIZE = (960, 540)
CAMERA_SETTLE = 3.0
PASSES = [Pass(t, approach=10, dwell=5, leave=6, gap=6) for t in TRUCKS]
FRAMES = 4 + sum(p.frames for p in PASSES)  # the lead-in of an empty lane, then the passes


class Runner:
    """``source.observations`` on a thread; observations in a queue; ``stop`` bounded."""

    def __init__(self, source: CameraSource) -> None:
        self.source = source
        self.stop_event = threading.Event()
        self.queue: queue.Queue[Observation] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for obs in self.source.observations(self.stop_event):
            self.queue.put(obs)

    def until(
        self, check: Callable[[dict[str, Any]], bool], timeout: float = 20.0
    ) -> dict[str, Any]:
        """Poll ``status()`` until ``check`` holds (bounded in time)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.source.status()
            if check(status):
                return status
            self.stop_event.wait(0.05)
        raise AssertionError(f"status never matched: {self.source.status()}")

    def stop(self, timeout: float = 10.0) -> float:
        started = time.monotonic()
        self.stop_event.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the camera source did not stop"
        return time.monotonic() - started


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "trucks.avi"
    write_video(path, PASSES, size=SIZE, fps=10, seed=2)
    return path


@pytest.fixture(scope="module")
def video_run(video: Path) -> tuple[list[Observation], dict[str, Any]]:
    source = CameraSource(str(video), device="cam1")
    observed = list(source.observations(threading.Event()))
    return observed, source.status()


def test_each_truck_read_from_a_video(video_run: tuple[list[Observation], dict[str, Any]]) -> None:
    observed, status = video_run
    counts = collections.Counter(o.vrn for o in observed)
    assert set(counts) == {"AB1234", "XY98", "KM5678"}
    assert all(n >= 2 for n in counts.values())
    order = list(dict.fromkeys(o.vrn for o in observed))
    assert order == ["AB1234", "XY98", "KM5678"]
    for obs in observed:
        assert (obs.source, obs.device) == ("camera", "cam1")
        assert 0.5 <= obs.confidence <= 1.0
    # the cross-boundary truck's Mainland plate rides along as an alternate
    dual = [o for o in observed if o.vrn == "AB1234"]
    assert any(("粤ZF023港" in dict(o.alternates)) for o in dual)
    assert all(not o.alternates for o in observed if o.vrn != "AB1234")
    # processed only what was needed: still frames gated, OCR on a few frames only
    assert status["state"] == "ended"
    assert status["frames_in"] == status["frames_processed"] == FRAMES
    assert status["frames_gated"] > 20
    assert status["frames_ocr"] < status["frames_processed"] - status["frames_gated"]
    assert status["dropped"] == 0
    assert status["stream_errors"] == 0


def test_aggregator_makes_one_read_per_truck(
    video_run: tuple[list[Observation], dict[str, Any]],
) -> None:
    observed, _ = video_run
    now = [0.0]
    # the camera's settings: the Mainland plate, smaller, is read a few frames after the HK
    # plate as the truck comes closer, so the vote waits for a few reads (a 0.3 s settle
    # would publish before it is seen)
    aggregator = Aggregator(settle=CAMERA_SETTLE, decisive_reads=4, clock=lambda: now[0])
    reads: list[PlateRead] = []
    for obs in observed:
        now[0] = obs.at
        reads += aggregator.add(obs)
    now[0] += 10.0
    reads += aggregator.poll()
    assert [r.vrn for r in reads] == ["AB1234", "XY98", "KM5678"]
    assert [a.vrn for a in reads[0].alternates] == ["粤ZF023港"]
    assert all(r.source == "camera" and r.confidence > 0.5 for r in reads)


def test_published_once_per_truck_on_a_real_broker(video: Path, mosquitto: Mosquitto) -> None:
    got: queue.Queue[PlateRead] = queue.Queue()
    watcher = Bus(mosquitto.url, "watcher")
    watcher.subscribe(plate_topic("SBC", "L01"), lambda t, p: got.put(parse(PlateRead, p)))
    watcher.start()
    assert watcher.wait_connected(10)
    source = CameraSource(str(video), device="cam1")
    publisher = AvrsPublisher(
        source,
        cp="SBC",
        lane="L01",
        broker_url=mosquitto.url,
        aggregator=Aggregator(settle=CAMERA_SETTLE, decisive_reads=4),
        status_interval=0.5,
        restart_min=0.2,
    )
    publisher.start()
    try:
        reads = [got.get(timeout=60) for _ in TRUCKS]
        assert [r.vrn for r in reads] == ["AB1234", "XY98", "KM5678"]
        assert [a.vrn for a in reads[0].alternates] == ["粤ZF023港"]
        # the file ended and the publisher played it again: the same trucks are not new
        suppressed = source.stats.repeats_suppressed
        replayed_first = FRAMES + 4 + PASSES[0].frames  # the first truck, seen again
        deadline = time.monotonic() + 60
        while source.stats.frames_in < replayed_first and time.monotonic() < deadline:
            publisher.stopping.wait(0.1)
        assert publisher.source_restarts >= 1
        assert source.stats.repeats_suppressed > suppressed
        with pytest.raises(queue.Empty):
            got.get(timeout=CAMERA_SETTLE + 0.5)
    finally:
        publisher.stop()
        watcher.stop()


def _short_stream_frames() -> list[np.ndarray]:
    return list(
        frames([Pass(TRUCKS[2], approach=8, dwell=4, leave=4, gap=4)], (640, 360), lead_in=2)
    )


def test_mjpeg_stream_over_loopback_survives_the_camera_going_away() -> None:
    jpegs = [cv2.imencode(".jpg", f)[1].tobytes() for f in _short_stream_frames()]
    server = MjpegServer(jpegs, fps=10).start()
    port = server.port
    # a tight bound on late frames: FFmpeg's made-up times for MJPEG (40 ms a frame, a
    # 25 fps guess, at 10 fps) would have every frame late after a second or two
    source = CameraSource(
        server.url,
        device="cam2",
        open_timeout=2,
        read_timeout=1,
        backoff=(0.1, 0.5),
        stale_bound=0.5,
    )
    with said_by("avrs_adapter.camera", logging.INFO) as said:
        runner = Runner(source)
        try:
            obs = runner.queue.get(timeout=30)
            assert obs.vrn == "KM5678"
            assert obs.source == "camera"
            status = runner.until(lambda s: s["fps_in"] > 0)
            assert status["state"] == "streaming"
            assert status["kind"] == "stream"
            assert status["ok"] is True
            assert status["problem"] == ""
            # the camera goes away: the source says so and keeps trying
            server.stop()
            runner.until(lambda s: s["stream_errors"] >= 1 and s["state"] != "streaming")
            before = source.status()["frames_in"]
            # ... and comes back on the same address: frames flow again
            server = MjpegServer(jpegs, fps=10, port=port).start()
            status = runner.until(
                lambda s: s["frames_in"] > before + 5 and s["state"] == "streaming"
            )
            assert status["reconnects"] >= 1
            # MJPEG over HTTP has no presentation times: said once, nothing dropped as late
            assert (status["presentation_times"], status["stale_frames"]) == ("no", 0)
            assert sum("no presentation times" in m for m in said.messages) == 1
        finally:
            assert runner.stop() < 5
            server.stop()


class FlappingCamera:
    """An MJPEG camera on loopback. While ``flapping`` is set it sends each client a few
    frames and hangs up (a camera that kicks extra clients, a flaky RTSP bridge); once it
    is cleared it streams at 10 fps until it is set again. ``connections``: when each
    client came; ``hangups``: when a steady stream was cut."""

    def __init__(self) -> None:
        self.flapping = threading.Event()
        self.flapping.set()
        self.connections: list[float] = []
        self.hangups: list[float] = []
        self._stop = threading.Event()
        # a gradient: not blank, no plate-like blob, so no OCR is needed
        image = np.zeros((90, 160, 3), np.uint8)
        image[:] = np.linspace(40, 200, 160, dtype=np.uint8)[None, :, None]
        jpeg = cv2.imencode(".jpg", image)[1].tobytes()
        self.part = b"--f\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (
            len(jpeg),
            jpeg,
        )
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/stream.mjpg"

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.connections, self.connections[1:], strict=False)]

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
                pass

            def do_GET(self) -> None:
                camera.connections.append(time.monotonic())
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=f")
                self.end_headers()
                try:
                    if camera.flapping.is_set():
                        # enough for FFmpeg to open the stream and hand over frames
                        self.wfile.write(camera.part * 3)
                        return
                    while not camera._stop.is_set() and not camera.flapping.is_set():
                        self.wfile.write(camera.part)
                        self.wfile.flush()
                        camera._stop.wait(0.1)
                    camera.hangups.append(time.monotonic())
                except OSError:
                    return  # the client went away

        return Handler


def test_a_flapping_stream_is_reopened_with_backoff() -> None:
    camera = FlappingCamera()
    source = CameraSource(
        camera.url, device="cam8", open_timeout=2, read_timeout=1, backoff=(0.05, 0.4)
    )
    runner = Runner(source)
    try:
        # every connection gives frames, then fails: the pauses still double up to the cap
        status = runner.until(lambda s: s["stream_errors"] >= 5)
        assert status["frames_in"] >= 5
        assert status["last_error"] == "camera_stream_lost"
        for gap, pause in zip(camera.gaps(), (0.05, 0.1, 0.2, 0.4), strict=False):
            assert gap >= pause * 0.95, camera.gaps()
        # the camera settles: the stream flows again
        camera.flapping.clear()
        before = source.status()["frames_in"]
        runner.until(lambda s: s["frames_in"] > before + 8 and s["state"] == "streaming")
        # it ran for longer than the longest pause: when it is cut, the shortest pause again
        opened = len(camera.connections)
        camera.flapping.set()
        runner.until(lambda s: len(camera.connections) > opened and len(camera.hangups) == 1)
        assert 0.05 * 0.95 <= camera.connections[opened] - camera.hangups[0] < 0.3
    finally:
        assert runner.stop() < 5
        camera.stop()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A local socket that accepts connections and never says anything."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()


def test_a_url_that_never_answers_times_out_and_retries(silent_server: int) -> None:
    url = f"http://user:secret@127.0.0.1:{silent_server}/stream.mjpg"
    source = CameraSource(
        url, device="cam3", open_timeout=0.5, read_timeout=0.5, backoff=(0.1, 0.3)
    )
    runner = Runner(source)
    try:
        status = runner.until(lambda s: s["stream_errors"] >= 2, timeout=20)
        assert status["state"] in ("connecting", "reconnecting")
        assert status["last_error"] == "camera_open_failed"
        assert status["ok"] is False
        assert "camera_open_failed" in status["problem"]
        assert status["frames_in"] == 0
        assert "secret" not in status["url"]
        assert runner.queue.empty()
    finally:
        assert runner.stop() < 5


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", "camera_file_empty"),
        (b"\x00garbage" * 5000, "camera_open_failed"),
        (None, "camera_file_missing"),
    ],
)
def test_bad_video_files_end_with_a_clear_error(
    tmp_path: Path, content: bytes | None, error: str
) -> None:
    path = tmp_path / "video.mp4"
    if content is not None:
        path.write_bytes(content)
    source = CameraSource(str(path), device="cam4")
    started = time.monotonic()
    assert list(source.observations(threading.Event())) == []
    assert time.monotonic() - started < 10
    status = source.status()
    assert (status["state"], status["last_error"], status["frames_in"]) == ("error", error, 0)


def test_black_frames_are_counted_not_read(tmp_path: Path) -> None:
    path = tmp_path / "black.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(8):
        writer.write(np.zeros((240, 320, 3), np.uint8))
    writer.release()
    source = CameraSource(str(path), device="cam5")
    assert list(source.observations(threading.Event())) == []
    status = source.status()
    assert (status["frames_in"], status["blank_frames"], status["frames_processed"]) == (8, 8, 0)
    assert status["last_error"] == "camera_blank_frame"
    assert status["ok"] is False
    assert "blank frames" in status["problem"]
    assert status["state"] == "ended"


def test_an_ocr_engine_that_cannot_load_ends_the_source_before_any_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Missing models are found when the source starts, not at the first truck; once
    they are back, the next run (the publisher restarts an ended source) streams."""
    path = tmp_path / "black.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(8):
        writer.write(np.zeros((240, 320, 3), np.uint8))
    writer.release()

    def missing() -> Any:
        raise OcrModelMissing("OCR model det.onnx is missing", path="det.onnx")

    monkeypatch.setattr("avrs_adapter.camera.shared_engine", missing)
    source = CameraSource(str(path), device="cam5")
    assert list(source.observations(threading.Event())) == []
    status = source.status()
    assert (status["state"], status["last_error"], status["frames_in"]) == (
        "error",
        "avrs_ocr_model_missing",
        0,
    )
    assert status["ok"] is False
    assert "avrs_ocr_model_missing" in status["problem"]
    fake = object()
    monkeypatch.setattr("avrs_adapter.camera.shared_engine", lambda: fake)
    assert list(source.observations(threading.Event())) == []
    assert (source.status()["state"], source.status()["frames_in"]) == ("ended", 8)
    assert source.load_engine() is fake


def test_a_broken_onnxruntime_is_an_ocr_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Any:
        raise ImportError("libonnxruntime.so: cannot open shared object file")

    monkeypatch.setattr("avrs_adapter.camera.shared_engine", broken)
    with pytest.raises(OcrError) as err:
        CameraSource("a.mp4", device="cam5").load_engine()
    assert err.value.key == "avrs_ocr_unavailable"
    assert "libonnxruntime" in str(err.value)


def test_a_live_feed_keeps_only_the_newest_frame() -> None:
    source = CameraSource("rtsp://127.0.0.1:1/none", device="cam6")
    assert source.realtime
    stop = threading.Event()
    run = _Run()
    for i in range(5):
        source._put(run, np.full((4, 4, 3), i, np.uint8), float(i), 100.0 + i, stop)
    taken = source._take(run, stop)
    assert taken is not None
    assert taken.frame is not None
    assert int(taken.frame[0, 0, 0]) == 4
    assert (taken.video_time, taken.arrival) == (4.0, 104.0)
    assert source.stats.dropped == 4
    assert source._take(run, stop) is None  # nothing newer yet


def test_options_and_urls() -> None:
    with pytest.raises(CameraError) as bad_grammar:
        CameraSource("x.avi", device="c", grammar="klingon")  # type: ignore[arg-type]
    assert bad_grammar.value.key == "avrs_bad_grammar"
    with pytest.raises(CameraError) as empty:
        CameraSource("  ", device="c")
    assert empty.value.key == "avrs_camera_url"
    with pytest.raises(CameraError) as options:
        CameraSource("a.mp4", device="c", backoff=(5.0, 1.0))
    assert options.value.key == "avrs_camera_options"
    assert [
        source_kind(u) for u in ("0", "rtsp://h/x", "http://h/x", "a.mp4", "file:///a.mp4")
    ] == [
        "device",
        "stream",
        "stream",
        "file",
        "file",
    ]
    assert redact("rtsp://admin:pw@10.0.0.1/s") == "rtsp://***@10.0.0.1/s"
    assert not CameraSource("a.mp4", device="c").realtime
    assert CameraSource("a.mp4", device="c", realtime=True).realtime


def test_a_live_camera_shows_the_truck_it_is_told_to_and_nothing_else() -> None:
    """The scenario's camera (rocars-edge up): an empty lane gives no reads; a truck shown
    on demand is read with its Mainland plate."""
    camera = LiveCamera(fps=10, seed=3).start()
    source = CameraSource(camera.url, device="cam7", open_timeout=2, read_timeout=2)
    runner = Runner(source)
    try:
        runner.until(lambda s: s["frames_in"] >= 10)
        assert runner.queue.empty()  # nothing drives past: nothing is read
        seconds = camera.show(Truck("KM 5678", "粤Z·F023港", view="rear"))
        seen: set[str] = set()
        deadline = time.monotonic() + seconds + 20
        while not {"KM5678", "粤ZF023港"} <= seen and time.monotonic() < deadline:
            try:
                obs = runner.queue.get(timeout=1)
            except queue.Empty:
                continue
            seen |= {obs.vrn} | {vrn for vrn, _ in obs.alternates}
        assert "KM5678" in seen
        assert seen <= {"KM5678", "粤ZF023港"}  # nothing made up
    finally:
        runner.stop()
        camera.stop()


AB = PlateText("AB1234", "AB 1234", "hk", 0.9)
KL = PlateText("KL9876", "KL 9876", "hk", 0.6)
MAINLAND = PlateText("粤ZF023港", "粤Z·F023港", "mainland", 0.8)


def spell(source: CameraSource, now: float, *plates: PlateText) -> list[Observation]:
    """One spell of motion in which one frame reads ``plates``, then the lane is still."""
    source._event = _Event(started=now, last_motion=now)
    return [*source._observe(list(plates), now), *source._end_event(force=True)]


def test_a_plate_read_only_as_another_plates_alternate_is_still_reported() -> None:
    source = CameraSource("a.mp4", device="cam9")
    # the next truck's plate among the readings of a frame of the truck before
    (first,) = spell(source, 1.0, AB, KL)
    assert (first.vrn, first.alternates) == ("AB1234", (("KL9876", 0.6),))
    # ... is a new truck when it is read as the plate, in later spells of motion
    (second,) = spell(source, 5.0, KL)
    assert second.vrn == "KL9876"
    assert spell(source, 9.0, KL) == []  # now reported: a repeat
    assert spell(source, 10.0, AB) == []
    assert source.stats.repeats_suppressed == 2


def test_the_mainland_plate_of_a_reported_truck_is_not_a_new_truck() -> None:
    source = CameraSource("a.mp4", device="cam9")
    (first,) = spell(source, 1.0, AB, MAINLAND)
    assert first.alternates == (("粤ZF023港", 0.8),)
    # the truck creeps forward: only its Mainland plate is read
    assert spell(source, 5.0, MAINLAND) == []
    assert source.stats.repeats_suppressed == 1
    # a Mainland plate never paired with a reported plate is reported on its own
    other = PlateText("粤ZA123港", "粤Z·A123港", "mainland", 0.8)
    assert [o.vrn for o in spell(source, 9.0, other)] == ["粤ZA123港"]


def test_a_pairing_not_seen_for_a_while_is_forgotten() -> None:
    source = CameraSource("a.mp4", device="cam9", repeat_suppress=0)
    (first,) = spell(source, 1.0, AB, MAINLAND)
    assert first.alternates == (("粤ZF023港", 0.8),)
    # within pair_keep of the last time the HK plate was read, it rides along
    (again,) = spell(source, 1.0 + source.pair_keep - 1, AB)
    assert again.alternates == (("粤ZF023港", 0.8),)
    (later,) = spell(source, 1.0 + 2 * source.pair_keep - 2, AB)
    assert later.alternates == (("粤ZF023港", 0.8),)
    # not read for longer than pair_keep: the truck back later carries no old pairing
    (back,) = spell(source, 1.0 + 3 * source.pair_keep, AB)
    assert back.alternates == ()


# -- a truck standing at the booth, restarts, the plate held while the lane is still ----

SMALL = (640, 360)


def observed_at_frames(source: CameraSource) -> list[tuple[int, Observation]]:
    """A whole run of ``source``, each observation with the frames the grabber had got
    by then (a frame or two ahead of the one read, never more)."""
    return [(source.stats.frames_in, obs) for obs in source.observations(threading.Event())]


def test_a_truck_standing_longer_than_the_repeat_window_is_not_reported_again(
    tmp_path: Path,
) -> None:
    """Plates are read only while something moves. A truck that stands still for longer
    than ``repeat_suppress`` (its session timed out) and then drives off is the same
    truck: a second PlateRead would open another session and put its instruction in
    front of the next truck."""
    stand = Pass(TRUCKS[2], approach=8, dwell=40, leave=8, gap=6)
    path = tmp_path / "stand.avi"
    write_video(path, [stand], size=SMALL, fps=20, seed=2)
    # real time, 20 fps: it stands for 2 s, four times the repeat window
    source = CameraSource(str(path), device="cam1", realtime=True, repeat_suppress=0.5)
    seen = observed_at_frames(source)
    drives_off = 4 + stand.approach + stand.dwell  # frames before it moves again
    assert {obs.vrn for _, obs in seen} == {"KM5678"}
    assert all(frames_in <= drives_off for frames_in, _ in seen), [n for n, _ in seen]
    assert source.stats.repeats_suppressed >= 1  # read again as it drove off: not new


def test_a_restarted_source_does_not_report_the_truck_still_standing_there(
    tmp_path: Path,
) -> None:
    """The first frame after a restart (or a reconnect) is not motion while a plate is
    held: the truck standing there has not moved, however long the camera was away."""
    path = tmp_path / "lane.avi"
    # the truck drives in and stands; the camera goes away with it standing there
    write_video(path, [Pass(TRUCKS[2], approach=8, dwell=10, leave=0, gap=0)], size=SMALL, fps=20)
    source = CameraSource(str(path), device="cam1", realtime=True, repeat_suppress=0.5)
    assert {o.vrn for o in source.observations(threading.Event())} == {"KM5678"}
    time.sleep(0.6)  # away for longer than the repeat window
    # back (the publisher restarts the source): the truck still stands, then drives off
    back = Pass(TRUCKS[2], approach=0, dwell=10, leave=8, gap=6)
    write_video(path, [back], size=SMALL, fps=20, seed=3, lead_in=0)
    assert list(source.observations(threading.Event())) == []
    assert source.stats.repeats_suppressed >= 1


def test_the_plate_last_reported_is_held_while_the_lane_is_still() -> None:
    source = CameraSource("a.mp4", device="cam9", hold_still=300.0)
    (first,) = spell(source, 1.0, AB)
    assert first.vrn == "AB1234"
    for t in range(2, 200):  # the truck stands: frame after frame, nothing moves
        source._hold_still(float(t))
    assert spell(source, 200.0, AB) == []  # it drives off 199 s later: not a new truck
    # not read for longer than hold_still: no longer held (it may have left unseen)
    for t in range(201, 600):
        source._hold_still(float(t))
    (back,) = spell(source, 600.0, AB)
    assert back.vrn == "AB1234"
    # another plate reported: the one before is no longer in front of the camera
    (other,) = spell(source, 630.0, KL)
    assert other.vrn == "KL9876"
    for t in range(631, 800):
        source._hold_still(float(t))
    assert [o.vrn for o in spell(source, 800.0, AB)] == ["AB1234"]
    assert spell(source, 801.0, KL) == []
    assert source.stats.repeats_suppressed == 2


def test_a_looped_file_is_read_on_every_pass(tmp_path: Path) -> None:
    """The video time keeps rising from pass to pass (``--loop``): frame skipping and
    the motion gate work on the second pass as on the first."""
    path = tmp_path / "loop.avi"
    one = Pass(TRUCKS[2], approach=10, dwell=5, leave=8, gap=10)
    n = write_video(path, [one], size=SMALL, fps=10, seed=2)

    def passes(repeat_suppress: float) -> tuple[list[int], dict[str, Any]]:
        source = CameraSource(str(path), device="cam1", loop=True, repeat_suppress=repeat_suppress)
        stop = threading.Event()
        seen: list[int] = []

        def run() -> None:
            for obs in source.observations(stop):
                assert obs.vrn == "KM5678"
                seen.append((source.stats.frames_in - 1) // n)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while source.stats.frames_in < 3 * n and time.monotonic() < deadline:
            stop.wait(0.01)
        stop.set()
        thread.join(10)
        return seen, source.status()

    seen, status = passes(0.0)
    assert {0, 1, 2} <= set(seen)
    assert status["frames_processed"] >= 3 * n - 1
    # with the repeat window, the trucks of a recording played again are not new
    seen, status = passes(60.0)
    assert set(seen) == {0}
    assert status["repeats_suppressed"] >= 2


# -- pairing ------------------------------------------------------------------------------


def test_the_mainland_plate_of_the_truck_before_is_not_the_next_trucks() -> None:
    """The next truck comes in as the one before drives off: a frame reads its HK plate
    and the Mainland plate of the truck before, already paired with that one."""
    source = CameraSource("a.mp4", device="cam9")
    (first,) = spell(source, 1.0, AB, MAINLAND)
    assert first.alternates == (("粤ZF023港", 0.8),)
    source._event = _Event(started=20.0, last_motion=20.0)
    both = list(source._observe([KL, MAINLAND], 20.0))
    later = [*source._observe([KL], 20.2), *source._observe([KL], 20.4)]
    assert [(o.vrn, o.alternates) for o in both + later] == [("KL9876", ())] * 3
    assert "KL9876" not in source._pairs
    assert source._pairs["AB1234"][0] == MAINLAND  # still the first truck's
    # a Mainland plate no other truck has is paired with the HK plate read with it
    other = PlateText("粤ZA123港", "粤Z·A123港", "mainland", 0.8)
    (third,) = spell(source, 40.0, PlateText("XY98", "XY 98", "hk", 0.9), other)
    assert third.alternates == (("粤ZA123港", 0.8),)


def test_a_truck_standing_for_minutes_keeps_its_mainland_plate() -> None:
    """Truck A (both plates read) stands at the booth for five minutes, then drives off
    read by its Mainland plate only, as B comes in. Its pairing lapsed a minute after
    its HK plate was last read, however long it was held: its Mainland plate was then
    nobody's, and went to B's HK plate (or came back as a truck of its own)."""
    source = CameraSource("a.mp4", device="cam9")
    (first,) = spell(source, 1.0, AB, MAINLAND)
    assert first.alternates == (("粤ZF023港", 0.8),)
    for t in range(2, 300):  # it stands: nothing moves
        source._hold_still(float(t))
    source._event = _Event(started=300.0, last_motion=300.0)
    assert list(source._observe([MAINLAND], 300.0)) == []  # A driving off: not new
    out = [*source._observe([KL], 300.5), *source._observe([KL, MAINLAND], 300.8)]
    assert [(o.vrn, o.alternates) for o in out] == [("KL9876", ())] * 2
    assert list(source._end_event(force=True)) == []


# -- frames that cannot be read, OCR that fails ---------------------------------------------


class FramesCapture:
    """Stands in for ``cv2.VideoCapture`` where no video OpenCV can decode gives such
    frames (a V4L2 camera in GREY or a BGRA/16-bit pipeline does): it hands out the given
    (real, synthetic) frames, one each ``period`` seconds, and ends. ``hang_at``: that
    read blocks until ``release`` is set (a driver or FFmpeg read that ignores its
    timeout), then fails."""

    opened: set[int] = set()

    def __init__(
        self, frames_: list[np.ndarray], *, period: float = 0.0, hang_at: int = -1
    ) -> None:
        self.frames = frames_
        self.period = period
        self.index = 0
        self.hang_at = hang_at
        self.release_ = threading.Event()
        self.hanging = threading.Event()
        FramesCapture.opened.add(id(self))

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return True

    def get(self, prop: int) -> float:
        return 10.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.index == self.hang_at:
            self.hanging.set()
            self.release_.wait(30)
            return False, None
        time.sleep(self.period)
        if self.index >= len(self.frames):
            return False, None
        self.index += 1
        return True, self.frames[self.index - 1]

    def release(self) -> None:
        FramesCapture.opened.discard(id(self))


@pytest.mark.parametrize(
    "convert",
    [
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY),
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)[:, :, None],
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2BGRA),
    ],
    ids=["grey", "grey-1-channel", "bgra"],
)
def test_grey_and_bgra_frames_are_read(
    convert: Callable[[np.ndarray], np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = [convert(f) for f in _short_stream_frames()]
    source = CameraSource("x.avi", device="cam12")
    monkeypatch.setattr(source, "_open", lambda: FramesCapture(shown))
    assert {o.vrn for o in source.observations(threading.Event())} == {"KM5678"}
    status = source.status()
    assert (status["state"], status["bad_frames"], status["frames_in"]) == ("ended", 0, len(shown))


def test_frames_that_cannot_be_read_are_counted_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frames_ = _short_stream_frames()
    shown = [f.astype(np.uint16) * 256 for f in frames_[:3]] + [
        f.astype(np.float32) for f in frames_[3:6]
    ]
    source = CameraSource("x.avi", device="cam12")
    monkeypatch.setattr(source, "_open", lambda: FramesCapture(shown))
    with said_by("avrs_adapter.camera") as said:
        assert list(source.observations(threading.Event())) == []
    status = source.status()
    assert (status["bad_frames"], status["frames_processed"]) == (6, 0)
    assert status["last_error"] == "camera_bad_frame"
    assert status["ok"] is False
    assert "cannot be read (6 in a row)" in status["problem"]
    assert sum("cannot be read" in m for m in said.messages) == 1  # said once


class FailingOcr:
    """The real OCR engine, except that recognising fails ``failures`` times first (an
    onnxruntime error on one frame)."""

    def __init__(self, failures: int) -> None:
        self.real = shared_ocr_engine()
        self.failures = failures

    def recognise(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status")
        return self.real.recognise(crops)

    def read(self, image: np.ndarray, det_side: int | None = None) -> Any:
        return self.real.read(image, det_side=det_side)


def test_an_ocr_error_on_a_frame_costs_that_frame_only(video: Path) -> None:
    source = CameraSource(str(video), device="cam1", engine=FailingOcr(1))  # type: ignore[arg-type]
    with said_by("avrs_adapter.camera") as said:
        observed = list(source.observations(threading.Event()))
    assert list(dict.fromkeys(o.vrn for o in observed)) == ["AB1234", "XY98", "KM5678"]
    status = source.status()
    assert (status["state"], status["ocr_errors"], status["ok"]) == ("ended", 1, True)
    assert status["last_error"] == "avrs_ocr_error"
    assert [r.exc_info is not None for r in said.records if "reading plates" in r.getMessage()] == [
        True
    ]


def test_ocr_that_keeps_failing_is_unhealthy_and_logged_now_and_then(video: Path) -> None:
    source = CameraSource(str(video), device="cam1", engine=FailingOcr(10_000))  # type: ignore[arg-type]
    with said_by("avrs_adapter.camera") as said:
        assert list(source.observations(threading.Event())) == []
    status = source.status()
    assert status["ocr_errors"] >= 5
    assert status["ok"] is False
    assert "OCR failing" in status["problem"]
    assert sum("reading plates" in m for m in said.messages) == 1


# -- one grabber per run --------------------------------------------------------------------


def test_a_grabber_stuck_in_a_read_neither_feeds_nor_ends_the_next_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run ends while its grabber hangs in a read for longer than the run waits for it
    (the publisher then starts the source again). When the read returns, that grabber
    stops: no second capture beside the new run's, and the new run goes on."""
    shown = _short_stream_frames()
    captures = [
        FramesCapture(shown, period=0.05, hang_at=len(shown) - 2),
        FramesCapture(shown * 100, period=0.05),
    ]
    opened = iter(captures)
    source = CameraSource(
        "http://cam/stream.mjpg", device="cam13", open_timeout=0.2, read_timeout=0.2
    )
    monkeypatch.setattr(source, "_open", lambda: next(opened, None))
    stop = threading.Event()  # the publisher's: not set between runs
    first = source.observations(stop)
    assert isinstance(first, Generator)
    assert next(first).vrn == "KM5678"
    assert captures[0].hanging.wait(10)
    started = time.monotonic()
    first.close()  # the run ends; its grabber is still in the read
    assert time.monotonic() - started < 2
    runner = Runner.__new__(Runner)  # the next run, on the same stop event
    runner.source, runner.stop_event, runner.queue = source, stop, queue.Queue()
    runner.thread = threading.Thread(target=runner._run, daemon=True)
    runner.thread.start()
    try:
        runner.until(lambda s: s["frames_in"] > len(shown) + 5)
        captures[0].release_.set()  # the hung read returns (and fails)
        time.sleep(1.0)  # longer than the backoff: a grabber that carried on reconnects
        grabbers = [t for t in threading.enumerate() if t.name == "camera-grab-cam13"]
        assert len(grabbers) == 1
        assert FramesCapture.opened & {id(c) for c in captures} == {id(captures[1])}
        assert runner.thread.is_alive()  # the old grabber's end did not end this run
        assert source.status()["state"] == "streaming"
    finally:
        captures[0].release_.set()
        runner.stop()


# -- the ROI ---------------------------------------------------------------------------------


def test_the_roi_limits_the_motion_gate_and_the_plate_finder(tmp_path: Path) -> None:
    path = tmp_path / "one.avi"
    write_video(path, [Pass(TRUCKS[0], approach=8, dwell=4, leave=4, gap=4)], size=SMALL, seed=2)
    # the right edge of the lane: the truck never goes there, only the lane markings
    aside = CameraSource(str(path), device="cam14", roi=(520, 0, 120, 360))
    assert list(aside.observations(threading.Event())) == []
    status = aside.status()
    assert status["frames_gated"] >= status["frames_processed"] - 1  # the first is looked at
    assert status["frames_ocr"] == 0
    # around the stop line: the truck is read, its Mainland plate too
    stop_line = CameraSource(str(path), device="cam14", roi=(130, 80, 380, 200))
    observed = list(stop_line.observations(threading.Event()))
    assert {o.vrn for o in observed} == {"AB1234"}
    assert any("粤ZF023港" in dict(o.alternates) for o in observed)


def test_a_roi_outside_the_frame_is_a_clear_error(video: Path) -> None:
    source = CameraSource(str(video), device="cam14", roi=(800, 0, 200, 540))  # 960 wide
    with said_by("avrs_adapter.camera") as said:
        assert list(source.observations(threading.Event())) == []
    status = source.status()
    assert (status["state"], status["last_error"], status["ok"]) == (
        "error",
        "camera_roi_outside",
        False,
    )
    assert any("800,0,200,540" in m and "960x540" in m for m in said.messages)


@pytest.mark.parametrize("roi", [(0, 0, 0, 10), (-1, 0, 10, 10), (0, 0, 10), (0, 0, 1.5, 2)])
def test_a_bad_roi_is_refused(roi: Any) -> None:
    with pytest.raises(CameraError) as err:
        CameraSource("a.mp4", device="c", roi=roi)
    assert err.value.key == "avrs_bad_roi"


# -- a frozen picture -------------------------------------------------------------------------


def test_a_frozen_picture_is_unhealthy_until_it_changes() -> None:
    """A hung encoder keeps sending its last image: the stream is alive, the picture
    is not. A camera's sensor noise changes every frame, even of an empty lane."""
    still = encode_jpeg(frames([], SMALL, lead_in=1).__next__())
    noisy = [encode_jpeg(f) for f in frames([], SMALL, lead_in=12)]
    server = MjpegServer([still] * 20 + noisy, fps=10).start()
    source = CameraSource(server.url, device="cam15", frozen_after=0.8)
    runner = Runner(source)
    try:
        status = runner.until(lambda s: "camera picture frozen" in s["problem"])
        assert (status["state"], status["ok"], status["frozen"]) == ("streaming", False, True)
        publisher = AvrsPublisher(source, cp="SBC", lane="L01", broker_url="mqtt://127.0.0.1:1")
        published = publisher.status()
        assert "camera picture frozen" in published.detail
        assert published.metrics["healthy"] == 0
        status = runner.until(lambda s: s["ok"])  # the picture changes again
        assert status["frozen"] is False
    finally:
        runner.stop()
        server.stop()


# -- when a frame was taken: arrival times and RTSP presentation times -------------------


def test_a_sighting_is_dated_when_its_frame_came_not_when_it_was_reported(
    tmp_path: Path,
) -> None:
    """An unread is reported once the lane has been still for ``quiet_after``; it is
    dated by the last frame that showed the vehicle moving."""
    path = tmp_path / "plateless.avi"
    plateless = Pass(Truck("", view="front"), approach=8, dwell=2, leave=6, gap=24)
    write_video(path, [plateless], size=SMALL, fps=20, seed=2)
    source = CameraSource(str(path), device="cam16", realtime=True, report_unread=True)
    seen = [(time.monotonic(), obs) for obs in source.observations(threading.Event())]
    assert [obs.vrn for _, obs in seen] == [""]
    ((reported_at, unread),) = seen
    assert reported_at - unread.at >= 0.8 * source.quiet_after


def test_lag_watch_tells_frames_that_come_late() -> None:
    watch = _LagWatch()
    # FFmpeg gives an RTSP stream's first two frames the time 0; then 10 fps, on time
    assert [watch.lateness(100.0 + i * 0.1, max(0, i - 1) * 100.0) for i in range(12)] == [
        None
    ] * 12
    assert watch.usable is True
    assert watch.lateness(101.2, 1100.0) == pytest.approx(0.0, abs=1e-9)
    late = watch.lateness(104.0, 1200.0)  # it waited 2.7 s somewhere
    assert late is not None
    assert late > 1.0
    assert watch.lateness(104.1, 0.0) == 0.0  # the camera's clock went back: start again
    assert watch.lateness(104.2, 100.0) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("times", "why"),
    [([0.0] * 60, "all 0"), ([float(i // 2) * 40 for i in range(60)], "do not keep rising")],
)
def test_presentation_times_that_do_not_rise_are_not_used(times: list[float], why: str) -> None:
    watch = _LagWatch()
    assert all(watch.lateness(100.0 + i * 0.1, t) is None for i, t in enumerate(times))
    assert watch.usable is False
    assert why in watch.why


def rtsp_frames(*parts: tuple[Truck | None, int]) -> list[np.ndarray]:
    """Frames of the lane: ``(truck, n)`` is a pass of a truck in ``n`` frames, ``(None,
    n)`` n frames of the empty lane."""
    out: list[np.ndarray] = []
    for truck, n in parts:
        if truck is None:
            out += list(frames([], SMALL, lead_in=n))
        else:
            one = Pass(truck, approach=n // 2, dwell=n // 4, leave=n - n // 2 - n // 4, gap=0)
            out += list(frames([one], SMALL, lead_in=0))
    return out


def test_rtsp_frames_held_up_on_the_way_are_dropped() -> None:
    """The link stalls while a truck comes and goes, then delivers the frames it held
    at once: the truck is gone by then, and reading it now would put its instruction in
    front of whoever is there. The next truck, on time, is read."""
    shown = rtsp_frames((None, 40), (TRUCKS[2], 20), (None, 40), (TRUCKS[1], 20), (None, 10))
    camera = RtspCamera.from_frames(shown, fps=25, loop=False, stall=(40, 2.0)).start()
    source = CameraSource(camera.url, device="cam17", stale_bound=1.0, read_timeout=4)
    runner = Runner(source)
    try:
        status = runner.until(lambda s: s["frames_in"] >= len(shown) - 2)
        seen = set()
        while not runner.queue.empty():
            seen.add(runner.queue.get().vrn)
        assert seen == {"XY98"}
        assert status["presentation_times"] == "yes"
        assert status["stale_frames"] >= 20  # the truck's frames and those after it
        assert status["reconnects"] == 0  # the backlog drained: no reason to reconnect
    finally:
        runner.stop()
        camera.stop()


def test_an_rtsp_stream_that_keeps_falling_behind_is_reopened() -> None:
    """A link slower than the stream that queues: every frame later than the one
    before. Past the bound for a while, the stream is opened again (its backlog
    dropped) instead of showing the lane as it was ever longer ago."""
    shown = rtsp_frames((None, 30))
    camera = RtspCamera.from_frames(shown, fps=50, link_fps=20).start()
    source = CameraSource(camera.url, device="cam18", stale_bound=0.5, stale_reconnect=0.5)
    runner = Runner(source)
    try:
        status = runner.until(lambda s: s["reconnects"] >= 1 and s["stale_frames"] > 0)
        assert status["last_error"] == "camera_stream_stale"
        assert len(camera.connections) >= 2
    finally:
        runner.stop()
        camera.stop()
