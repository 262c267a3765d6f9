"""Typed config: one TOML file per service, secrets from the environment.

A service declares a pydantic model deriving from ``ServiceConfig``; ``load_config``
reads the TOML file (or none: defaults) and refuses unknown keys. Secrets never live in
the file: ``secret("NAME")`` reads ``ROCARS_NAME`` or the file named by ``ROCARS_NAME_FILE``.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rocars.errors import ConfigError
from rocars.ids import ControlPoint, Direction

C = TypeVar("C", bound="ServiceConfig")


class ServiceConfig(BaseModel):
    """Base of every service config: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BusConfig(BaseModel):
    """Where the MQTT broker is. Empty ``url`` means: start the embedded broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        default="",
        description="mqtt://HOST:PORT, or mqtts:// for TLS; empty for the embedded broker",
    )
    username: str = Field(
        default="", max_length=64, description="broker user; password from ROCARS_MQTT_PASSWORD"
    )
    keepalive: int = Field(default=10, ge=2, le=300, description="MQTT keep-alive, seconds")


class SiteConfig(BaseModel):
    """Which control point and direction this installation serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cp: ControlPoint = Field(default=ControlPoint.SBC, description="control point code")
    direction: Direction = Field(default=Direction.IMPORT, description="import or export lanes")


def load_config(
    model: type[C], path: str | Path | None, overrides: dict[str, Any] | None = None
) -> C:
    """Read ``path`` (TOML) into ``model``; ``overrides`` (e.g. from the command line) win."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as err:
            raise ConfigError(f"cannot read config {path}: {err}") from err
        except UnicodeDecodeError as err:
            raise ConfigError(f"config {path} is not UTF-8 text ({err.reason})") from err
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config {path} is not valid TOML: {err}") from err
    for key, value in (overrides or {}).items():
        _set_dotted(data, key, value)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        # each wrong item by name and reason, never its value: a password put in the
        # file by mistake would go to the journal with the error
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or '(file)'}: {e['msg']}"
            for e in err.errors(include_url=False, include_input=False)
        )
        raise ConfigError(f"config {path or '(defaults)'}: {problems}") from err


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {})
        if not isinstance(data, dict):
            raise ConfigError(f"{dotted}: {part} in the config is not a table")
    data[last] = value


def secret(name: str, default: str | None = None) -> str:
    """A secret from ``ROCARS_{NAME}``, or the file named in ``ROCARS_{NAME}_FILE``."""
    env = f"ROCARS_{name.upper()}"
    file_env = f"{env}_FILE"
    value = ""
    if env in os.environ:
        value = os.environ[env]
    elif file_env in os.environ:
        try:
            value = Path(os.environ[file_env]).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            # the error names the file, never its bytes
            problem = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            raise ConfigError(f"cannot read secret file {os.environ[file_env]}: {problem}") from err
    # set but empty (``Environment=ROCARS_SITE_SECRET=``) is not a secret: an empty
    # site secret would sign every instruction with a key anyone can derive
    if value:
        return value
    if default is not None:
        return default
    raise ConfigError(
        f"secret {env} is not set or empty (nor {file_env})", key="secret_missing", name=env
    )


#: URL schemes of a broker: plain TCP, or TLS (the broker's certificate checked)
PLAIN_SCHEMES = ("mqtt", "tcp")
TLS_SCHEMES = ("mqtts", "ssl")


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool


def parse_broker(url: str) -> BrokerAddress:
    """``mqtt://HOST:PORT`` (or ``HOST:PORT``; port 1883 if none) or ``mqtts://HOST:PORT``
    (TLS, port 8883 if none) to where the broker is and whether to speak TLS to it."""
    split = urlsplit(url if "://" in url else f"mqtt://{url}")
    if split.username is not None or split.password is not None:
        # ignored before, and logged and printed with the password in it
        raise ConfigError(
            "a broker url carries no user or password: set ROCARS_MQTT_USERNAME and "
            "ROCARS_MQTT_PASSWORD (the url is logged)"
        )
    scheme = split.scheme.lower()
    if scheme not in PLAIN_SCHEMES + TLS_SCHEMES or not split.hostname:
        raise ConfigError(
            f"broker url must look like mqtt://HOST:PORT or mqtts://HOST:PORT, got {url!r}"
        )
    tls = scheme in TLS_SCHEMES
    try:
        port = split.port or (8883 if tls else 1883)
    except ValueError as err:
        raise ConfigError(f"bad port in broker url {url!r}") from err
    return BrokerAddress(split.hostname, port, tls)


def tls_client_context(cafile: str, what: str, key: str) -> ssl.SSLContext:
    """A client's TLS context: TLS 1.2 or later, the server's certificate checked against
    ``cafile`` (else the system's CAs) and its name against the url's host. An unreadable
    CA file is a ``ConfigError`` (``key``) now, not a connection that never comes."""
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile or None)
    except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
        problem = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ConfigError(f"cannot use {what} CA file {cafile}: {problem}", key=key) from err
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def is_loopback(host: str) -> bool:
    """``host`` is this machine only: nothing sent to it crosses a network."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_verify(url: str, cafile: str, what: str) -> ssl.SSLContext | bool:
    """What an ``https://`` server's certificate is checked against, for httpx: ``cafile``
    (else the system's CAs). ``ConfigError`` for an unreadable CA file, a CA file for a
    plain ``http://`` url, or a url that is neither."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} url must be http(s)://HOST:PORT, not {url!r}", key="bad_url")
    if parts.scheme == "http":
        if cafile:
            raise ConfigError(f"a CA file for {what}, but {url} is not https://", key="bad_url")
        return True
    return tls_client_context(cafile, f"{what}'s", "cafile")


def tls_problem(err: BaseException, server: str = "the server") -> str:
    """Why a TLS handshake with ``server`` failed (``err``: what the handshake raised),
    for an engineer reading the log; callers add where to look."""
    if isinstance(err, ssl.SSLCertVerificationError):
        # "certificate has expired", "unable to get local issuer certificate",
        # "IP address mismatch, certificate is not valid for '10.20.0.10'."
        return f"{server}'s certificate is not trusted: {err.verify_message}"
    if isinstance(err, ssl.SSLError) and err.reason == "WRONG_VERSION_NUMBER":
        return f"{server} does not speak TLS on this port"
    if isinstance(err, (ConnectionResetError, ssl.SSLEOFError)):
        return f"{server} hung up in the TLS handshake"
    if isinstance(err, TimeoutError):
        return f"{server} did not finish the TLS handshake in time"
    return f"the TLS handshake failed: {err}"
