"""The drop-box sensor: line protocol, debounce, and a real pty with chatter and unplug."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from aiop_panel import dropbox
from aiop_panel.dropbox import (
    GARBLED_BYTES,
    Debouncer,
    DropBoxError,
    DropBoxSensor,
    Reading,
    SensorClock,
    parse_line,
)
from aiop_panel.panel import PanelConfig
from hardware_sim.dropbox import DropBoxSimError, SimulatedDropBox
from rocars.messages import ManifestDropped
from tests.fixtures.logs import said_by


@pytest.mark.parametrize(
    ("raw", "reading"),
    [
        (b"C1", Reading(True)),
        (b"C0", Reading(False)),
        (b" c1\r", Reading(True)),
        (b"C0\r", Reading(False)),
        (b"C1 12345", Reading(True, 12345)),
        (b"C0 0\r", Reading(False, 0)),
        (b"C1 4294967296", None),
        (b"C1 -5", None),
        (b"C1 12 13", None),
        (b"C1 x", None),
        (b"C2", None),
        (b"", None),
        (b"\xff\xfeC1", None),
        (b"C1" + b" " * 40, None),
        (b"hello", None),
    ],
)
def test_parse_line(raw: bytes, reading: Reading | None) -> None:
    assert parse_line(raw) == reading


def test_sensor_clock_says_when_the_counter_goes_back() -> None:
    clock = SensorClock()
    assert not clock.observe(1000)
    assert not clock.observe(2600)
    assert clock.observe(5)  # wrapped, or the sensor rebooted: start again
    assert not clock.observe(6)


def test_a_closure_must_last_and_counts_when_the_flap_opens() -> None:
    d = Debouncer(min_closed_ms=50, refractory_ms=1000)
    assert not d.feed(True, 0.000)
    assert not d.feed(False, 0.049)  # 49 ms: a brush
    assert not d.feed(True, 2.000)
    assert d.feed(False, 2.050)  # 50 ms: a drop, counted as the flap opens
    assert not d.feed(False, 2.200)  # an open line again: nothing


def test_short_blips_are_not_drops() -> None:
    d = Debouncer(min_closed_ms=50, refractory_ms=0)
    t = 0.0
    for _ in range(20):
        assert not d.feed(True, t)
        t += 0.01
        assert not d.feed(False, t)
        t += 0.01


def test_chatter_inside_the_window_is_one_drop() -> None:
    d = Debouncer(min_closed_ms=50, refractory_ms=1000)
    drops = 0
    t = 0.0
    # bounce, then a real closure, then bounces long enough to count on their own
    for closed, dt in [
        (True, 0.002),
        (False, 0.002),
        (True, 0.002),
        (False, 0.002),
        (True, 0.1),
        (False, 0.01),
        (True, 0.08),
        (False, 0.01),
        (True, 0.08),
        (False, 0.0),
    ]:
        drops += d.feed(closed, t)
        t += dt
    assert drops == 1
    # a second manifest after the window is a second drop
    t += 1.2
    drops += d.feed(True, t)
    drops += d.feed(False, t + 0.06)
    assert drops == 2


def test_a_long_closure_then_a_bounce_is_one_drop() -> None:
    """The refractory time runs from when the flap opens, not from when it closed."""
    d = Debouncer(min_closed_ms=60, refractory_ms=1500)
    drops = d.feed(True, 0.0)  # the manifest holds the flap closed 2 s
    drops += d.feed(False, 2.0)
    drops += d.feed(True, 2.05)  # it bounces closed for longer than min_closed
    drops += d.feed(False, 2.3)
    drops += d.feed(True, 3.5)  # and again, 1.2 s later: still within 1.5 s of opening
    drops += d.feed(False, 3.7)
    assert drops == 1


def test_two_drops_apart_by_more_than_the_refractory_time_are_two() -> None:
    d = Debouncer(min_closed_ms=60, refractory_ms=1500)
    drops = d.feed(True, 0.0) + d.feed(False, 2.0)  # a long closure
    drops += d.feed(True, 3.6) + d.feed(False, 3.8)  # open 1.6 s: a new one
    drops += d.feed(True, 5.4) + d.feed(False, 5.6)  # and a third
    assert drops == 3


def test_a_lost_c0_is_logged_and_neither_closure_counted() -> None:
    """Truck A's C0 is lost to noise: truck B's C1 finds the contact closed. Which it is
    (a lost C0, a stuck flap, a sensor repeating itself) cannot be told, so neither is
    counted (the lane times the truck out to STOP: never a release on a doubt), said
    once; truck C, after a C0, is counted again."""
    d = Debouncer(min_closed_ms=60, refractory_ms=1500)
    with said_by("aiop_panel.dropbox", logging.WARNING) as said:
        drops = d.feed(True, 0.0)  # truck A; its C0 never comes
        drops += d.feed(True, 60.0) + d.feed(True, 61.9)  # truck B
        drops += d.feed(False, 62.0)
        assert drops == 0
        assert len(said.records) == 1
        assert "a C0 was lost" in said.messages[0]
        drops += d.feed(True, 120.0) + d.feed(False, 120.2)  # truck C
    assert drops == 1
    assert len(said.records) == 1


def test_a_jam_freed_late_is_not_the_next_trucks_drop() -> None:
    """Truck A's manifest jams in the flap; A times out to STOP, truck B is asked for its
    manifest, and the jam is cleared: counted on that C0, B was released without
    dropping anything. A closure longer than max_closed is a jam, not a drop."""
    d = Debouncer(min_closed_ms=60, refractory_ms=1500, max_closed_ms=5000)
    with said_by("aiop_panel.dropbox", logging.WARNING) as said:
        assert not d.feed(True, 0.0)
        assert not d.feed(False, 80.0)
    assert "a jam freed" in said.messages[0]
    assert not d.feed(True, 80.5) + d.feed(False, 80.6)  # its bounce: the same jam
    assert d.feed(True, 90.0) + d.feed(False, 90.2) == 1  # B's own drop
    # held closed up to the bound, it still counts when it opens
    held = Debouncer(max_closed_ms=5000)
    assert not held.feed(True, 0.0)
    assert held.feed(False, 4.9)


def test_a_c1_said_again_with_its_stamp_changes_nothing() -> None:
    """A sensor that sends its C1 twice (the same stamp): the same closure, counted."""
    d = Debouncer(min_closed_ms=60, refractory_ms=1500)
    with said_by("aiop_panel.dropbox", logging.WARNING) as said:
        assert not d.feed(True, 1.000) + d.feed(True, 1.000)
        assert d.feed(False, 1.150)
    assert said.records == []


def test_a_brush_whose_c0_turned_into_c1_is_not_a_drop() -> None:
    """No parity on the line: one bit turns a brush's ``C0`` (0x30) into ``C1`` (0x31).
    Counted once the closure had lasted, the brush released the truck without its
    manifest."""
    d = Debouncer(min_closed_ms=60, refractory_ms=1500)
    with said_by("aiop_panel.dropbox", logging.WARNING):
        assert not d.feed(True, 1.000)
        assert not d.feed(True, 1.003)  # its C0, one bit off
        assert not d.feed(False, 9.0)  # the flap opens at the next truck's drop: doubtful
    assert d.feed(True, 20.0) + d.feed(False, 20.1) == 1


def test_closure_seen_only_at_open_still_counts() -> None:
    d = Debouncer(min_closed_ms=50, refractory_ms=0)
    d.feed(True, 0.0)
    assert d.feed(False, 0.2)


class ChunkPort:
    """What ``port.read`` returns, one chunk a call; stops the reader when they run out."""

    def __init__(self, sensor: DropBoxSensor, chunks: list[bytes]) -> None:
        self.sensor, self.chunks = sensor, list(chunks)

    def read(self, size: int) -> bytes:
        if not self.chunks:
            self.sensor._stop.set()
            return b""
        return self.chunks.pop(0)


def test_the_tail_of_an_over_long_line_is_noise_too() -> None:
    drops: list[ManifestDropped] = []
    reader = DropBoxSensor("/dev/null", drops.append, min_closed_ms=60, refractory_ms=0)
    # one noise line over 32 bytes, in three reads; its tail looks like a closure
    chunks = [b"Z" * 40, b"Z" * 40, b" C1 1000\nC0 1100\n", b"C1 5000\nC0 5100\n"]
    reader._read(ChunkPort(reader, chunks))  # type: ignore[arg-type]
    assert len(drops) == 1  # the real drop after it, not the tail
    assert reader.noise == 1  # one line of noise, counted once


class ScriptedPort:
    """Reads at set times, ``(monotonic s, bytes)``, with the module's clock set to each
    (an empty read: the port's timeout, a poll); stops the reader when they run out."""

    def __init__(self, sensor: DropBoxSensor, script: list[tuple[float, bytes]]) -> None:
        self.sensor, self.script, self.now = sensor, list(script), 0.0

    def monotonic(self) -> float:
        return self.now

    def read(self, size: int) -> bytes:
        if not self.script:
            self.sensor._stop.set()
            return b""
        self.now, data = self.script.pop(0)
        return data


def test_a_brush_whose_c0_is_garbled_is_not_a_drop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3 ms brush of the flap whose ``C0`` line is lost to noise (garbled, or its stamp
    or its word one bit off): the reader polls on with the contact closed, and the
    closure was counted once 60 ms had passed here, releasing the truck without its
    manifest. Counted on its ``C0`` only, it is not; a real drop is, however late its
    ``C0`` line comes, and however slow the sensor's counter runs (200 ppm)."""
    rate = 1 - 200e-6

    def line(host_s: float, word: str, delay: float = 0.012) -> tuple[float, bytes]:
        return host_s + delay, f"{word} {int(host_s * rate * 1000)}\r\n".encode()

    script = [line(0.0, "C1"), line(0.150, "C0")]  # a drop
    # an hour later a 3 ms brush, its C0 garbled, polls in between, then its C0 again
    script += [line(3600.0, "C1"), (3600.02, b"C\xb00 3599283\r\n"), (3600.05, b"")]
    script += [(3600.2, b""), (3601.0, b"")]
    # a brush whose C0 became a C1 (one bit), then the flap opens long after
    script += [line(3650.0, "C1"), line(3650.003, "C1"), (3650.2, b""), line(3660.0, "C0")]
    # and a real drop, 150 ms, its C0 line 2 s late: counted when it comes
    script += [line(3700.0, "C1"), (3700.1, b""), (3701.0, b"")]
    script += [line(3700.150, "C0", delay=2.0)]
    drops: list[ManifestDropped] = []
    reader = DropBoxSensor("/dev/null", drops.append, min_closed_ms=60, refractory_ms=1500)
    port = ScriptedPort(reader, script)
    monkeypatch.setattr(dropbox, "time", port)
    with said_by("aiop_panel.dropbox", logging.WARNING):
        reader._read(port)  # type: ignore[arg-type]
    assert reader.drops == 2
    assert len(drops) == 2
    assert reader.noise == 1


def test_a_line_of_only_noise_makes_the_sensor_unhealthy_until_it_reports() -> None:
    told: list[bool] = []
    reader = DropBoxSensor("/dev/null", lambda _: None)
    reader._on_status = lambda: told.append(reader.garbled)
    reader.connected.set()
    with said_by("aiop_panel.dropbox", logging.WARNING) as said:
        # a wrong baud rate: bytes, some newlines, nothing that parses
        chunks = [b"\x8f\x13\xfe\n\x00" * 4] * (GARBLED_BYTES // 20 + 1) + [b"\nC1 10\nC0 200\n"]
        reader._read(ChunkPort(reader, chunks))  # type: ignore[arg-type]
    assert told == [True, False, False]  # noise; a report again; then the drop's counts
    assert reader.healthy
    assert [r.getMessage() for r in said.records if "only noise" in r.getMessage()] != []
    assert reader.drops == 1


def test_a_port_that_cannot_be_opened_is_said_at_once(tmp_path: Path) -> None:
    reader = DropBoxSensor(str(tmp_path / "nothing"), lambda _: None, max_backoff=0.05)
    with said_by("aiop_panel.dropbox", logging.WARNING) as said:
        reader.start()
        try:
            deadline = time.monotonic() + 5
            while not said.records and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.3)  # several retries more: said once, not at every one
        finally:
            reader.stop()
    assert len(said.records) == 1
    assert "cannot be opened" in said.messages[0]
    assert not reader.healthy


def test_bad_settings() -> None:
    with pytest.raises(DropBoxError):
        Debouncer(min_closed_ms=0)
    with pytest.raises(DropBoxError):
        Debouncer(min_closed_ms=60, max_closed_ms=60)
    with pytest.raises(ValidationError, match="dropbox_max_closed_ms must be more"):
        PanelConfig(cp="SBC", lane="L01", dropbox_min_closed_ms=5000, dropbox_max_closed_ms=5000)
    with pytest.raises(DropBoxSimError):
        SimulatedDropBox("/tmp", rate=3.0)
    # a port that can never open (a NUL from a mangled unit file was logged as the reader
    # failing, every 2 s): refused at start, named
    for port in ("/dev/ttyUSB0\x00", "/dev/tty\nUSB0"):
        with pytest.raises(ValidationError, match="dropbox"):
            PanelConfig(cp="SBC", lane="L01", dropbox=port)
    for port in ("/dev/ttyUSB0\x00", "/dev/tty\nUSB0", ""):
        with pytest.raises(DropBoxError, match="not a device path"):
            DropBoxSensor(port, lambda drop: None)
    assert not PanelConfig(cp="SBC", lane="L01", dropbox="").dropbox  # none, as before
    assert PanelConfig(cp="SBC", lane="L01", dropbox="/dev/serial/by-id/usb-FTDI_ab 1").dropbox


@pytest.fixture
def box(tmp_path: Path) -> Iterator[SimulatedDropBox]:
    sim = SimulatedDropBox(tmp_path).start()
    yield sim
    sim.stop()


@pytest.fixture
def sensor(box: SimulatedDropBox) -> Iterator[tuple[DropBoxSensor, queue.Queue[ManifestDropped]]]:
    drops: queue.Queue[ManifestDropped] = queue.Queue()
    reader = DropBoxSensor(
        box.path, drops.put, min_closed_ms=30, refractory_ms=400, max_backoff=0.2
    )
    reader.start()
    assert reader.connected.wait(5)
    yield reader, drops
    reader.stop()


def test_drop_over_a_real_pty(
    box: SimulatedDropBox, sensor: tuple[DropBoxSensor, queue.Queue[ManifestDropped]]
) -> None:
    reader, drops = sensor
    box.drop(hold_ms=60)
    message = drops.get(timeout=5)
    assert message.source == "sensor"
    assert reader.drops == 1


def test_chatter_and_noise_over_a_real_pty(
    box: SimulatedDropBox, sensor: tuple[DropBoxSensor, queue.Queue[ManifestDropped]]
) -> None:
    reader, drops = sensor
    box.noise(b"\x00\xff garbage\nC7\n" + b"x" * 100 + b"\n")
    box.chatter(bounces=5, gap_ms=2, hold_ms=60)
    drops.get(timeout=5)
    # a marker drop after the refractory window: the only other thing that arrives
    done = threading.Event()
    threading.Timer(0.5, done.set).start()
    assert done.wait(2)
    box.drop(hold_ms=60)
    drops.get(timeout=5)
    assert drops.empty()
    assert reader.drops == 2
    assert reader.noise >= 3


def test_a_held_up_reader_still_measures_the_closure(
    box: SimulatedDropBox, sensor: tuple[DropBoxSensor, queue.Queue[ManifestDropped]]
) -> None:
    reader, drops = sensor
    box.drop(hold_ms=60)  # prompt lines: the reader learns the sensor's clock
    drops.get(timeout=5)
    later = threading.Event()
    threading.Timer(0.8, later.set).start()  # past the refractory window
    assert later.wait(3)
    now = box.now_ms()
    # what a held-up reader gets in one read: changes that happened a while ago
    box.noise(f"C1 {now - 400}\nC0 {now - 390}\n".encode())  # 10 ms: a blip
    box.noise(f"C1 {now - 300}\nC0 {now - 200}\n".encode())  # 100 ms: a drop
    assert drops.get(timeout=5).source == "sensor"
    assert reader.drops == 2


def test_a_slow_sensor_clock_over_a_real_pty(tmp_path: Path) -> None:
    """A sensor counter 5 % slow (far worse than any, to show it in seconds): a 25 ms
    brush of the flap (read over several polls) two seconds after a drop is not one."""
    drops: queue.Queue[ManifestDropped] = queue.Queue()
    with SimulatedDropBox(tmp_path, rate=0.95) as slow:
        reader = DropBoxSensor(slow.path, drops.put, min_closed_ms=60, refractory_ms=400)
        reader.start()
        try:
            assert reader.connected.wait(5)
            slow.drop(hold_ms=100)
            drops.get(timeout=5)
            time.sleep(2.0)  # the estimate of the sensor's time now runs 100 ms ahead
            slow.contact(True)
            time.sleep(0.025)
            slow.contact(False)
            time.sleep(0.6)  # past the refractory time: a drop counted would stand alone
            slow.drop(hold_ms=100)  # a marker: the only other thing that arrives
            drops.get(timeout=5)
            assert reader.drops == 2
        finally:
            reader.stop()


def test_bare_lines_without_timestamps(tmp_path: Path) -> None:
    drops: queue.Queue[ManifestDropped] = queue.Queue()
    with SimulatedDropBox(tmp_path, timestamps=False) as bare:
        reader = DropBoxSensor(bare.path, drops.put, min_closed_ms=30)
        reader.start()
        try:
            assert reader.connected.wait(5)
            bare.chatter(bounces=3, gap_ms=2, hold_ms=80)
            assert drops.get(timeout=5).source == "sensor"
        finally:
            reader.stop()


def test_unplug_and_replug(
    box: SimulatedDropBox, sensor: tuple[DropBoxSensor, queue.Queue[ManifestDropped]]
) -> None:
    reader, drops = sensor
    states: queue.Queue[bool] = queue.Queue()
    reader._on_connection = states.put  # observe the reader's view of the line
    box.unplug()
    assert states.get(timeout=5) is False
    assert not reader.connected.is_set()
    box.replug()
    assert states.get(timeout=5) is True
    assert reader.connects == 2
    box.drop(hold_ms=60)
    assert drops.get(timeout=5).source == "sensor"


def test_a_connection_callback_that_raises_at_an_unplug_does_not_end_the_reader(
    box: SimulatedDropBox, sensor: tuple[DropBoxSensor, queue.Queue[ManifestDropped]]
) -> None:
    """It was called outside the loop's guard: one that raised (a signal to a window gone)
    ended the reader's thread, and the sensor was never seen again (found in review)."""
    reader, drops = sensor
    states: queue.Queue[bool] = queue.Queue()

    def told(up: bool) -> None:
        states.put(up)
        if not up:
            raise RuntimeError("the panel's window is gone")

    reader._on_connection = told
    with said_by("aiop_panel.dropbox", logging.ERROR):
        box.unplug()
        assert states.get(timeout=5) is False
    box.replug()
    assert states.get(timeout=5) is True
    box.drop(hold_ms=60)
    assert drops.get(timeout=5).source == "sensor"


def test_port_absent_at_start_then_appears(tmp_path: Path) -> None:
    drops: queue.Queue[ManifestDropped] = queue.Queue()
    sim = SimulatedDropBox(tmp_path / "later")
    reader = DropBoxSensor(sim.path, drops.put, min_closed_ms=30, max_backoff=0.2)
    reader.start()
    try:
        assert not reader.connected.wait(0.3)
        sim.start()
        assert reader.connected.wait(5)
        sim.drop(hold_ms=60)
        assert drops.get(timeout=5).source == "sensor"
    finally:
        reader.stop()
        sim.stop()
