"""Certificate signatures against the real centre: the good case and every refusal."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from hardware_sim.certs import certificate_auth, load_p12, sign_request
from hardware_sim.launch import CentralProcess
from rocars.client import RocarsClient
from rocars.models import BundleStatus, CargoStatus, CertificateAuth, cancel_op
from rocars.timeutil import utc_now
from tests.hardware_sim import centralkit as kit


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CentralProcess]:
    proc = CentralProcess(tmp_path_factory.mktemp("central") / "data", seed=11, test_clock=True)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def client(shared: CentralProcess) -> Iterator[RocarsClient]:
    with RocarsClient(shared.url, token=shared.token) as c:
        yield c


def signed_bundle(
    acc: dict[str, Any], vrn: str, ccrns: list[str], **sign_kw: Any
) -> dict[str, Any]:
    body = kit.bundle_body(acc, vrn, ccrns)
    body["auth"] = kit.cert_auth(sign_kw.pop("signer", acc), "bundle", body, **sign_kw)
    return body


def post(shared: CentralProcess, body: dict[str, Any]) -> httpx.Response:
    with kit.http(shared) as h:
        return h.post("/v1/bundles", json=body)


def test_bundle_and_cancel_signed_by_certificate(
    client: RocarsClient, shared: CentralProcess
) -> None:
    acc = kit.account(shared, "valid", 0)
    c1, c2 = kit.new_cargo(client), kit.new_cargo(client)
    r = post(shared, signed_bundle(acc, "CE1", [c1.ccrn, c2.ccrn]))
    assert r.status_code == 200, r.text
    ubr = r.json()["ubr"]
    cancel: dict[str, Any] = {"account": acc["account"], "password": acc["password"]}
    with kit.http(shared) as h:
        body = {**cancel, "auth": kit.cert_auth(acc, cancel_op(ubr, c1.ccrn), cancel)}
        # a signature names its target: it cannot remove another CCRN of the bundle ...
        r = h.request("DELETE", f"/v1/bundles/{ubr}/ccrns/{c2.ccrn}", json=body)
        assert (r.status_code, r.json()["error"]) == (403, "cert_signature_invalid")
        r = h.request("DELETE", f"/v1/bundles/{ubr}/ccrns/{c1.ccrn}", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["ccrns"] == [c2.ccrn]
        # ... nor cancel the whole bundle
        r = h.request("DELETE", f"/v1/bundles/{ubr}", json=body)
        assert (r.status_code, r.json()["error"]) == (403, "cert_signature_invalid")
        body = {**cancel, "auth": kit.cert_auth(acc, cancel_op(ubr), cancel)}
        r = h.request("DELETE", f"/v1/bundles/{ubr}", json=body)
        assert r.status_code == 200, r.text
    assert client.get_bundle(ubr).status is BundleStatus.CANCELLED


def test_signature_over_the_raw_body_verifies(client: RocarsClient, shared: CentralProcess) -> None:
    """A kiosk may sign the fields as typed (lower case, spaces); the centre accepts that too."""
    acc = kit.account(shared, "valid", 1)
    cargo = kit.new_cargo(client)
    r = post(shared, signed_bundle(acc, "ce 2", [cargo.ccrn]))
    assert r.status_code == 200, r.text
    assert r.json()["vrn"] == "CE2"


@pytest.mark.parametrize(
    ("case", "key"),
    [("expired", "cert_expired"), ("revoked", "cert_revoked"), ("foreign", "cert_untrusted")],
)
def test_bad_certificates_are_refused(
    client: RocarsClient, shared: CentralProcess, case: str, key: str
) -> None:
    acc = kit.account(shared, case)
    cargo = kit.new_cargo(client)
    r = post(shared, signed_bundle(acc, "CE3", [cargo.ccrn]))
    assert (r.status_code, r.json()["error"]) == (403, key)
    assert client.get_cargo(cargo.ccrn).status is CargoStatus.SUBMITTED


@pytest.mark.parametrize(
    "extensions",
    [
        pytest.param({"usage": kit.key_usage(key_encipherment=True)}, id="encipher-only"),
        pytest.param({"ca": True, "usage": kit.key_usage(key_cert_sign=True)}, id="ca"),
        pytest.param({"extra": [(kit.UNKNOWN_EXTENSION, True)]}, id="unknown-critical"),
    ],
)
def test_a_certificate_that_may_not_sign_is_refused_and_changes_nothing(
    client: RocarsClient, shared: CentralProcess, extensions: dict[str, Any]
) -> None:
    """Issued by the centre's own CA, for the right account, correctly signed: still not
    a driver's signing certificate."""
    acc = kit.account(shared, "valid", 0)
    cargo = kit.new_cargo(client)
    cert, key = kit.custom_leaf(shared.data_dir / "certs", acc["account"], **extensions)
    body = kit.bundle_body(acc, "CE5", [cargo.ccrn])
    body["auth"] = certificate_auth(cert, key, "bundle", body)
    cursor = client.changes("", 10_000).next
    r = post(shared, body)
    assert r.status_code == 403, r.text
    answer = r.json()
    assert answer["error"] == "cert_not_for_signing"
    assert "may not sign" in answer["detail"]["message"]
    assert client.get_cargo(cargo.ccrn).status is CargoStatus.SUBMITTED
    assert client.changes(cursor, 100).changes == []


