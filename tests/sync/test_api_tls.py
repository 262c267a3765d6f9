"""The local API over HTTPS: kiosks send drivers' passwords and codes across the booth LAN.

The agent serves with the certificate broker-config issues from the site CA
(``api.crt``, ``api.key``); the kiosk checks it against that CA
(``ROCARS_LOCAL_API_CAFILE``) and the url's host. Real uvicorn, real TLS, real files.
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from hardware_sim.launch import CentralProcess
from kiosk import cli as kiosk_cli
from kiosk.api import KioskClient
from rocars import brokertls
from rocars.broker import EmbeddedBroker
from rocars.brokerconf import TlsOptions, write_broker_files
from rocars.brokertls import API_CERT, API_KEY, CA_CERT, SERVER_CERT, SERVER_KEY, site_tls
from rocars.client import ApiError
from rocars.config import tls_client_context
from rocars.errors import RocarsError
from rocars.ids import ControlPoint
from rocars.messages import InstructionCode
from sync import api as sync_api
from sync.agent import SyncAgent, kiosk_calls_refused
from sync.api import CertificateWatch, ServerTls
from sync.config import ApiConfig
from tests.fixtures.asgi import proxy_page, serving
from tests.sync.agentkit import Watcher, agent_config, started_agent, wait_for

HOSTS = ["127.0.0.1", "localhost"]
NOW = dt.datetime.now(dt.UTC)
#: a CCRN to ask the bundles of: whether in any or none, the answer comes through the agent
CCRN = "1001041258"


def _site(folder: Path, *, now: dt.datetime = NOW) -> Path:
    """The site CA and the local API's certificate, as broker-config makes them."""
    site_tls(folder, "SBC", HOSTS, now=now, leaf=(API_CERT, API_KEY))
    return folder


def _tls_config(tmp_path: Path, broker: str, central: str, tls: Path, **api: Any) -> Any:
    return agent_config(
        tmp_path,
        broker,
        central,
        api={"port": 0, "tls_cert": str(tls / API_CERT), "tls_key": str(tls / API_KEY), **api},
    )


def _served_cert(port: int, cafile: Path) -> x509.Certificate:
    """The certificate a new connection to the local API is served."""
    context = tls_client_context(str(cafile), "the test's", "cafile")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _file_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


# -- the files ------------------------------------------------------------------------


def test_broker_config_gives_the_local_api_a_certificate_of_its_own(tmp_path: Path) -> None:
    me = getpass.getuser()
    write_broker_files(
        tmp_path,
        ControlPoint.SBC,
        ["L01"],
        port=8883,
        run_as=me,
        agent_user=me,
        tls=TlsOptions(hosts=("10.20.0.10", "cp-server.sbc")),
    )
    ca = _file_cert(tmp_path / CA_CERT)
    api, broker = _file_cert(tmp_path / API_CERT), _file_cert(tmp_path / SERVER_CERT)
    assert api.public_key() != broker.public_key()  # its own key: not the broker's
    assert (tmp_path / API_KEY).stat().st_mode & 0o777 == 0o600
    assert brokertls.names_of(api) == ["cp-server.sbc", "10.20.0.10"]
    # what a kiosk checks: the same site CA, every name
    chain = brokertls.load_server_pair(tmp_path / API_CERT, tmp_path / API_KEY)
    key = serialization.load_pem_private_key((tmp_path / API_KEY).read_bytes(), None)
    brokertls.check_server(chain, key, [ca], brokertls.parse_hosts(["10.20.0.10"]), NOW)
    # a re-run keeps it while good
    before = (tmp_path / API_CERT).read_bytes()
    write_broker_files(
        tmp_path,
        ControlPoint.SBC,
        ["L01", "L02"],
        port=8883,
        run_as=me,
        agent_user=me,
        tls=TlsOptions(hosts=("10.20.0.10", "cp-server.sbc")),
    )
    assert (tmp_path / API_CERT).read_bytes() == before


