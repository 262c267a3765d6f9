"""``rocars-edge avrs``: argument errors exit 2; the adapter process end to end on a broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from avrs_adapter.camera import CameraSource
from avrs_adapter.cli import build_parser, main, make_source
from avrs_adapter.errors import AvrsError
from avrs_adapter.ocr import OcrModelMissing
from avrs_adapter.serial_source import SerialSource
from hardware_sim.lpr_device import VirtualLpr
from tests.avrs_adapter.serialkit import DeviceServer
from tests.avrs_adapter.test_publisher import Watcher, port_open
from tests.fixtures.brokers import Mosquitto


def lane_args(broker: str) -> list[str]:
    """The lane an adapter reads for, and its broker."""
    return ["--cp", "SBC", "--lane", "L01", "--broker", broker]


BASE = lane_args("mqtt://127.0.0.1:1")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--serial", "/dev/null", "--protocol", "framed", *BASE], "avrs_port_error"),
        (["--serial", "/dev/null", "--protocol", "morse", *BASE], "invalid choice"),
        (["--serial", "/dev/null", *BASE], "avrs_protocol_missing"),
        (["--serial", "/dev/null", "--protocol", "framed", "--baud", "0", *BASE], "avrs_bad_baud"),
        (
            ["--serial", "/dev/null", "--protocol", "delimited", "--delimiter", "A", *BASE],
            "avrs_bad_delimiter",
        ),
        (
            ["--serial", "/dev/null", "--protocol", "framed", "--cp", "XXX", "--lane", "L01"],
            "cp_invalid",
        ),
        (
            ["--serial", "/dev/null", "--protocol", "framed", "--cp", "SBC", "--lane", "L 1"],
            "lane_invalid",
        ),
        (
            [
                "--serial",
                "/dev/null",
                "--protocol",
                "framed",
                "--cp",
                "SBC",
                "--lane",
                "L01",
                "--broker",
                "http://x",
            ],
            "config_error",
        ),
        (
            ["--serial", "/dev/null", "--protocol", "framed", "--device", "a b", *BASE],
            "device_invalid",
        ),
        (
            ["--serial", "/dev/null", "--protocol", "framed", "--settle", "9", *BASE],
            "avrs_bad_aggregator",
        ),
        (["--camera", "", *BASE], "avrs_camera_url"),
        (
            [
                "--serial",
                "socket://127.0.0.1:4001",
                "--protocol",
                "nedap",
                *lane_args("mqtts://127.0.0.1:8883"),
            ],
            "broker_cafile: cannot use the broker's CA file /nonexistent/ca.crt",
        ),
        (
            ["--serial", "socket://10.20.1.5", "--protocol", "nedap", *BASE],
            "avrs_port_error: socket://10.20.1.5 must look like socket://HOST:PORT",
        ),
        (["--protocol", "framed", *BASE], "one of the arguments"),
        (["--serial", "/dev/null", "--camera", "x", *BASE], "not allowed with"),
        (
            ["--serial", "socket://127.0.0.1:9", "--protocol", "framed", "--replay-bound", "-1"]
            + BASE,
            "avrs_bad_replay_guard",
        ),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROCARS_MQTT_CAFILE", "/nonexistent/ca.crt")
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def recorded_sources(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The sources the adapter is started with, none started: its publisher records the
    source and stops the start (``main`` then returns 2); the OCR engine is not loaded."""
    made: list[Any] = []

    class Recorded:
        def __init__(self, source: Any, **kwargs: Any) -> None:
            made.append(source)
            raise AvrsError("recorded", key="recorded")

    monkeypatch.setattr("avrs_adapter.camera.shared_engine", lambda: object())
    monkeypatch.setattr("avrs_adapter.cli.AvrsPublisher", Recorded)
    return made


