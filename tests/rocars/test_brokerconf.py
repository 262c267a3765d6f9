"""The generated broker files, loaded by a real mosquitto: each device writes only its topics."""

from __future__ import annotations

import base64
import getpass
import queue
import shutil
import signal
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from rocars.broker import free_port
from rocars.brokerconf import MAX_PACKET_BYTES, hash_password, main, write_broker_files
from rocars.bus import Bus, Will
from rocars.ids import ControlPoint
from rocars.topics import sync_echo_topic, sync_status_filters, sync_status_topic
from tests.fixtures.brokers import ProcessExited, wait_port


@pytest.fixture
def secured_broker(tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    out = tmp_path / "broker"
    passwords = write_broker_files(
        out,
        ControlPoint.SBC,
        ["L01", "L02"],
        shards=["a", "b"],
        monitors=["dash"],
        port=port,
        run_as=getpass.getuser(),
    )
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", str(out / "mosquitto.conf")], stderr=subprocess.DEVNULL)
    wait_port("127.0.0.1", port, proc=proc)
    yield f"mqtt://127.0.0.1:{port}", passwords, out
    proc.send_signal(signal.SIGTERM)
    proc.wait(5)


def _mosquitto_serves(conf: Path, port: int, *, cwd: Path | None = None) -> None:
    """Start mosquitto on ``conf``; fail with its log unless it listens on ``port``."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen(
        [exe, "-c", str(conf)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        wait_port("127.0.0.1", port, timeout=5, proc=proc)
    except (TimeoutError, ProcessExited):
        proc.kill()
        pytest.fail(proc.communicate(timeout=5)[0].decode(errors="replace"))
    proc.send_signal(signal.SIGTERM)
    proc.wait(5)


def test_hash_format_is_mosquittos() -> None:
    line = hash_password("pw", salt=b"0123456789ab")
    assert line.startswith("$7$101$MDEyMzQ1Njc4OWFi$")
    assert hash_password("pw") != hash_password("pw")  # a fresh salt each time


def test_rerun_keeps_passwords(tmp_path: Path) -> None:
    first = write_broker_files(tmp_path, ControlPoint.SBC, ["L01"], run_as=getpass.getuser())
    second = write_broker_files(
        tmp_path, ControlPoint.SBC, ["L01", "L02"], run_as=getpass.getuser()
    )
    assert second["avrs-L01"] == first["avrs-L01"]
    assert "avrs-L02" in second
    assert (tmp_path / "passwd").stat().st_mode & 0o777 == 0o600


def _passwd_lines(folder: Path) -> dict[str, str]:
    lines = (folder / "passwd").read_text().splitlines()
    return {line.split(":", 1)[0]: line for line in lines}


def test_rerun_keeps_the_hash_of_a_device_whose_env_was_moved_to_its_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """operations.md: copy each device's .env to its machine, and a re-run for a lane
    keeps the existing passwords. Before, a user with no .env here got a new password,
    and after the reload its display could not log in."""
    argv = ["--cp", "SBC", "--out", str(tmp_path), "--run-as", getpass.getuser()]
    assert main([*argv, "--lanes", "L01"]) == 0
    first = capsys.readouterr().out
    before = _passwd_lines(tmp_path)
    moved = (tmp_path / "xdb-L01.env").read_text()
    (tmp_path / "xdb-L01.env").unlink()  # now on lane L01's booth PC
    assert main([*argv, "--lanes", "L01,L02"]) == 0
    said = capsys.readouterr().out
    after = _passwd_lines(tmp_path)
    assert after["xdb-L01"] == before["xdb-L01"]
    # the password on the booth PC still logs in
    password = moved.split("ROCARS_MQTT_PASSWORD=", 1)[1].split("\n", 1)[0]
    assert _hash_is(password, after["xdb-L01"])
    assert not (tmp_path / "xdb-L01.env").exists()  # no new .env for it
    assert "kept: the password of xdb-L01 (its .env is not here)" in said
    assert "a new password for avrs-L02, xdb-L02, aiop-L02: copy only" in said
    # the users whose .env is here keep theirs too, their lines as they were
    assert {u: after[u] for u in before} == before
    assert set(after) == set(before) | {"avrs-L02", "xdb-L02", "aiop-L02"}
    assert "a new password for sync, monitor, avrs-L01, xdb-L01, aiop-L01: copy only" in first


def test_turning_tls_on_in_a_rerun_gives_every_device_a_new_env(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Kept, a device whose .env went to its machine stayed on that old .env, with no CA
    file: on mqtts:// it refused the site CA and its lane failed closed, while the output
    said to copy only the new lane's files. TLS turned on (or off): every .env is new."""
    me = getpass.getuser()
    argv = ["--cp", "SBC", "--out", str(tmp_path), "--run-as", me, "--agent-user", me]
    assert main([*argv, "--lanes", "L01"]) == 0
    (tmp_path / "xdb-L01.env").unlink()  # now on lane L01's booth PC
    capsys.readouterr()
    tls = ["--tls-hosts", "10.20.0.10", "--bind", "0.0.0.0"]
    assert main([*argv, "--lanes", "L01,L02", *tls]) == 0
    said = capsys.readouterr().out
    assert "kept:" not in said
    assert "TLS turned on: every device's .env changed" in said
    assert "ROCARS_MQTT_CAFILE=" in (tmp_path / "xdb-L01.env").read_text()


def test_a_damaged_passwd_line_is_not_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line that is no hash mosquitto reads was kept as it was and said "kept": that
    device could not log in, and some mosquitto builds refuse the whole file."""
    argv = ["--cp", "SBC", "--out", str(tmp_path), "--run-as", getpass.getuser()]
    assert main([*argv, "--lanes", "L01"]) == 0
    (tmp_path / "xdb-L01.env").unlink()
    lines = (tmp_path / "passwd").read_text().splitlines()
    damaged = [("xdb-L01:x:y" if line.startswith("xdb-L01:") else line) for line in lines]
    (tmp_path / "passwd").write_text("\n".join(damaged) + "\n")
    capsys.readouterr()
    assert main([*argv, "--lanes", "L01"]) == 0
    said = capsys.readouterr().out
    assert "the line of xdb-L01 in passwd was no password hash: not kept" in said
    assert "kept: the password of xdb-L01" not in said
    assert "a new password for xdb-L01: copy only" in said
    env = (tmp_path / "xdb-L01.env").read_text()
    password = env.split("ROCARS_MQTT_PASSWORD=", 1)[1].split("\n", 1)[0]
    assert _hash_is(password, _passwd_lines(tmp_path)["xdb-L01"])


def _hash_is(password: str, line: str) -> bool:
    digest = line.split(":", 1)[1]
    return digest == hash_password(password, base64.b64decode(digest.split("$")[3]))


def test_rerun_makes_loose_secret_files_private_again(tmp_path: Path) -> None:
    # O_CREAT's mode applies to new files only: a restored or copied passwd may be 0644
    write_broker_files(tmp_path, ControlPoint.SBC, ["L01"], run_as=getpass.getuser())
    (tmp_path / "passwd").chmod(0o644)
    (tmp_path / "sync.env").chmod(0o644)
    write_broker_files(tmp_path, ControlPoint.SBC, ["L01", "L02"], run_as=getpass.getuser())
    assert (tmp_path / "passwd").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "sync.env").stat().st_mode & 0o777 == 0o600


def test_conf_loads_from_a_debian_conf_d(tmp_path: Path) -> None:
    """operations.md links the conf into Debian's conf.d, whose mosquitto.conf already
    sets persistence_location: mosquitto will not start on a second one."""
    port = free_port()
    write_broker_files(
        tmp_path / "broker", ControlPoint.SBC, ["L01"], port=port, run_as=getpass.getuser()
    )
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "rocars.conf").symlink_to(tmp_path / "broker" / "mosquitto.conf")
    debian = tmp_path / "mosquitto.conf"  # Debian 12's, with its paths moved here
    debian.write_text(
        f"pid_file {tmp_path}/mosquitto.pid\n"
        f"persistence true\npersistence_location {tmp_path}/\n"
        f"log_dest stderr\ninclude_dir {conf_d}\n"
    )
    _mosquitto_serves(debian, port)


@pytest.mark.parametrize(
    "args",
    [
        ["--cp", "XXX", "--lanes", "L01"],
        ["--cp", "SBC", "--lanes", "L 1"],
        ["--cp", "SBC", "--lanes", "L01", "--shards", "a,a"],
        ["--cp", "SBC", "--lanes", "L01", "--monitors", "Dash board"],
    ],
)
def test_cli_refuses_a_bad_cp_or_lane_with_exit_2(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("broker-config: ")
    assert not (tmp_path / "out").exists()


def test_cli_relative_out_gives_a_conf_mosquitto_loads_from_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # systemd starts mosquitto in /, so paths relative to where broker-config ran break
    monkeypatch.chdir(tmp_path)
    port = free_port()
    argv = ["--cp", "SBC", "--lanes", "L01", "--out", "broker", "--port", str(port)]
    assert main([*argv, "--run-as", getpass.getuser()]) == 0
    _mosquitto_serves(tmp_path / "broker" / "mosquitto.conf", port, cwd=Path("/"))


def test_acl_lets_each_device_write_only_its_own_topics(secured_broker) -> None:  # type: ignore[no-untyped-def]
    url, passwords, _ = secured_broker
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    monitor = Bus(url, "monitor", username="monitor", password=passwords["monitor"])
    monitor.subscribe("rocars/SBC/#", lambda t, p: got.put((t, p)))
    monitor.start()
    assert monitor.wait_connected(10)
    avrs = Bus(url, "avrs-L01", username="avrs-L01", password=passwords["avrs-L01"])
    avrs.start()
    assert avrs.wait_connected(10)
    # a forged instruction from the plate reader is dropped by the broker ...
    avrs.publish("rocars/SBC/lanes/L01/instruction", b"forged").wait_for_publish(5)
    # ... and so is a plate for another lane; its own plate topic goes through
    avrs.publish("rocars/SBC/lanes/L02/plate", b"other lane").wait_for_publish(5)
    avrs.publish("rocars/SBC/lanes/L01/plate", b"mine").wait_for_publish(5)
    assert got.get(timeout=10) == ("rocars/SBC/lanes/L01/plate", b"mine")
    assert got.empty()
    avrs.stop()
    monitor.stop()


def test_sync_agents_read_each_others_status(secured_broker) -> None:  # type: ignore[no-untyped-def]
    """docs/architecture.md, "One lane, one agent": every agent (``sync``, ``sync-NAME``
    per shard) reads the others' statuses, the site's and each shard's."""
    url, passwords, _ = secured_broker
    other = Bus(url, "sync-SBC-import-b", username="sync-b", password=passwords["sync-b"])
    single = Bus(url, "sync-SBC-import", username="sync", password=passwords["sync"])
    for bus in (other, single):
        bus.start()
        assert bus.wait_connected(10)
    other.publish(sync_status_topic("SBC", "b"), b'{"state":"online"}', retain=True)
    single.publish(sync_status_topic("SBC"), b'{"state":"online"}', retain=True)
    # ... and a shard may not write another's status
    other.publish(sync_status_topic("SBC", "a"), b'{"state":"offline"}', retain=True)
    for bus in (other, single):
        bus.publish(sync_status_topic("SBC", "b"), b"", retain=True).wait_for_publish(5)
        bus.stop()
    got: queue.Queue[str] = queue.Queue()
    agent = Bus(url, "sync-SBC-import-a", username="sync-a", password=passwords["sync-a"])
    for topic_filter in sync_status_filters("SBC"):
        agent.subscribe(topic_filter, lambda t, p: got.put(t))
    agent.start()
    try:
        assert agent.wait_connected(10)
        assert got.get(timeout=10) == sync_status_topic("SBC")
        time.sleep(0.5)
        assert got.empty()  # b's status was cleared by b (not by sync), a's never written
    finally:
        agent.stop()


def test_each_agent_hears_its_own_echo_and_no_other(secured_broker) -> None:  # type: ignore[no-untyped-def]
    """An agent back on a resumed session waits for its echo before it republishes its
    lanes' instructions (sync.agent): the ACL lets each agent write and read its own echo
    topic; a shard cannot write another's, nor a device an agent's."""
    url, passwords, _ = secured_broker
    got: queue.Queue[tuple[str, str, bytes]] = queue.Queue()
    agents = {
        user: Bus(url, f"sync-SBC-import{suffix}", username=user, password=passwords[user])
        for user, suffix in (("sync", ""), ("sync-a", "-a"), ("sync-b", "-b"))
    }
    for user, bus in agents.items():
        shard = user.removeprefix("sync").removeprefix("-")
        bus.subscribe(sync_echo_topic("SBC", shard), lambda t, p, user=user: got.put((user, t, p)))
        bus.start()
    xdb = Bus(url, "xdb-L01", username="xdb-L01", password=passwords["xdb-L01"])
    xdb.start()
    try:
        for bus in (*agents.values(), xdb):
            assert bus.wait_connected(10)
        xdb.publish(sync_echo_topic("SBC"), b"forged").wait_for_publish(5)
        agents["sync-a"].publish(sync_echo_topic("SBC", "b"), b"not its").wait_for_publish(5)
        for user, bus in agents.items():
            shard = user.removeprefix("sync").removeprefix("-")
            bus.publish(sync_echo_topic("SBC", shard), user.encode()).wait_for_publish(5)
        heard = sorted(got.get(timeout=10) for _ in agents)
        assert heard == [
            ("sync", "rocars/SBC/sync/echo", b"sync"),
            ("sync-a", "rocars/SBC/sync/a/echo", b"sync-a"),
            ("sync-b", "rocars/SBC/sync/b/echo", b"sync-b"),
        ]
        time.sleep(0.3)
        assert got.empty()
    finally:
        for bus in (*agents.values(), xdb):
            bus.stop()


def test_a_device_login_cannot_take_the_agents_session(secured_broker) -> None:  # type: ignore[no-untyped-def]
    """MQTT hands a session to whoever connects with its client id: with any login free to
    choose one, a display's password was enough to throw the lane agent off the broker,
    publishing its last will (every display fails closed) again and again."""
    url, passwords, _ = secured_broker
    wills: queue.Queue[bytes] = queue.Queue()
    monitor = Bus(url, "monitor", username="monitor", password=passwords["monitor"])
    monitor.subscribe(sync_status_topic("SBC"), lambda t, p: wills.put(p))
    monitor.start()
    assert monitor.wait_connected(10)
    will = Will(sync_status_topic("SBC"), b"offline", retain=False)
    agent = Bus(url, "sync-SBC-import", will=will, username="sync", password=passwords["sync"])
    drops: list[bool] = []
    agent.on_connection(lambda up: None if up else drops.append(up))
    agent.start()
    assert agent.wait_connected(10)
    intruder = Bus(url, "sync-SBC-import", username="xdb-L01", password=passwords["xdb-L01"])
    intruder.start()
    try:
        assert intruder.wait_connected(10)  # it may log in, as itself
        time.sleep(1.0)
        assert drops == []
        assert wills.empty()
        assert agent.connected.is_set()
    finally:
        intruder.stop()
        agent.stop()
        monitor.stop()


def test_two_monitors_stay_connected_side_by_side(secured_broker) -> None:  # type: ignore[no-untyped-def]
    """A user is its client id, so a dashboard and a console each have a monitor user."""
    url, passwords, _ = secured_broker
    got: queue.Queue[str] = queue.Queue()
    monitors = [
        Bus(url, "console", username="monitor", password=passwords["monitor"]),
        Bus(url, "dashboard", username="monitor-dash", password=passwords["monitor-dash"]),
    ]
    for bus in monitors:
        bus.subscribe("rocars/SBC/lanes/+/plate", lambda t, p: got.put(t))
        bus.start()
        assert bus.wait_connected(10)
    avrs = Bus(url, "avrs-L01", username="avrs-L01", password=passwords["avrs-L01"])
    avrs.start()
    try:
        assert avrs.wait_connected(10)
        avrs.publish("rocars/SBC/lanes/L01/plate", b"x").wait_for_publish(5)
        assert [got.get(timeout=10), got.get(timeout=10)] == ["rocars/SBC/lanes/L01/plate"] * 2
        assert all(bus.connected.is_set() for bus in monitors)
    finally:
        avrs.stop()
        for bus in monitors:
            bus.stop()


def test_an_oversized_packet_is_refused(secured_broker) -> None:  # type: ignore[no-untyped-def]
    url, passwords, _ = secured_broker
    got: queue.Queue[int] = queue.Queue()
    monitor = Bus(url, "monitor", username="monitor", password=passwords["monitor"])
    monitor.subscribe("rocars/SBC/lanes/L01/plate", lambda t, p: got.put(len(p)))
    monitor.start()
    assert monitor.wait_connected(10)
    dropped: queue.Queue[bool] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="avrs-L01")
    client.username_pw_set("avrs-L01", passwords["avrs-L01"])
    client.on_disconnect = lambda c, u, f, rc, p: dropped.put(True)
    client.connect("127.0.0.1", int(url.rsplit(":", 1)[1]))
    client.loop_start()
    try:
        client.publish("rocars/SBC/lanes/L01/plate", b"x" * MAX_PACKET_BYTES, qos=0)
        assert dropped.get(timeout=10) is True  # the broker hung up on it
        time.sleep(0.5)
        assert got.empty()  # and passed nothing on
    finally:
        client.loop_stop()
        client.disconnect()
        monitor.stop()


def test_wrong_password_is_refused(secured_broker) -> None:  # type: ignore[no-untyped-def]
    url, _, _ = secured_broker
    port = int(url.rsplit(":", 1)[1])
    refused: queue.Queue[bool] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder")
    client.username_pw_set("sync", "wrong")
    client.on_connect = lambda c, u, f, rc, p: refused.put(rc.is_failure)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert refused.get(timeout=10) is True
    finally:
        client.loop_stop()
        client.disconnect()


def test_services_take_their_broker_user_from_the_environment(
    secured_broker,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, passwords, _ = secured_broker
    monkeypatch.setenv("ROCARS_MQTT_USERNAME", "xdb-L01")
    monkeypatch.setenv("ROCARS_MQTT_PASSWORD", passwords["xdb-L01"])
    bus = Bus(url, "xdb")
    bus.start()
    try:
        assert bus.wait_connected(10)
    finally:
        bus.stop()