def test_the_sites_own_certificate_serves_the_local_api_too(tmp_path: Path) -> None:
    """With the site's own PKI there is one certificate for the server's names: the
    local API gets a copy, its key readable by the agent alone."""
    pki = _site(tmp_path / "pki")
    out = tmp_path / "broker"
    me = getpass.getuser()
    write_broker_files(
        out,
        ControlPoint.SBC,
        ["L01"],
        port=8883,
        run_as=me,
        agent_user=me,
        tls=TlsOptions(
            hosts=("127.0.0.1",), cert=pki / API_CERT, key=pki / API_KEY, ca=pki / CA_CERT
        ),
    )
    assert (out / API_CERT).read_bytes() == (out / SERVER_CERT).read_bytes()
    assert (out / API_KEY).read_bytes() == (out / SERVER_KEY).read_bytes()
    assert (out / API_KEY).stat().st_mode & 0o777 == 0o600


def test_the_kiosks_calls_are_not_served_in_clear_on_a_network_address() -> None:
    """Decided when the API starts, not when the config is read: a config of before
    TLS (host on the LAN, no certificate) still starts the lanes, and serves health and
    metrics there, but not the kiosks' calls."""
    refused = kiosk_calls_refused(ApiConfig(host="10.20.0.10"))
    assert refused.startswith("kiosks' calls not served: they would cross the LAN in clear")
    assert not kiosk_calls_refused(ApiConfig(host="10.20.0.10", plain_http=True))  # a lab
    assert not kiosk_calls_refused(ApiConfig(host="10.20.0.10", kiosk=False))  # health only
    for loopback in ("127.0.0.1", "::1", "localhost"):
        assert not kiosk_calls_refused(ApiConfig(host=loopback))
    tls = {"tls_cert": "/etc/rocars/broker/api.crt", "tls_key": "/etc/rocars/broker/api.key"}
    assert not kiosk_calls_refused(ApiConfig.model_validate({"host": "0.0.0.0", **tls}))
    with pytest.raises(ValidationError, match="tls_cert and tls_key go together"):
        ApiConfig(tls_cert=Path("/etc/rocars/broker/api.crt"))
    assert ApiConfig.model_validate({"tls_cert": "", "tls_key": ""}).tls_cert is None


