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
