"""Secrets from the environment: set but empty is not a secret; a bad file says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from rocars.config import ConfigError, secret


@pytest.mark.parametrize("where", ["env", "file"])
def test_an_empty_secret_is_refused_and_a_default_still_applies(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Environment=ROCARS_SITE_SECRET=`` in a unit file started an agent that signed
    every instruction with an empty key, which anyone can derive."""
    monkeypatch.delenv("ROCARS_SITE_SECRET", raising=False)
    if where == "env":
        monkeypatch.setenv("ROCARS_SITE_SECRET", "")
    else:
        empty = tmp_path / "site.secret"
        empty.write_text("\n")
        monkeypatch.setenv("ROCARS_SITE_SECRET_FILE", str(empty))
    with pytest.raises(ConfigError, match="not set or empty"):
        secret("site_secret")
    assert secret("site_secret", "") == ""  # an optional one (a broker password) stays optional


def test_a_secret_file_that_is_not_text_is_a_config_error_naming_no_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tmp_path / "site.secret"
    binary.write_bytes(b"\xff\xfe\x9dsecret")
    monkeypatch.delenv("ROCARS_SITE_SECRET", raising=False)
    monkeypatch.setenv("ROCARS_SITE_SECRET_FILE", str(binary))
    with pytest.raises(ConfigError, match="not UTF-8") as err:
        secret("site_secret")
    assert str(err.value).endswith(": not UTF-8 text")  # not the decoder's note of a byte


def test_a_config_error_names_the_item_and_never_echoes_its_value(tmp_path: Path) -> None:
    from rocars.config import SiteConfig, load_config

    path = tmp_path / "site.toml"
    path.write_text('cp = "SBC"\npassword = "hunter2-broker-pw"\n')
    with pytest.raises(ConfigError, match="password") as err:
        load_config(SiteConfig, path)
    assert "hunter2" not in str(err.value)
    path.write_bytes(b'cp = "SBC" # \xa4\xa4\n')  # a Big5 comment
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(SiteConfig, path)
    path.write_text('cp = "SBC"\n')
    with pytest.raises(ConfigError, match="not a table"):
        load_config(SiteConfig, path, {"cp.x": 1})


def test_a_broker_url_with_a_password_is_refused_without_echoing_it() -> None:
    from rocars.config import BrokerAddress, parse_broker

    assert parse_broker("mqtt://127.0.0.1:1884") == BrokerAddress("127.0.0.1", 1884, False)
    with pytest.raises(ConfigError) as err:
        parse_broker("mqtt://sync:hunter2@127.0.0.1:1883")
    assert "hunter2" not in str(err.value)


def test_a_certificate_signature_time_needs_an_offset() -> None:
    from pydantic import ValidationError

    from rocars.models import CertificateAuth

    fields = {"certificate": "C" * 64, "signature": "S" * 16}
    assert CertificateAuth.model_validate({**fields, "signed_at": "2026-11-21T08:00:00Z"})
    with pytest.raises(ValidationError, match="timezone info"):
        CertificateAuth.model_validate({**fields, "signed_at": "2026-11-21T08:00:00"})


#: a strong site secret, as docs/operations.md says to make one (64 hex digits)
STRONG = "19076c8989aaeec084d6a4449d299e0f3b219a338b005a06b81e4e8daf7730af"


@pytest.fixture
def no_site_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROCARS_SITE_SECRET", raising=False)
    monkeypatch.delenv("ROCARS_SITE_SECRET_FILE", raising=False)


@pytest.mark.usefixtures("no_site_secret")
def test_a_site_secret_is_the_same_key_from_a_file_with_a_bom_or_a_padded_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An editor's byte-order mark survived in the file's value and the environment's was
    not stripped at all: each gave the displays another lane key than the agent's."""
    from rocars.signing import lane_key

    want = lane_key(STRONG.encode(), "SBC", "L01")
    keys = []
    monkeypatch.setenv("ROCARS_SITE_SECRET", STRONG)
    keys.append(lane_key(secret("site_secret").encode(), "SBC", "L01"))
    monkeypatch.setenv("ROCARS_SITE_SECRET", f" {STRONG}\n")
    keys.append(lane_key(secret("site_secret").encode(), "SBC", "L01"))
    monkeypatch.setenv("ROCARS_SITE_SECRET", f"\ufeff{STRONG}")
    keys.append(lane_key(secret("site_secret").encode(), "SBC", "L01"))
    monkeypatch.delenv("ROCARS_SITE_SECRET")
    path = tmp_path / "site.secret"
    path.write_text(STRONG + "\n", encoding="utf-8-sig")  # a BOM before it
    monkeypatch.setenv("ROCARS_SITE_SECRET_FILE", str(path))
    keys.append(lane_key(secret("site_secret").encode(), "SBC", "L01"))
    assert keys == [want] * 4