def test_an_agent_that_refuses_the_kiosks_calls_answers_them_with_why(
    embedded_broker: EmbeddedBroker,
    central: CentralProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refused (here on loopback: tests never serve a network address), every kiosk call
    gets 503 ``kiosk_calls_refused`` with the reason, whatever its method and path (the
    kiosks' routes would have forwarded these, or refused the bodies); health and the
    lanes' records are still served."""
    reason = "kiosks' calls not served: they would cross the LAN in clear on 127.0.0.1"
    monkeypatch.setattr("sync.agent.kiosk_calls_refused", lambda api: reason)
    agent = started_agent(agent_config(tmp_path, embedded_broker.url, central.url))
    try:
        assert agent.api_url is not None
        assert reason in agent.status().detail
        with httpx.Client(base_url=agent.api_url, timeout=10) as http:
            for method, path in [
                ("GET", f"/v1/bundles?ccrn={CCRN}"),
                ("GET", f"/v1/cargo/{CCRN}"),
                ("POST", "/v1/cargo"),
                ("DELETE", "/v1/bundles/9000000001"),
                ("PUT", f"/v1/cargo/{CCRN}"),
            ]:
                answer = http.request(method, path, json={"packages": 1})
                assert answer.status_code == 503, (method, path)
                assert answer.json() == {
                    "error": "kiosk_calls_refused",
                    "detail": {"message": reason},
                }
            assert http.get("/health").status_code == 200
            assert http.get("/records").status_code == 200
    finally:
        agent.stop()


# -- served ---------------------------------------------------------------------------


def test_a_kiosk_reaches_the_local_api_over_tls_and_only_with_the_site_ca(
    embedded_broker: EmbeddedBroker,
    central: CentralProcess,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tls = _site(tmp_path / "tls")
    agent = started_agent(_tls_config(tmp_path, embedded_broker.url, central.url, tls))
    try:
        assert agent.api is not None
        assert agent.api_url is not None
        assert agent.api_url.startswith("https://127.0.0.1:")
        with KioskClient(agent.api_url, cafile=str(tls / CA_CERT)) as kiosk:
            answer = kiosk.query_bundles_for_ccrn(CCRN)  # the centre's, through the agent
            assert answer.stale_since is None
            assert all(CCRN in bundle.ccrns for bundle in answer.value)
        health = httpx.get(
            f"{agent.api_url}/health",
            verify=tls_client_context(str(tls / CA_CERT), "the test's", "cafile"),
            timeout=10,
        ).json()
        assert health["api"]["tls"]["names"] == ["localhost", "127.0.0.1"]
        assert health["api"]["tls"]["ends"].startswith(
            f"{_file_cert(tls / API_CERT).not_valid_after_utc:%Y-%m-%d}"
        )
        assert not [p for p in health["problems"] if "certificate" in p]

        # a kiosk that does not trust the site CA sends nothing, and says why
        with KioskClient(agent.api_url) as stranger, caplog.at_level(logging.WARNING):
            with pytest.raises(ApiError) as refused:
                stranger.query_cargo(CCRN)
        assert refused.value.key == "central_unreachable"
        assert refused.value.detail is None  # nothing was sent: not "maybe applied"
        assert isinstance(refused.value.__cause__, httpx.ConnectError)  # the cause kept
        assert (
            "TLS: the server's certificate is not trusted: unable to get local issuer"
            in caplog.text
        )
        assert "ROCARS_LOCAL_API_CAFILE" in caplog.text
        # nor does plain http get an answer from the TLS port
        with pytest.raises(httpx.HTTPError):
            httpx.get(agent.api_url.replace("https", "http") + "/health", timeout=10)
    finally:
        agent.stop()


def test_a_kiosk_told_https_for_a_plain_local_api_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tls = _site(tmp_path / "tls")
    with serving(proxy_page) as url:
        with KioskClient(url.replace("http", "https"), cafile=str(tls / CA_CERT)) as kiosk:
            with caplog.at_level(logging.WARNING), pytest.raises(ApiError) as refused:
                kiosk.query_cargo(CCRN)
    assert refused.value.key == "central_unreachable"
    assert "TLS: the server does not speak TLS on this port (plain http://?)" in caplog.text


def test_an_expired_certificate_still_starts_the_lanes_and_health_says_why(
    embedded_broker: EmbeddedBroker,
    central: CentralProcess,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The lanes never wait on the kiosks' certificate: the agent starts, /health (and so
    the sync status the console shows) names the expired certificate, and a kiosk refuses
    it with the reason."""
    tls = _site(tmp_path / "tls", now=NOW - dt.timedelta(days=brokertls.SERVER_DAYS + 5))
    agent = started_agent(_tls_config(tmp_path, embedded_broker.url, central.url, tls))
    try:
        end = _file_cert(tls / API_CERT).not_valid_after_utc
        assert f"local API certificate expired on {end:%Y-%m-%d %H:%M} UTC" in "; ".join(
            agent.problems()
        )
        assert "local API certificate expired" in agent.status().detail
        assert agent.api_url is not None
        with KioskClient(agent.api_url, cafile=str(tls / CA_CERT)) as kiosk:
            with caplog.at_level(logging.WARNING), pytest.raises(ApiError):
                kiosk.query_cargo(CCRN)
        assert "the server's certificate is not trusted: certificate has expired" in caplog.text
    finally:
        agent.stop()


def test_a_certificate_not_valid_yet_is_said_like_an_expired_one(tmp_path: Path) -> None:
    """A certificate made on a machine whose clock ran ahead (or served by one whose clock
    is behind) is refused by every kiosk and device, as an expired one; only its end was
    checked, and /health said nothing."""
    tls = _site(tmp_path / "tls", now=NOW + dt.timedelta(days=2))
    start = _file_cert(tls / API_CERT).not_valid_before_utc
    said = f"is not valid until {start:%Y-%m-%d %H:%M} UTC"
    served = ServerTls(tls / API_CERT, tls / API_KEY)
    assert [p for p in served.problems(NOW) if said in p]
    assert served.problems(start + dt.timedelta(minutes=1)) == []
    watch = CertificateWatch(tls / API_CERT, "broker certificate", "devices refuse it", "re-run")
    (problem,) = watch.problems(NOW)
    assert problem.startswith(f"broker certificate {said}: devices refuse it")
    assert watch.problems(start + dt.timedelta(minutes=1)) == []


def test_a_renewed_certificate_is_taken_up_without_a_restart(
    embedded_broker: EmbeddedBroker, central: CentralProcess, tmp_path: Path
) -> None:
    """broker-config re-run in the certificate's last 30 days: the running agent serves
    the new one to new connections within a status beat. A key that is not the served
    certificate's (a pair half copied in) leaves the old one served, and says so."""
    old_now = NOW - dt.timedelta(days=brokertls.SERVER_DAYS - 10)  # ends in 10 days
    tls = _site(tmp_path / "tls", now=old_now)
    agent = started_agent(_tls_config(tmp_path, embedded_broker.url, central.url, tls))
    ca = tls / CA_CERT
    try:
        assert agent.api is not None
        port = agent.api.port
        first = _file_cert(tls / API_CERT)
        assert _served_cert(port, ca) == first
        assert any(
            p.startswith(f"local API certificate ends on {first.not_valid_after_utc:%Y-%m-%d}")
            for p in agent.problems()
        )

        # half a pair: a new key before its certificate
        good_key = (tls / API_KEY).read_bytes()
        stray = ec.generate_private_key(ec.SECP256R1())
        brokertls._write(tls / API_KEY, brokertls._key_pem(stray), 0o600)
        assert wait_for(
            lambda: "is not the key of the certificate" in " ".join(agent.problems()), 10
        )
        assert "(the certificate before is still served)" in " ".join(agent.problems())
        assert _served_cert(port, ca) == first
        brokertls._write(tls / API_KEY, good_key, 0o600)

        _site(tls)  # the re-run: a new certificate from the same CA
        second = _file_cert(tls / API_CERT)
        assert second != first
        assert wait_for(lambda: _served_cert(port, ca) == second, 10)
        assert not [p for p in agent.problems() if "certificate" in p]
        assert agent.api.tls is not None
        assert agent.api.tls.end == second.not_valid_after_utc
    finally:
        agent.stop()


def test_files_that_do_not_load_keep_the_api_down_not_the_lanes(
    embedded_broker: EmbeddedBroker, central: CentralProcess, tmp_path: Path
) -> None:
    """A key that is not the certificate's (or not there, or not readable by the agent's
    user): the agent starts and its lanes clear trucks, the API is not served, the
    status says why; once the files load (at the next status beat) it is served."""
    tls = _site(tmp_path / "tls")
    good_key = (tls / API_KEY).read_bytes()
    (tls / API_KEY).write_bytes((tls / brokertls.CA_KEY).read_bytes())  # another key
    agent = started_agent(_tls_config(tmp_path, embedded_broker.url, central.url, tls))
    watcher = Watcher(embedded_broker.url)
    try:
        assert agent.api is None
        assert "local API not served: local API TLS:" in agent.status().detail
        assert "is not the key of the certificate" in agent.api_problem
        watcher.plate("L02", "ZZ1", confidence=0.1)  # a lane answers all the same
        watcher.expect("L02", InstructionCode.STOP_SEE_OFFICER, vrn="ZZ1")
        brokertls._write(tls / API_KEY, good_key, 0o600)
        assert wait_for(lambda: agent.api is not None, 40)  # its retries back off
        assert agent.api_problem == ""
        assert agent.api is not None
        assert _served_cert(agent.api.port, tls / CA_CERT) == _file_cert(tls / API_CERT)
    finally:
        watcher.close()
        agent.stop()


def test_a_pair_that_could_not_be_read_is_tried_again_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renewed key renamed in before it was given to the agent's user: the first try
    fails, the files do not change again (a chown leaves their stamp as it was), and
    the next try must still take them up."""
    tls = _site(tmp_path / "tls", now=NOW - dt.timedelta(days=100))
    served = ServerTls(tls / API_CERT, tls / API_KEY)
    _site(tls)  # no change: still good
    (tls / API_CERT).unlink()
    (tls / API_KEY).unlink()
    _site(tls)  # a new pair
    real = sync_api.load_server_pair
    calls = []

    def unreadable_once(cert: Path, key: Path) -> Any:
        calls.append(key)
        if len(calls) == 1:
            raise brokertls.TlsFilesError(f"cannot read {key}: Permission denied")
        return real(cert, key)

    monkeypatch.setattr(sync_api, "load_server_pair", unreadable_once)
    assert not served.refresh()
    assert "Permission denied (the certificate before is still served)" in served.problem
    assert served.refresh()  # the same files: taken up now
    assert served.problem == ""
    assert served.end == _file_cert(tls / API_CERT).not_valid_after_utc
    assert served._newest.minimum_version == ssl.TLSVersion.TLSv1_2


def test_the_kiosk_command_refuses_a_ca_file_it_cannot_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--headless", "--media", str(tmp_path)]
    assert kiosk_cli.main([*base, "--api", "https://127.0.0.1:1", "--cafile", "/nonexistent"]) == 2
    assert "cannot use the local API's CA file /nonexistent" in capsys.readouterr().err
    ca = str(_site(tmp_path / "tls") / CA_CERT)
    assert kiosk_cli.main([*base, "--api", "http://127.0.0.1:1", "--cafile", ca]) == 2
    assert "is not https://" in capsys.readouterr().err
    # plain http to another machine: refused, unless said out loud (nothing is sent)
    assert kiosk_cli.main([*base, "--api", "http://10.20.0.10:8710"]) == 2
    assert "drivers' passwords and codes would cross the LAN in clear" in capsys.readouterr().err
    assert kiosk_cli.main([*base, "--api", "http://10.20.0.10:8710", "--plain-http"]) == 0
    assert kiosk_cli.main([*base, "--api", "http:///v1"]) == 2  # no host: says so
    assert "url must be http(s)://HOST:PORT" in capsys.readouterr().err


# -- the agent's calls to the centre over HTTPS ----------------------------------------


@pytest.fixture
def tls_central(tmp_path: Path) -> Iterator[tuple[CentralProcess, Path]]:
    """The simulated centre over HTTPS, its certificate from a CA of its own."""
    pki = tmp_path / "centre-pki"
    site_tls(pki, "centre", ["127.0.0.1"], leaf=("centre.crt", "centre.key"))
    tls = (pki / "centre.crt", pki / "centre.key", pki / CA_CERT)
    with CentralProcess(tmp_path / "central", tls=tls) as central:
        yield central, pki / CA_CERT


def test_the_agent_pulls_from_a_centre_whose_ca_it_is_given(
    embedded_broker: EmbeddedBroker, tls_central: tuple[CentralProcess, Path], tmp_path: Path
) -> None:
    central, ca = tls_central
    assert central.url.startswith("https://")
    config = agent_config(
        tmp_path,
        embedded_broker.url,
        central.url,
        central={"url": central.url, "timeout_s": 2, "cafile": str(ca)},
    )
    agent = started_agent(config)  # caught up: the feed came over TLS
    try:
        assert agent.link.up
        assert agent.replica.last_sync_at() is not None
    finally:
        agent.stop()


def test_a_centre_the_agent_cannot_trust_is_down_and_says_why(
    embedded_broker: EmbeddedBroker, tls_central: tuple[CentralProcess, Path], tmp_path: Path
) -> None:
    central, _ = tls_central
    config = agent_config(tmp_path, embedded_broker.url, central.url)  # the system's CAs
    agent = SyncAgent(config)
    agent.start()
    try:
        why = "TLS: the server's certificate is not trusted: unable to get local issuer"
        assert wait_for(lambda: why in "; ".join(agent.problems()), 20), agent.problems()
        assert not agent.link.up
    finally:
        agent.stop()
    bad = agent_config(
        tmp_path,
        embedded_broker.url,
        central.url,
        central={"url": central.url, "cafile": "/nonexistent/ca.crt"},
    )
    with pytest.raises(RocarsError, match="cannot use the centre's CA file /nonexistent"):
        SyncAgent(bad).start()


#: a key on secp112r1, a curve OpenSSL reads and ``cryptography`` does not (made for this
#: test with ``openssl ecparam -name secp112r1 -genkey``; it guards nothing)
ODD_CURVE_KEY = """-----BEGIN EC PRIVATE KEY-----
MD4CAQEEDkKVpcjSgrrcwGrcgjkqoAcGBSuBBAAGoSADHgAEbIhqgeyeUyi/Fx95
x+uNdggTuuEhvNCOX4Buwg==
-----END EC PRIVATE KEY-----
"""


def test_a_key_of_a_kind_nobody_uses_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    """cryptography's UnsupportedAlgorithm is not a ValueError: it escaped, stopping the
    agent's start (or its heartbeat, on a renewal) instead of keeping the API down."""
    tls = _site(tmp_path / "tls")
    (tmp_path / "odd.key").write_text(ODD_CURVE_KEY)
    with pytest.raises(RocarsError, match="holds no unencrypted PEM private key we can use"):
        ServerTls(tls / API_CERT, tmp_path / "odd.key")
    served = ServerTls(tls / API_CERT, tls / API_KEY)
    brokertls._write(tls / API_KEY, ODD_CURVE_KEY.encode(), 0o600)
    assert not served.refresh()
    assert "we can use (the certificate before is still served)" in served.problem


def test_the_broker_certificate_near_its_end_is_named_until_renewed(
    embedded_broker: EmbeddedBroker,
    central: CentralProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every device refuses a broker whose certificate has ended: the agent names it
    in its last 30 days, and stops once broker-config has renewed it."""
    broker = tmp_path / "broker"
    site_tls(broker, "SBC", HOSTS, now=NOW - dt.timedelta(days=brokertls.SERVER_DAYS - 10))
    end = _file_cert(broker / SERVER_CERT).not_valid_after_utc
    config = agent_config(
        tmp_path, embedded_broker.url, central.url, broker_certificate=str(broker / SERVER_CERT)
    )
    agent = started_agent(config)
    try:
        said = f"broker certificate ends on {end:%Y-%m-%d}: re-run broker-config"
        assert any(p.startswith(said) for p in agent.problems()), agent.problems()
        assert said in agent.status().detail
        site_tls(broker, "SBC", HOSTS)  # the re-run: renewed
        assert not [p for p in agent.problems() if "broker certificate" in p]
        (broker / SERVER_CERT).write_text("not a certificate")
        assert any("holds no PEM certificate" in p for p in agent.problems())
        (broker / SERVER_CERT).unlink()
        assert any("cannot read it" in p for p in agent.problems())
    finally:
        agent.stop()
    # named by broker-config in the agent's .env, not in sync.toml: the same; the
    # config's own line wins over it
    site_tls(broker, "SBC", HOSTS, now=NOW - dt.timedelta(days=brokertls.SERVER_DAYS - 10))
    monkeypatch.setenv(brokertls.BROKER_CERTIFICATE_ENV, str(broker / SERVER_CERT))
    agent = SyncAgent(agent_config(tmp_path, embedded_broker.url, central.url))
    assert agent.broker_cert is not None
    assert any(p.startswith(said) for p in agent.broker_cert.problems(NOW))
    elsewhere = tmp_path / "elsewhere.crt"
    site_tls(tmp_path / "new", "SBC", HOSTS)
    elsewhere.write_bytes((tmp_path / "new" / SERVER_CERT).read_bytes())
    agent = SyncAgent(config.model_copy(update={"broker_certificate": elsewhere}))
    assert agent.broker_cert is not None
    assert agent.broker_cert.path == elsewhere
    # made now, checked now (the module's NOW is from the collection: a run over the
    # certificate's 10 minutes' backdate later took it for not valid yet, CI once)
    assert not agent.broker_cert.problems(dt.datetime.now(dt.UTC))
    expired = CertificateWatch(
        tmp_path / "x.crt", "broker certificate", "devices refuse it", "renew"
    )
    site_tls(tmp_path / "old", "SBC", HOSTS, now=NOW - dt.timedelta(days=brokertls.SERVER_DAYS + 1))
    (tmp_path / "x.crt").write_bytes((tmp_path / "old" / SERVER_CERT).read_bytes())
    (problem,) = expired.problems(NOW)
    assert problem.startswith("broker certificate expired on ")
    assert problem.endswith("UTC: devices refuse it (renew)")