def test_an_unknown_extension_not_marked_critical_is_ignored(
    client: RocarsClient, shared: CentralProcess
) -> None:
    acc = kit.account(shared, "valid", 1)
    cargo = kit.new_cargo(client)
    cert, key = kit.custom_leaf(
        shared.data_dir / "certs", acc["account"], extra=[(kit.UNKNOWN_EXTENSION, False)]
    )
    body = kit.bundle_body(acc, "CE10", [cargo.ccrn])
    body["auth"] = certificate_auth(cert, key, "bundle", body)
    r = post(shared, body)
    assert r.status_code == 200, r.text
    assert client.get_cargo(cargo.ccrn).status is CargoStatus.BUNDLED


def test_tampered_wrong_account_and_stale_signatures(
    client: RocarsClient, shared: CentralProcess
) -> None:
    acc, other = kit.account(shared, "valid", 2), kit.account(shared, "valid", 0)
    c1, c2 = kit.new_cargo(client), kit.new_cargo(client)
    tampered = signed_bundle(acc, "CE4", [c1.ccrn])
    tampered["ccrns"] = [c2.ccrn]
    r = post(shared, tampered)
    assert (r.status_code, r.json()["error"]) == (403, "cert_signature_invalid")
    garbled = signed_bundle(acc, "CE4", [c1.ccrn])
    garbled["auth"]["signature"] = base64.b64encode(b"x" * 256).decode()
    assert post(shared, garbled).json()["error"] == "cert_signature_invalid"
    # Signed properly, but with someone else's certificate.
    r = post(shared, signed_bundle(acc, "CE4", [c1.ccrn], signer=other))
    assert (r.status_code, r.json()["error"]) == (403, "cert_account_mismatch")
    stale = signed_bundle(acc, "CE4", [c1.ccrn], signed_at=utc_now() - timedelta(minutes=6))
    r = post(shared, stale)
    assert (r.status_code, r.json()["error"]) == (403, "cert_signature_stale")
    future = signed_bundle(acc, "CE4", [c1.ccrn], signed_at=utc_now() + timedelta(minutes=6))
    assert post(shared, future).json()["error"] == "cert_signature_stale"
    not_pem = signed_bundle(acc, "CE4", [c1.ccrn])
    not_pem["auth"]["certificate"] = "-----BEGIN CERTIFICATE-----\n" + "A" * 80 + "\n-----END"
    assert post(shared, not_pem).json()["error"] == "cert_untrusted"
    assert client.get_cargo(c1.ccrn).status is CargoStatus.SUBMITTED
    assert post(shared, signed_bundle(acc, "CE4", [c1.ccrn])).status_code == 200