@pytest.mark.usefixtures("no_site_secret")
@pytest.mark.parametrize(
    "weak",
    [
        "x",
        "0123abcd",
        "ab" * 15 + "a",  # 31 hex digits
        "short passphrase of 31 chars...",
        # long enough, and guessed at once
        "0" * 64,
        "ab" * 16,
        "0123456789abcdef" * 2,
        "passwordpasswordpasswordpassword1"[:-1],
        "abcabcabcabcabcabcabcabcabcabcab",  # a text repeated, cut where it ends
        "aabbaabbaabbaabbaabbaabbaabbaabbccdd",  # 6 different characters
    ],
)
@pytest.mark.parametrize("where", ["env", "file"])
def test_a_weak_site_secret_is_refused_naming_where_not_what(
    weak: str, where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "site.secret"
    if where == "env":
        monkeypatch.setenv("ROCARS_SITE_SECRET", weak)
    else:
        path.write_text(weak + "\n")
        monkeypatch.setenv("ROCARS_SITE_SECRET_FILE", str(path))
    with pytest.raises(ConfigError) as err:
        secret("site_secret")
    assert err.value.key == "secret_weak"
    assert ("ROCARS_SITE_SECRET" if where == "env" else str(path)) in str(err.value)
    if len(weak) > 3:  # never its value ("x" is in any sentence)
        assert weak not in str(err.value)
        assert weak not in str(err.value.as_json())
    assert "token_hex(32)" in str(err.value)  # how to make one


@pytest.mark.usefixtures("no_site_secret")
@pytest.mark.parametrize(
    "strong",
    [
        STRONG,
        STRONG.upper(),
        "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq4A=",  # base64 of 32 bytes
        "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq4A",  # URL-safe, unpadded: 43 characters
        "test-site-secret-not-for-production",  # tests/conftest.py's
        # whatever the form, 32 characters or more: a rule by form refused these, and a
        # site whose agent and displays refuse their secret stops whole
        "5c266f211db714ff3f2c4f0c96bdf02a",  # 32 hex digits
        "7f9041e7d95f74f5e63cc6441cf18c96c46504370b0a319b",  # 48 hex digits
        "correct horse battery staple 421",  # a passphrase, 32 characters
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY",  # 32 letters and digits (base64 of 24 bytes)
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk",  # 40 of them
    ],
)
def test_a_strong_site_secret_is_taken(strong: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROCARS_SITE_SECRET", strong)
    assert secret("site_secret") == strong
    # other secrets are as the broker and the centre issue them: no strength asked
    monkeypatch.setenv("ROCARS_MQTT_PASSWORD", " pw\n")
    assert secret("mqtt_password") == "pw"


@pytest.mark.parametrize("url", ["mqtt://10.0.0.5:1883", "10.0.0.5:1883", "tcp://cp-server.sbc"])
def test_a_plain_broker_url_to_another_machine_with_credentials_is_refused(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device's password went in clear across the booth LAN at every (re)connection."""
    from rocars.config import PLAIN_CREDENTIALS, BrokerAddress, parse_broker

    monkeypatch.delenv("ROCARS_MQTT_PLAIN", raising=False)
    with pytest.raises(ConfigError, match="mqtts://") as err:
        parse_broker(url, credentials=True)
    assert err.value.key == PLAIN_CREDENTIALS
    assert "ROCARS_MQTT_PLAIN=1" in str(err.value)
    assert not parse_broker(url).tls  # no credentials: nothing to give away
    assert parse_broker(url, credentials=True, allow_plain=True).host != ""  # a lab says so
    monkeypatch.setenv("ROCARS_MQTT_PLAIN", "1")
    assert not parse_broker(url, credentials=True).tls
    monkeypatch.delenv("ROCARS_MQTT_PLAIN")
    assert parse_broker("mqtts://10.0.0.5", credentials=True) == BrokerAddress(
        "10.0.0.5", 8883, True
    )
    for local in ("mqtt://127.0.0.1:1883", "mqtt://localhost", "mqtt://[::1]:1883"):
        assert not parse_broker(local, credentials=True).tls  # never leaves the machine
