"""TLS on the broker: the files broker-config makes or checks, served by a real mosquitto.

Devices reach the broker across the booth LAN, so their passwords must not cross it in
clear; each checks the broker's certificate against the ``ca.crt`` named in its .env.
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import queue
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rocars import brokertls
from rocars.broker import free_port
from rocars.brokerconf import TlsOptions, main, write_broker_files
from rocars.brokertls import TlsFilesError, own_tls, site_tls
from rocars.bus import Bus, Will, broker_tls_context
from rocars.certs import key_usage
from rocars.config import parse_broker
from rocars.errors import ConfigError
from rocars.ids import ControlPoint
from rocars.topics import sync_status_topic
from tests.fixtures.brokers import ProcessExited, wait_port

NOW = dt.datetime.now(dt.UTC)


# -- certificates of a site's own PKI (root -> intermediate -> server), for the tests ----


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _issue(
    name: str,
    issuer: Issued | None,
    *,
    ca: bool,
    hosts: tuple[str, ...] = (),
    days: tuple[int, int] = (-1, 365),
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer = issuer or Issued(cert=None, key=key)  # type: ignore[arg-type]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.key.public_key()), False
        )
    )
    if ca:
        builder = builder.add_extension(key_usage(key_cert_sign=True, crl_sign=True), True)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [brokertls._subject(h) for h in brokertls.parse_hosts(hosts)]
            ),
            False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    return Issued(builder.sign(signer.key, hashes.SHA256()), key)


def _pem(path: Path, *items: x509.Certificate | ec.EllipticCurvePrivateKey) -> Path:
    data = b""
    for item in items:
        if isinstance(item, x509.Certificate):
            data += item.public_bytes(serialization.Encoding.PEM)
        else:
            data += item.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
    path.write_bytes(data)
    return path


@pytest.fixture
def site_pki(tmp_path: Path) -> dict[str, Path]:
    """A site PKI's files: the root, and a server certificate for 127.0.0.1 issued by an
    intermediate (the server's file carries the chain, as a department PKI hands out)."""
    root = _issue("Site Root", None, ca=True)
    middle = _issue("Site Issuing CA", root, ca=True)
    server = _issue("broker", middle, ca=False, hosts=("127.0.0.1",))
    pki = tmp_path / "pki"
    pki.mkdir()
    return {
        "root": _pem(pki / "root.pem", root.cert),
        "chain": _pem(pki / "server.pem", server.cert, middle.cert),
        "leaf": _pem(pki / "leaf.pem", server.cert),
        "key": _pem(pki / "server.key", server.key),
        "other_key": _pem(pki / "other.key", ec.generate_private_key(ec.SECP256R1())),
        "other_root": _pem(pki / "other_root.pem", _issue("Other Root", None, ca=True).cert),
    }


# -- the files ------------------------------------------------------------------------


def test_a_site_ca_is_made_once_and_the_server_certificate_kept_while_good(
    tmp_path: Path,
) -> None:
    site_tls(tmp_path, "SBC", ["10.20.0.10", "cp-server.sbc"])
    files = {
        name: (tmp_path / name).read_bytes()
        for name in ("ca.crt", "ca.key", "server.crt", "server.key")
    }
    assert (tmp_path / "ca.crt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "server.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
    site_tls(tmp_path, "SBC", ["10.20.0.10", "cp-server.sbc"])
    assert {n: (tmp_path / n).read_bytes() for n in files} == files  # devices need nothing new
    # another address: a new server certificate from the same CA
    site_tls(tmp_path, "SBC", ["10.20.0.11"])
    assert (tmp_path / "ca.crt").read_bytes() == files["ca.crt"]
    assert (tmp_path / "server.crt").read_bytes() != files["server.crt"]
    cert = x509.load_pem_x509_certificate((tmp_path / "server.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["10.20.0.11"]


def test_a_server_certificate_near_its_end_is_renewed_on_a_rerun(tmp_path: Path) -> None:
    site_tls(tmp_path, "SBC", ["10.20.0.10"])
    first = (tmp_path / "server.crt").read_bytes()
    later = NOW + dt.timedelta(days=brokertls.SERVER_DAYS - brokertls.RENEW_DAYS + 1)
    site_tls(tmp_path, "SBC", ["10.20.0.10"], now=later)
    renewed = x509.load_pem_x509_certificate((tmp_path / "server.crt").read_bytes())
    assert (tmp_path / "server.crt").read_bytes() != first
    assert renewed.not_valid_after_utc > later + dt.timedelta(days=brokertls.SERVER_DAYS - 1)


def test_a_server_certificate_made_while_the_clock_ran_ahead_is_reissued(
    tmp_path: Path,
) -> None:
    """Devices refuse a certificate before its start. Before, the kept pair was checked
    only 30 days on, so one made 5 days ahead was kept on a re-run with the clock fixed."""
    site_tls(tmp_path, "SBC", ["10.20.0.10"])
    ca = (tmp_path / "ca.crt").read_bytes()
    for name in ("server.crt", "server.key"):
        (tmp_path / name).unlink()
    site_tls(tmp_path, "SBC", ["10.20.0.10"], now=NOW + dt.timedelta(days=5))
    ahead = (tmp_path / "server.crt").read_bytes()
    site_tls(tmp_path, "SBC", ["10.20.0.10"], now=NOW)
    assert (tmp_path / "server.crt").read_bytes() != ahead
    assert (tmp_path / "ca.crt").read_bytes() == ca  # devices need nothing new
    chain = [x509.load_pem_x509_certificate((tmp_path / "server.crt").read_bytes())]
    key = serialization.load_pem_private_key((tmp_path / "server.key").read_bytes(), None)
    root = [x509.load_pem_x509_certificate(ca)]
    brokertls.check_server(chain, key, root, brokertls.parse_hosts(["10.20.0.10"]), NOW)


def test_cli_refuses_a_site_ca_not_valid_yet_and_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A site CA made while the clock ran ahead: every device refuses the broker until
    its start, and only a new CA (a new ca.crt on every device) mends it."""
    out = tmp_path / "broker"
    for leaf in brokertls.LEAVES:  # a whole first run 5 days ahead
        site_tls(out, "SBC", ["10.20.0.10"], now=NOW + dt.timedelta(days=5), leaf=leaf)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    me = getpass.getuser()
    args = ["--cp", "SBC", "--lanes", "L01", "--out", str(out), "--tls-hosts", "10.20.0.10"]
    assert main([*args, "--run-as", me, "--agent-user", me]) == 2
    err = capsys.readouterr().err
    start = x509.load_pem_x509_certificate(before["ca.crt"]).not_valid_before_utc
    assert f"broker-config: the site CA is not valid until {start:%Y-%m-%d %H:%M} UTC" in err
    assert "remove ca.crt and ca.key and re-run, then copy the new ca.crt to every device" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing written


def test_the_site_cas_key_may_be_offline_until_a_new_certificate_is_needed(
    tmp_path: Path,
) -> None:
    site_tls(tmp_path, "SBC", ["10.20.0.10"])
    key = (tmp_path / "ca.key").read_bytes()
    (tmp_path / "ca.key").unlink()  # kept offline, as operations.md allows
    before = (tmp_path / "server.crt").read_bytes()
    site_tls(tmp_path, "SBC", ["10.20.0.10"])  # a re-run for a lane: nothing to issue
    assert (tmp_path / "server.crt").read_bytes() == before
    assert not (tmp_path / "ca.key").exists()
    with pytest.raises(TlsFilesError, match="key .* is not here"):
        site_tls(tmp_path, "SBC", ["10.20.0.11"])
    assert (tmp_path / "server.crt").read_bytes() == before
    (tmp_path / "ca.key").write_bytes(key)
    site_tls(tmp_path, "SBC", ["10.20.0.11"])
    assert (tmp_path / "server.crt").read_bytes() != before


def test_a_first_run_stopped_after_the_cas_key_goes_on(tmp_path: Path) -> None:
    site_tls(tmp_path, "SBC", ["10.20.0.10"])
    for name in ("ca.crt", "server.crt", "server.key"):
        (tmp_path / name).unlink()  # only the key was written
    site_tls(tmp_path, "SBC", ["10.20.0.10"])
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    chain = [x509.load_pem_x509_certificate((tmp_path / "server.crt").read_bytes())]
    key = serialization.load_pem_private_key((tmp_path / "server.key").read_bytes(), None)
    brokertls.check_server(chain, key, [ca], brokertls.parse_hosts(["10.20.0.10"]), NOW)


@pytest.mark.parametrize(
    ("names", "problem"),
    [([], "needs the names"), (["bad host!"], "neither"), (["a.b", "A.B"], "twice")],
)
def test_bad_host_names_are_refused(names: list[str], problem: str) -> None:
    with pytest.raises(TlsFilesError, match=problem):
        brokertls.parse_hosts(names)


def test_the_sites_own_chain_is_checked_and_copied(
    tmp_path: Path, site_pki: dict[str, Path]
) -> None:
    out = tmp_path / "broker"
    own_tls(out, site_pki["chain"], site_pki["key"], site_pki["root"], ["127.0.0.1"])
    assert (out / "server.crt").read_bytes() == site_pki["chain"].read_bytes()
    assert (out / "ca.crt").read_bytes() == site_pki["root"].read_bytes()
    assert (out / "server.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"key": "other_key"}, "not the server certificate's key"),
        ({"cert": "leaf"}, "would refuse"),  # the intermediate left out
        ({"hosts": ["10.20.0.10"]}, "as 10.20.0.10 would refuse"),
        ({"ca": "other_root"}, "would refuse"),  # another PKI's root
        ({"ca": "leaf"}, "not a CA's"),
    ],
)
def test_the_sites_own_files_are_refused_with_the_reason(
    tmp_path: Path, site_pki: dict[str, Path], change: dict[str, object], problem: str
) -> None:
    out = tmp_path / "broker"
    files = {"cert": "chain", "key": "key", "ca": "root"}
    files.update({k: v for k, v in change.items() if k != "hosts"})  # type: ignore[misc]
    hosts = change.get("hosts", ["127.0.0.1"])
    with pytest.raises(TlsFilesError, match=problem):
        own_tls(out, site_pki[files["cert"]], site_pki[files["key"]], site_pki[files["ca"]], hosts)  # type: ignore[arg-type]
    assert not out.exists()


def test_an_expired_or_future_certificate_is_refused_by_date(tmp_path: Path) -> None:
    root = _issue("Site Root", None, ca=True, days=(-2000, 2000))
    old = _issue("broker", root, ca=False, hosts=("127.0.0.1",), days=(-400, -3))
    new = _issue("broker", root, ca=False, hosts=("127.0.0.1",), days=(2, 400))
    _pem(tmp_path / "root.pem", root.cert)
    for issued, problem in ((old, "expired on"), (new, "not valid until")):
        _pem(tmp_path / "s.pem", issued.cert)
        _pem(tmp_path / "s.key", issued.key)
        with pytest.raises(TlsFilesError, match=problem):
            own_tls(
                tmp_path / "out",
                tmp_path / "s.pem",
                tmp_path / "s.key",
                tmp_path / "root.pem",
                ["127.0.0.1"],
            )
    assert not (tmp_path / "out").exists()


def test_cli_refuses_an_expired_certificate_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _issue("Site Root", None, ca=True, days=(-2000, 2000))
    old = _issue("broker", root, ca=False, hosts=("127.0.0.1",), days=(-400, -3))
    args = [
        "--cp",
        "SBC",
        "--lanes",
        "L01",
        "--out",
        str(tmp_path / "out"),
        "--tls-hosts",
        "127.0.0.1",
    ]
    args += ["--tls-cert", str(_pem(tmp_path / "s.pem", old.cert))]
    args += ["--tls-key", str(_pem(tmp_path / "s.key", old.key))]
    args += ["--tls-ca", str(_pem(tmp_path / "r.pem", root.cert))]
    args += ["--run-as", getpass.getuser(), "--agent-user", getpass.getuser()]
    assert main(args) == 2
    assert "the server certificate expired on" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_makes_a_site_ca_and_says_when_the_certificate_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--cp", "SBC", "--lanes", "L01", "--out", str(tmp_path), "--tls-hosts", "10.20.0.10"]
    me = getpass.getuser()
    # the day as of the run, taken around it (the module's NOW is from the collection,
    # which may be the day before: CI failed once on a run that crossed midnight)
    before = dt.datetime.now(dt.UTC)
    assert main([*args, "--run-as", me, "--agent-user", me, "--bind", "0.0.0.0"]) == 0
    after = dt.datetime.now(dt.UTC)
    out = capsys.readouterr().out
    ends = {(t + dt.timedelta(days=brokertls.SERVER_DAYS)).date() for t in (before, after)}
    assert any(f"the broker's certificate ends on {end:%Y-%m-%d}" in out for end in ends)
    api = "the local API's (api.crt, api.key: sync.toml [api] tls_cert, tls_key) ends on"
    assert any(f"{api} {end:%Y-%m-%d}" in out for end in ends)
    conf = (tmp_path / "mosquitto.conf").read_text()
    assert "listener 8883 0.0.0.0\n" in conf
    assert "listener 1883 127.0.0.1\n" in conf


def test_broker_urls_and_the_ca_file() -> None:
    assert parse_broker("mqtts://10.20.0.10").port == 8883
    assert parse_broker("mqtts://10.20.0.10:9000").tls
    assert not parse_broker("mqtt://10.20.0.10").tls
    with pytest.raises(ConfigError, match="mqtts://HOST:PORT"):
        parse_broker("https://10.20.0.10")
    with pytest.raises(ConfigError, match="cannot use the broker's CA file /nonexistent"):
        broker_tls_context("/nonexistent/ca.crt")


# -- served by mosquitto --------------------------------------------------------------


@dataclass
class TlsBroker:
    out: Path
    passwords: dict[str, str]
    tls_url: str  # devices, across the LAN
    local_url: str  # the server's own services

    def bus(
        self, user: str, client_id: str = "", *, url: str = "", cafile: str = "", **kw: object
    ) -> Bus:
        """``user``'s bus to this broker (its TLS listener unless ``url``), checking the
        certificate against this site's CA unless ``cafile`` says another."""
        return Bus(
            url or self.tls_url,
            client_id or user,
            username=user,
            password=self.passwords[user],
            cafile=cafile or str(self.out / "ca.crt"),
            **kw,  # type: ignore[arg-type]
        )


def _broker_files(out: Path, hosts: tuple[str, ...], *, local: bool = True) -> TlsBroker:
    port, local_port = free_port(), (free_port() if local else 0)
    passwords = write_broker_files(
        out,
        ControlPoint.SBC,
        ["L01"],
        port=port,
        run_as=getpass.getuser(),
        agent_user=getpass.getuser(),
        tls=TlsOptions(hosts=hosts, local_port=local_port),
    )
    local_url = f"mqtt://127.0.0.1:{local_port}" if local else ""
    return TlsBroker(out, passwords, f"mqtts://{hosts[0]}:{port}", local_url)


@contextmanager
def _served(broker: TlsBroker) -> Iterator[None]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    conf = broker.out / "mosquitto.conf"
    proc = subprocess.Popen(
        [exe, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        for url in (broker.tls_url, broker.local_url):
            if url:
                wait_port("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=5, proc=proc)
    except (TimeoutError, ProcessExited):
        proc.kill()
        pytest.fail(proc.communicate(timeout=5)[0].decode(errors="replace"))
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[TlsBroker]:
    broker = _broker_files(tmp_path / "broker", ("127.0.0.1", "localhost"))
    with _served(broker):
        yield broker


def _unconnected(bus: Bus, timeout: float = 15, settle: float = 0) -> str:
    """Start ``bus``, see it fail to connect (its ``problem`` said; then ``settle`` s
    more, paho trying again), stop it: the problem."""
    bus.start()
    try:
        deadline = time.monotonic() + timeout
        while not bus.problem and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(settle)
        assert not bus.connected.is_set()
    finally:
        bus.stop()
    assert bus.problem, "no reason given in time"
    return bus.problem


def _env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_the_agents_env_names_the_brokers_certificate(tmp_path: Path) -> None:
    """With TLS, each agent's .env (shards' too) names the broker's certificate, so the
    agent says when it nears its end without a line in sync.toml; a device's does not."""
    me = getpass.getuser()
    out = tmp_path / "broker"
    write_broker_files(
        out,
        ControlPoint.SBC,
        ["L01"],
        shards=["s1"],
        run_as=me,
        agent_user=me,
        tls=TlsOptions(hosts=("127.0.0.1",), local_port=0),
        port=8883,
    )
    for agent in ("sync", "sync-s1"):
        env = _env(out / f"{agent}.env")
        assert env[brokertls.BROKER_CERTIFICATE_ENV] == str(out / brokertls.SERVER_CERT)
    for device in ("xdb-L01", "aiop-L01", "avrs-L01", "monitor"):
        assert brokertls.BROKER_CERTIFICATE_ENV not in _env(out / f"{device}.env")
    plain = tmp_path / "plain"
    write_broker_files(plain, ControlPoint.SBC, ["L01"], run_as=me, agent_user=me)
    assert brokertls.BROKER_CERTIFICATE_ENV not in _env(plain / "sync.env")


def test_a_display_over_tls_gets_the_agents_instruction(
    tls_broker: TlsBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent on the server's plain loopback listener, the display across the LAN on
    TLS with nothing but its .env: its user, password and CA file."""
    env = _env(tls_broker.out / "xdb-L01.env")
    assert env["ROCARS_MQTT_CAFILE"] == str(tls_broker.out / "ca.crt")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    got: queue.Queue[bytes] = queue.Queue()
    display = Bus(tls_broker.tls_url, "xdb-L01")
    display.subscribe("rocars/SBC/lanes/L01/instruction", lambda t, p: got.put(p))
    agent = tls_broker.bus("sync", url=tls_broker.local_url)
    for bus in (display, agent):
        bus.start()
    try:
        assert display.wait_connected(10)
        assert agent.wait_connected(10)
        assert display.tls
        assert display.problem == ""
        agent.publish("rocars/SBC/lanes/L01/instruction", b"PROCEED", retain=True)
        assert got.get(timeout=10) == b"PROCEED"
    finally:
        display.stop()
        agent.stop()


def test_plain_mqtt_is_not_served_on_the_tls_listener(
    tls_broker: TlsBroker, caplog: pytest.LogCaptureFixture
) -> None:
    plain = tls_broker.bus("xdb-L01", url=tls_broker.tls_url.replace("mqtts", "mqtt"))
    assert not plain.tls
    with caplog.at_level(logging.WARNING, logger="rocars.bus"):
        problem = _unconnected(plain, settle=2.5)  # paho tries again every second
    assert "a TLS listener? then mqtts://" in problem
    # said once, however often paho tried again
    said = [r.getMessage() for r in caplog.records if "a TLS listener?" in r.getMessage()]
    assert len(said) == 1, said


def test_tls_to_the_plain_listener_says_so(tls_broker: TlsBroker) -> None:
    bus = tls_broker.bus("xdb-L01", url=tls_broker.local_url.replace("mqtt", "mqtts"))
    assert "a plain listener" in _unconnected(bus)


def test_a_login_cannot_take_the_agents_session_on_either_listener(
    tls_broker: TlsBroker,
) -> None:
    """mosquitto sets ``use_username_as_clientid`` per listener: both must have it."""
    will = Will(sync_status_topic("SBC"), b"offline", retain=False)
    agent = tls_broker.bus("sync", "sync-SBC-import", url=tls_broker.local_url, will=will)
    drops: list[bool] = []
    agent.on_connection(lambda up: None if up else drops.append(up))
    agent.start()
    try:
        assert agent.wait_connected(10)
        for url in (tls_broker.tls_url, tls_broker.local_url):
            intruder = tls_broker.bus("xdb-L01", "sync-SBC-import", url=url)
            intruder.start()
            try:
                assert intruder.wait_connected(10)
                time.sleep(0.5)
            finally:
                intruder.stop()
        assert drops == []
        assert agent.connected.is_set()
    finally:
        agent.stop()


def test_a_device_refuses_a_broker_its_ca_did_not_sign(
    tls_broker: TlsBroker, tmp_path: Path
) -> None:
    other_site = tmp_path / "other"
    site_tls(other_site, "MKT", ["127.0.0.1"])
    bus = tls_broker.bus("xdb-L01", cafile=str(other_site / "ca.crt"))
    problem = _unconnected(bus)
    assert "certificate is not trusted: unable to get local issuer certificate" in problem


def test_a_device_refuses_a_name_the_certificate_does_not_have(tmp_path: Path) -> None:
    broker = _broker_files(tmp_path / "broker", ("localhost",), local=False)
    conf = (broker.out / "mosquitto.conf").read_text()
    assert conf.count("listener ") == 1  # no plain listener asked for
    with _served(broker):
        by_name = broker.bus("xdb-L01")
        by_name.start()
        try:
            assert by_name.wait_connected(10)
        finally:
            by_name.stop()
        by_address = broker.bus("xdb-L01", url=broker.tls_url.replace("localhost", "127.0.0.1"))
        problem = _unconnected(by_address)
    assert "IP address mismatch, certificate is not valid for '127.0.0.1'" in problem
    assert "--tls-hosts" in problem


def test_a_broker_whose_certificate_expired_is_refused_with_the_reason(tmp_path: Path) -> None:
    """A certificate good when it was installed that has run out since: mosquitto still
    serves it; the devices must not take it, and their log says why."""
    broker = _broker_files(tmp_path / "broker", ("127.0.0.1",), local=False)
    ca_cert = x509.load_pem_x509_certificate((broker.out / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((broker.out / "ca.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    long_ago = NOW - dt.timedelta(days=brokertls.SERVER_DAYS + 10)
    hosts = brokertls.parse_hosts(["127.0.0.1"])
    cert = brokertls._server_certificate(key, ca_cert, ca_key, hosts, long_ago)
    assert cert.not_valid_after_utc < NOW
    _pem(broker.out / "server.crt", cert)
    _pem(broker.out / "server.key", key)
    with _served(broker):
        problem = _unconnected(broker.bus("xdb-L01"))
    assert "certificate is not trusted: certificate has expired" in problem


def test_a_reason_gives_way_to_the_next_attempts(tls_broker: TlsBroker, tmp_path: Path) -> None:
    """A certificate refused, then the broker gone: /health must not go on blaming the
    certificate (``problem`` is the last attempt's reason)."""
    other_site = tmp_path / "other"
    site_tls(other_site, "MKT", ["127.0.0.1"])
    with socket.socket() as spare:  # a port nothing listens on
        spare.bind(("127.0.0.1", 0))
        nobody = spare.getsockname()[1]
    bus = tls_broker.bus("xdb-L01", url=f"mqtts://127.0.0.1:{nobody}")
    assert "no broker answers there" in _unconnected(bus)
    refused = tls_broker.bus("xdb-L01", cafile=str(other_site / "ca.crt"))
    refused.start()
    try:
        assert wait_for_text(lambda: refused.problem, "not trusted")
        refused._client._port = nobody  # the broker moves away: what paho dials next
        assert wait_for_text(lambda: refused.problem, "no broker answers there")
    finally:
        refused.stop()


def wait_for_text(read: Any, text: str, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while text not in read():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_rerun_without_the_tls_options_is_refused_not_plain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adding a lane and forgetting --tls-hosts would have turned TLS off: refused, with
    nothing written, unless --no-tls says so."""
    me = getpass.getuser()
    base = ["--cp", "SBC", "--out", str(tmp_path), "--run-as", me, "--agent-user", me]
    assert main([*base, "--lanes", "L01", "--tls-hosts", "10.20.0.10"]) == 0
    conf = (tmp_path / "mosquitto.conf").read_text()
    assert main([*base, "--lanes", "L01,L02"]) == 2
    assert "repeat --tls-hosts" in capsys.readouterr().err
    assert (tmp_path / "mosquitto.conf").read_text() == conf
    assert not (tmp_path / "xdb-L02.env").exists()
    assert main([*base, "--lanes", "L01,L02", "--no-tls"]) == 0
    assert "certfile" not in (tmp_path / "mosquitto.conf").read_text()