@pytest.mark.parametrize("signed_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_signed_at_outside_the_years_utc_holds_is_a_validation_error(
    client: RocarsClient, shared: CentralProcess, signed_at: str
) -> None:
    """In UTC, 0001-01-01T00:00:00+14:00 is before year 1: formatting it for the signed
    content overflowed, a 500. Now it is refused with the request's fields (422), and a
    time with another offset is the same instant in UTC."""
    acc = kit.account(shared, "valid", 2)
    cargo = kit.new_cargo(client)
    body = signed_bundle(acc, "CE8", [cargo.ccrn])
    ubr = post(shared, body).json()["ubr"]
    cancel: dict[str, Any] = {"account": acc["account"], "password": acc["password"]}
    cancel["auth"] = kit.cert_auth(acc, cancel_op(ubr), cancel) | {"signed_at": signed_at}
    with kit.http(shared) as h:
        r = h.request("DELETE", f"/v1/bundles/{ubr}", json=cancel)
    assert (r.status_code, r.json()["error"]) == (422, "validation_error"), r.text
    assert [d["field"] for d in r.json()["detail"]] == ["auth.signed_at"]
    assert client.get_bundle(ubr).status is BundleStatus.ACTIVE
    with pytest.raises(ValidationError, match="out of range"):
        CertificateAuth.model_validate(cancel["auth"])
    hk = CertificateAuth.model_validate(cancel["auth"] | {"signed_at": "2026-11-22T09:00:00+08:00"})
    assert hk.signed_at == datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    assert hk.signed_at.tzinfo is UTC


def test_a_signed_request_replayed_is_refused_and_changes_nothing(
    client: RocarsClient, shared: CentralProcess
) -> None:
    """A captured bundle request, sent again after the driver cancelled that bundle, must
    not bundle the CCRNs again; a captured cancel sent again is refused too. The driver
    signing the same request anew is fine."""
    acc = kit.account(shared, "valid", 1)
    c1, c2 = kit.new_cargo(client), kit.new_cargo(client)
    bundle = signed_bundle(acc, "CE6", [c1.ccrn, c2.ccrn])
    r = post(shared, bundle)
    assert r.status_code == 200, r.text
    ubr = r.json()["ubr"]
    cancel: dict[str, Any] = {"account": acc["account"], "password": acc["password"]}
    cancel["auth"] = kit.cert_auth(acc, cancel_op(ubr), cancel)
    with kit.http(shared) as h:
        assert h.request("DELETE", f"/v1/bundles/{ubr}", json=cancel).status_code == 200
    assert client.get_cargo(c1.ccrn).status is CargoStatus.SUBMITTED
    cursor = client.changes("", 10_000).next
    r = post(shared, bundle)
    assert (r.status_code, r.json().get("error")) == (403, "cert_signature_used"), r.text
    message = r.json()["detail"]["message"]
    assert "already used" in message
    assert "sign again" in message
    with kit.http(shared) as h:
        r = h.request("DELETE", f"/v1/bundles/{ubr}", json=cancel)
    assert (r.status_code, r.json().get("error")) == (403, "cert_signature_used"), r.text
    # a used signature on other content is still first of all a signature that does not
    # verify, and a wrong password is still a wrong password
    tampered = {**bundle, "ccrns": [c1.ccrn]}
    r = post(shared, tampered)
    assert (r.status_code, r.json()["error"]) == (403, "cert_signature_invalid")
    r = post(shared, {**bundle, "password": "000000" if acc["password"] != "000000" else "1"})
    assert (r.status_code, r.json()["error"]) == (403, "credentials_invalid")
    assert client.changes(cursor, 100).changes == []
    assert client.get_cargo(c1.ccrn).status is CargoStatus.SUBMITTED
    assert client.get_cargo(c2.ccrn).status is CargoStatus.SUBMITTED
    assert [b.ubr for b in client.bundles_for_ccrn(c1.ccrn)] == [ubr]
    assert client.get_bundle(ubr).status is BundleStatus.CANCELLED
    # the kiosk signs again (a new signed_at, so a new signature): accepted
    r = post(shared, signed_bundle(acc, "CE6", [c1.ccrn, c2.ccrn]))
    assert r.status_code == 200, r.text
    assert r.json()["ubr"] != ubr