def test_a_serial_port_that_cannot_be_opened_now_exits_69_not_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A USB adapter not there yet at boot is tried again by its service (exit 69,
    EX_UNAVAILABLE); a config error (2) is not (RestartPreventExitStatus=2)."""
    assert main(["--serial", "/nonexistent/lpr0", "--protocol", "framed", *BASE]) == 69
    err = capsys.readouterr().err
    assert "avrs_port_error: cannot open serial port /nonexistent/lpr0" in err
    assert "tried again by its service" in err


def test_the_camera_url_may_come_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera URL with its password stays off the command line (``ps``, ``systemctl
    status``): ``ROCARS_CAMERA_URL`` stands for ``--camera``; neither is a usage error."""
    made = recorded_sources(monkeypatch)
    monkeypatch.setenv("ROCARS_CAMERA_URL", " rtsp://user:secret@10.20.1.9/stream ")
    assert main(BASE) == 2  # the recorded stop
    [source] = made
    assert isinstance(source, CameraSource)
    assert source.url == "rtsp://user:secret@10.20.1.9/stream"
    assert main(["--serial", "socket://127.0.0.1:9", "--protocol", "framed", *BASE]) == 2
    assert isinstance(made[-1], SerialSource)  # --serial wins over the environment
    monkeypatch.delenv("ROCARS_CAMERA_URL")
    capsys.readouterr()
    assert main(BASE) == 2
    assert "--serial --camera is required (or ROCARS_CAMERA_URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            OcrModelMissing("OCR model det.onnx is missing; reinstall rapidocr", path="det.onnx"),
            "avrs_ocr_model_missing: OCR model det.onnx is missing",
        ),
        (ImportError("No module named 'onnxruntime'"), "avrs_ocr_unavailable"),
    ],
)
def test_a_camera_whose_ocr_engine_cannot_load_exits_2(
    error: Exception,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At start, before the adapter says it is online, not at the first truck."""

    def cannot_load() -> Any:
        raise error

    class NotStarted:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("the adapter started with an OCR engine that cannot load")

    monkeypatch.setattr("avrs_adapter.camera.shared_engine", cannot_load)
    monkeypatch.setattr("avrs_adapter.cli.AvrsPublisher", NotStarted)
    assert main(["--camera", "trucks.avi", *BASE]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "report_unread"),
    [([], False), (["--report-unread"], True), (["--no-report-unread"], False)],
)
def test_report_unread_reaches_the_camera_source(
    flags: list[str], report_unread: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = object()
    monkeypatch.setattr("avrs_adapter.camera.shared_engine", lambda: fake)
    args = build_parser().parse_args(["--camera", "trucks.avi", *flags, *BASE])
    assert args.report_unread is report_unread
    source = make_source(args)
    assert isinstance(source, CameraSource)
    assert source.report_unread is report_unread
    assert source.load_engine() is fake  # loaded when the source was made


@pytest.mark.parametrize(
    ("flags", "bound", "lag"),
    [([], 5.0, None), (["--replay-bound", "12", "--device-lag", "28800"], 12.0, 28800.0)],
)
def test_replay_options_reach_the_serial_source(
    flags: list[str], bound: float, lag: float | None
) -> None:
    port = ["--serial", "socket://127.0.0.1:9", "--protocol", "framed"]
    source = make_source(build_parser().parse_args([*port, *flags, *BASE]))
    assert isinstance(source, SerialSource)
    assert source.replay is not None
    assert (source.replay.bound, source.replay.baseline) == (bound, lag)
    off = make_source(build_parser().parse_args([*port, "--replay-bound", "0", *BASE]))
    assert isinstance(off, SerialSource)
    assert off.replay is None


@pytest.mark.parametrize(
    "flags",
    [["--device-lag", "0"], ["--state-dir", "."], ["--device-lag", "0", "--state-dir", "."]],
)
def test_replay_options_with_the_guard_off_exit_2(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--replay-bound 0`` turns the guard off: a lag or a state directory given with it
    would be ignored, so the adapter refuses them instead of starting without them."""
    port = ["--serial", "socket://127.0.0.1:9", "--protocol", "framed", "--replay-bound", "0"]
    assert main([*port, *flags, *BASE]) == 2
    err = capsys.readouterr().err
    assert "avrs_replay_guard_off" in err
    for flag in flags[::2]:
        assert flag in err


def test_the_state_dir_keeps_the_lag_and_device_lag_wins(tmp_path: Path) -> None:
    saved_at = datetime.now(UTC).isoformat()
    (tmp_path / "replay-lpr3.json").write_text(
        json.dumps({"v": 1, "device_lag": 28803.2, "saved_at": saved_at})
    )
    port = ["--serial", "socket://127.0.0.1:9", "--protocol", "framed", "--device", "lpr3"]
    state = ["--state-dir", str(tmp_path)]
    for flags, lag in (([], 28803.2), (["--device-lag", "0"], 0.0)):
        source = make_source(build_parser().parse_args([*port, *state, *flags, *BASE]))
        assert isinstance(source, SerialSource)
        assert source.replay is not None
        assert source.replay.baseline == lag
        assert source.lag_file is not None
        assert source.lag_file.path == tmp_path / "replay-lpr3.json"


def test_a_state_dir_that_is_not_a_directory_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = ["--serial", "socket://127.0.0.1:9", "--protocol", "framed"]
    assert main([*port, "--state-dir", str(tmp_path / "none"), *BASE]) == 2
    assert "avrs_bad_state_dir" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--serial" in capsys.readouterr().out


def test_read_dispatches_to_stills(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["read", "--grammar", "klingon", "x.png"]) == 2
    assert "rocars-edge avrs read" in capsys.readouterr().err


def test_serial_path_does_not_load_opencv() -> None:
    code = "import sys, avrs_adapter.cli; sys.exit(int('cv2' in sys.modules or 'rapidocr' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_adapter_process_end_to_end_and_last_will(broker_url: str, tmp_path: Path) -> None:
    watcher = Watcher(broker_url)
    lpr = VirtualLpr(tmp_path, "nedap").start()
    log = (tmp_path / "avrs.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rocars.cli",
            "avrs",
            "--serial",
            lpr.path,
            "--protocol",
            "nedap",
            *lane_args(broker_url),
            "--status-interval",
            "0.3",
        ],
        stdout=log,
        stderr=log,
    )
    try:
        watcher.status_until(port_open, timeout=20)
        lpr.set_faults(split=True, baud_garbage=20)
        lpr.send_truck("XY 2024", confidence=0.88, repeats=4, second_plate="粤Z5678港")
        read = watcher.plates.get(timeout=10)
        assert (read.vrn, read.confidence) == ("XY2024", 0.88)
        assert [a.vrn for a in read.alternates] == ["粤Z5678港"]
        lpr.send_truck("KL9876", repeats=1)
        assert watcher.plates.get(timeout=10).vrn == "KL9876"
        assert watcher.plates.empty()
        # killed, no clean disconnect: the broker publishes the retained last will
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        will = watcher.status_until(lambda s: s.state == "offline", timeout=20)
        assert will.detail == "avrs adapter gone"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
        lpr.stop()
        watcher.stop()


