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
    with pytest.raises(ValidationError, match="offset"):
        CertificateAuth.model_validate({**fields, "signed_at": "2026-11-21T08:00:00"})