def test_a_signature_is_used_even_when_its_request_then_fails(
    client: RocarsClient, shared: CentralProcess
) -> None:
    """Refused for a bundled CCRN once, the same signed request must not pass later, when
    the CCRN is free again."""
    acc = kit.account(shared, "valid", 0)
    cargo = kit.new_cargo(client)
    r = post(shared, signed_bundle(acc, "CE9", [cargo.ccrn]))
    assert r.status_code == 200, r.text
    ubr = r.json()["ubr"]
    again = signed_bundle(acc, "CE9", [cargo.ccrn])
    r = post(shared, again)
    assert (r.status_code, r.json()["error"]) == (409, "ccrn_already_bundled")
    client.cancel_bundle(ubr, kit.cancel_request(acc))
    r = post(shared, again)
    assert (r.status_code, r.json().get("error")) == (403, "cert_signature_used"), r.text
    assert client.get_cargo(cargo.ccrn).status is CargoStatus.SUBMITTED


def test_one_signed_request_sent_many_times_at_once_works_once(
    client: RocarsClient, shared: CentralProcess
) -> None:
    acc = kit.account(shared, "valid", 2)
    body = signed_bundle(acc, "CE7", [kit.new_cargo(client).ccrn])
    copies = 8
    start = threading.Barrier(copies)

    def send(_: int) -> tuple[int, dict[str, Any]]:
        with kit.http(shared) as h:
            start.wait(timeout=10)
            r = h.post("/v1/bundles", json=body)
        return r.status_code, r.json()

    with ThreadPoolExecutor(max_workers=copies) as pool:
        answers = list(pool.map(send, range(copies)))
    assert sorted(status for status, _ in answers) == [200] + [403] * (copies - 1), answers
    assert {a["error"] for s, a in answers if s == 403} == {"cert_signature_used"}


def test_a_used_signature_stays_used_after_a_restart(central: CentralProcess) -> None:
    with RocarsClient(central.url, token=central.token) as client:
        acc = kit.account(central, "valid", 0)
        cargo = kit.new_cargo(client)
        body = signed_bundle(acc, "CE8", [cargo.ccrn])
        r = post(central, body)
        assert r.status_code == 200, r.text
        ubr = r.json()["ubr"]
        cancel: dict[str, Any] = {"account": acc["account"], "password": acc["password"]}
        cancel["auth"] = kit.cert_auth(acc, cancel_op(ubr), cancel)
        with kit.http(central) as h:
            assert h.request("DELETE", f"/v1/bundles/{ubr}", json=cancel).status_code == 200
    central.stop()
    central.start()
    r = post(central, body)
    assert (r.status_code, r.json().get("error")) == (403, "cert_signature_used"), r.text
    with RocarsClient(central.url, token=central.token) as client:
        assert client.get_cargo(cargo.ccrn).status is CargoStatus.SUBMITTED


def test_p12_needs_its_pin(shared: CentralProcess) -> None:
    acc = kit.account(shared, "valid", 0)
    path = Path(acc["cert_path"])
    cert, _key = load_p12(path, acc["cert_pin"])
    assert acc["account"] in cert.subject.rfc4514_string()
    with pytest.raises(ValueError, match=r"(?i)password|decrypt|invalid"):
        sign_request(path, "000000" if acc["cert_pin"] != "000000" else "111111", "bundle", {})