def test_adapter_process_stops_cleanly_on_sigterm(broker_url: str, tmp_path: Path) -> None:
    watcher = Watcher(broker_url)
    lpr = VirtualLpr(tmp_path, "delimited").start()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "avrs_adapter.cli",
            "--serial",
            lpr.path,
            "--protocol",
            "delimited",
            "--cp",
            "4",
            "--lane",
            "L01",
            "--broker",
            broker_url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        watcher.status_until(port_open, timeout=20)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(15) == 0
        assert watcher.status_until(lambda s: s.state == "offline").state == "offline"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        lpr.stop()
        watcher.stop()


def test_adapter_process_reads_a_device_server_over_tcp(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """``--serial socket://HOST:PORT``: a serial device server on the booth LAN; the
    adapter starts before it is up and connects when it is."""
    watcher = Watcher(mosquitto.url)
    server = DeviceServer("nedap")
    log = (tmp_path / "avrs.log").open("wb")
    argv = ["avrs", "--serial", server.url, "--protocol", "nedap", "--cp", "SBC"]
    argv += ["--lane", "L01", "--broker", mosquitto.url, "--status-interval", "0.3"]
    proc = subprocess.Popen([sys.executable, "-m", "rocars.cli", *argv], stdout=log, stderr=log)
    try:
        server.accept()
        watcher.status_until(port_open, timeout=20)
        for _ in range(3):
            server.send_read("XY2024", split=True)
        assert watcher.plates.get(timeout=10).vrn == "XY2024"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
        server.close()


def test_the_roi_reaches_the_camera_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("avrs_adapter.camera.shared_engine", lambda: object())
    args = build_parser().parse_args(["--camera", "trucks.avi", "--roi", "10, 20,300,200", *BASE])
    source = make_source(args)
    assert isinstance(source, CameraSource)
    assert source.roi == (10, 20, 300, 200)
    whole = make_source(build_parser().parse_args(["--camera", "trucks.avi", *BASE]))
    assert isinstance(whole, CameraSource)
    assert whole.roi is None


@pytest.mark.parametrize(
    ("roi", "message"),
    [
        ("10,20,300", "must be X,Y,W,H"),
        ("a,b,c,d", "must be X,Y,W,H"),
        ("10,20,30.5,40", "must be X,Y,W,H"),
        ("-1,0,300,200", "X and Y must be 0 or more"),
        ("0,0,0,200", "W and H 1 or more"),
    ],
)
def test_a_bad_roi_exits_2(roi: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--camera", "trucks.avi", f"--roi={roi}", *BASE]) == 2
    err = capsys.readouterr().err
    assert "--roi" in err
    assert message in err


def test_a_roi_with_a_serial_device_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    port = ["--serial", "socket://127.0.0.1:9", "--protocol", "framed"]
    assert main([*port, "--roi", "0,0,100,100", *BASE]) == 2
    assert "avrs_camera_only" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags",
    [
        ["--replay-bound", "5"],  # the default's value, given: still a mistake
        ["--device-lag", "0"],
        ["--state-dir", "."],
        ["--replay-bound", "12", "--state-dir", "."],
    ],
)
def test_serial_only_options_with_a_camera_exit_2(
    flags: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replay guard's options mean nothing to a camera: given with ``--camera``
    they were meant for a serial lane, so they are refused, not ignored."""

    class NotStarted:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("the adapter started with serial-only options for a camera")

    monkeypatch.setattr("avrs_adapter.camera.shared_engine", lambda: object())
    monkeypatch.setattr("avrs_adapter.cli.AvrsPublisher", NotStarted)
    assert main(["--camera", "trucks.avi", *flags, *BASE]) == 2
    err = capsys.readouterr().err
    assert "avrs_serial_only" in err
    for flag in flags[::2]:
        assert flag in err


def unit_command(name: str, lane: str, args: str) -> list[str]:
    """The arguments a unit of docs/systemd gives ``rocars-edge avrs`` for ``lane``,
    with site.env's values and ``AVRS_ARGS`` as systemd expands them."""
    unit = (Path(__file__).parents[2] / "docs" / "systemd" / name).read_text()
    [line] = [ln for ln in unit.splitlines() if ln.startswith("ExecStart=")]
    words = line.removeprefix("ExecStart=").split()
    assert words[:2] == ["/opt/rocars-edge/.venv/bin/rocars-edge", "avrs"]
    values = {"%i": lane, "${ROCARS_CP}": "SBC", "${ROCARS_BROKER}": "mqtt://127.0.0.1:1"}
    out: list[str] = []
    for word in words[2:]:
        out.extend(args.split() if word == "$AVRS_ARGS" else [values.get(word, word)])
    return out


def documented_avrs_args() -> str:
    """The serial lane's AVRS_ARGS as docs/operations.md installs it."""
    ops = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    [line] = [ln for ln in ops.splitlines() if "AVRS_ARGS=--serial" in ln]
    return line.split("'AVRS_ARGS=", 1)[1].split("'", 1)[0]


def test_the_avrs_unit_starts_a_camera_lane_and_a_serial_lane(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unit's command line as systemd runs it: a camera lane (its URL in the
    environment, AVRS_ARGS empty) and the documented serial lane start; neither is
    refused as a config error (exit 2, which the unit does not restart). It once passed
    --state-dir to every lane, and a camera lane refused it for good."""
    made = recorded_sources(monkeypatch)
    monkeypatch.setenv("ROCARS_CAMERA_URL", "rtsp://user:pass@camera/stream")
    main(unit_command("rocars-avrs@.service", "L02", ""))
    assert isinstance(made[-1], CameraSource), capsys.readouterr().err
    monkeypatch.delenv("ROCARS_CAMERA_URL")
    # the booth's port is not here: the port is tried again (69), the rest was accepted
    monkeypatch.setenv("STATE_DIRECTORY", "/tmp")  # as systemd sets it (StateDirectory=)
    assert main(unit_command("rocars-avrs@.service", "L01", documented_avrs_args())) == 69
    assert "cannot open serial port /dev/ttyUSB0" in capsys.readouterr().err


def test_a_serial_lane_under_systemd_keeps_its_lag_in_the_units_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``StateDirectory=`` (``$STATE_DIRECTORY``) is a serial lane's ``--state-dir`` when
    none is given: an ``avrs-LANE.env`` of before keeps its lag kept. Not with the guard
    off, and ``--state-dir`` wins."""
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}:/elsewhere")
    port = ["--serial", "socket://127.0.0.1:9", "--protocol", "framed", "--device", "lpr3"]
    source = make_source(build_parser().parse_args([*port, *BASE]))
    assert isinstance(source, SerialSource)
    assert source.lag_file is not None
    assert source.lag_file.path == tmp_path / "replay-lpr3.json"
    off = make_source(build_parser().parse_args([*port, "--replay-bound", "0", *BASE]))
    assert isinstance(off, SerialSource)
    assert off.lag_file is None
    own = tmp_path / "own"
    own.mkdir()
    given = make_source(build_parser().parse_args([*port, "--state-dir", str(own), *BASE]))
    assert isinstance(given, SerialSource)
    assert given.lag_file is not None
    assert given.lag_file.path == own / "replay-lpr3.json"
