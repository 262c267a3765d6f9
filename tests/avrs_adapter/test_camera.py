"""The camera source on real inputs: a generated video, an MJPEG stream over loopback,
and the inputs that go wrong (0-byte and corrupt files, black frames, a silent URL)."""

from __future__ import annotations

import collections
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from avrs_adapter.aggregator import Aggregator
from avrs_adapter.camera import CameraError, CameraSource, _Event, redact, source_kind
from avrs_adapter.grammar import PlateText
from avrs_adapter.observation import Observation
from avrs_adapter.ocr import OcrError, OcrModelMissing
from avrs_adapter.publisher import AvrsPublisher
from hardware_sim.synthetic_camera import (
    LiveCamera,
    MjpegServer,
    Pass,
    Truck,
    frames,
    write_video,
)
from rocars.bus import Bus
from rocars.messages import PlateRead, parse
from rocars.topics import plate_topic
from tests.fixtures.brokers import Mosquitto

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
    source = CameraSource(
        server.url, device="cam2", open_timeout=2, read_timeout=1, backoff=(0.1, 0.5)
    )
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
        status = runner.until(lambda s: s["frames_in"] > before + 5 and s["state"] == "streaming")
        assert status["reconnects"] >= 1
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
    for i in range(5):
        source._put(np.full((4, 4, 3), i, np.uint8), float(i), stop)
    taken = source._take(stop)
    assert taken is not None
    assert int(taken[0][0, 0, 0]) == 4
    assert taken[1] == 4.0
    assert source.stats.dropped == 4
    assert source._take(stop) is None  # nothing newer yet


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
