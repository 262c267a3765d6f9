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
    keep_session: bool = Field(
        default=True,
        description="the broker keeps the agent's session while its connection is down,"
        " within a run (false: a broker that keeps none, amqtt); never on the embedded one",
    )


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


#: Secrets that sign or open something for everyone who knows them, and must be strong:
#: the site secret derives every lane's instruction key (a short one can be guessed
#: offline from one signed instruction, then a forged ``PROCEED`` signed with it)
STRONG_SECRETS = frozenset({"site_secret"})
#: The fewest characters of a strong secret (32 hex digits: 128 bits)
STRONG_SECRET_CHARACTERS = 32
#: What to tell an operator to make one with (docs/operations.md)
STRONG_SECRET_HOWTO = "python3 -c 'import secrets; print(secrets.token_hex(32))'"


def secret(name: str, default: str | None = None) -> str:
    """A secret from ``ROCARS_{NAME}``, or the file named in ``ROCARS_{NAME}_FILE``.

    Either way without the whitespace around it and a byte-order mark (an editor's, or a
    line end in ``Environment=``): the key is the same whichever way it is given. One of
    ``STRONG_SECRETS`` must also be strong (``check_strong_secret``)."""
    env = f"ROCARS_{name.upper()}"
    file_env = f"{env}_FILE"
    value, where = "", env
    if env in os.environ:
        value = os.environ[env]
    elif file_env in os.environ:
        where = f"the file {os.environ[file_env]} ({file_env})"
        try:
            value = Path(os.environ[file_env]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            # the error names the file, never its bytes
            problem = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            raise ConfigError(f"cannot read secret file {os.environ[file_env]}: {problem}") from err
    value = clean_secret(value)
    # set but empty (``Environment=ROCARS_SITE_SECRET=``) is not a secret: an empty
    # site secret would sign every instruction with a key anyone can derive
    if value:
        if name.lower() in STRONG_SECRETS:
            check_strong_secret(value, where)
        return value
    if default is not None:
        return default
    raise ConfigError(
        f"secret {env} is not set or empty (nor {file_env})", key="secret_missing", name=env
    )


def clean_secret(value: str) -> str:
    """``value`` without the whitespace and byte-order marks around it."""
    return value.strip().strip("\ufeff").strip()


#: The fewest different characters in a strong secret: 32 random hex digits have 14 on
#: average (fewer than 8 about once in 28 million; 64 of them, ``token_hex(32)``, about
#: once in 10^19), base64 more. A secret of a smaller alphabet (decimal digits, 0 and 1)
#: may be refused however long: docs/operations.md says so
STRONG_SECRET_DISTINCT = 8


def check_strong_secret(value: str, where: str) -> None:
    """``ConfigError`` (naming ``where``, never the value) unless ``value`` has at least
    ``STRONG_SECRET_CHARACTERS`` characters, at least ``STRONG_SECRET_DISTINCT``
    different ones, and is not a shorter text repeated (``"0" * 64``, ``"ab" * 16``,
    ``"0123456789abcdef" * 2``: long enough, and guessed at once). One rule whatever the
    form: 32 hex digits are 128 bits, 32 characters of base64 192; a rule by form
    refused strong secrets (32 or 40 random letters and digits read as short base64, 48
    hex digits), and a site whose agent and displays refuse their secret stops whole."""
    if len(value) < STRONG_SECRET_CHARACTERS:
        why = f"too short to be safe: it needs at least {STRONG_SECRET_CHARACTERS} characters"
    elif len(set(value)) < STRONG_SECRET_DISTINCT:
        why = f"not random: it has fewer than {STRONG_SECRET_DISTINCT} different characters"
    elif _period(value) <= len(value) // 2:
        why = "not random: it is a shorter text repeated"
    else:
        return
    raise ConfigError(
        f"the secret in {where} is {why} (e.g. 64 random hex digits); make one with "
        f"{STRONG_SECRET_HOWTO}",
        key="secret_weak",
        name=where,
    )


def _period(text: str) -> int:
    """The length of the shortest text that ``text`` repeats (cut where it ends): the
    length of ``text`` itself when it repeats nothing. Linear (the prefix function)."""
    border = [0] * len(text)
    for i in range(1, len(text)):
        k = border[i - 1]
        while k and text[i] != text[k]:
            k = border[k - 1]
        border[i] = k + (text[i] == text[k])
    return len(text) - (border[-1] if text else 0)


#: URL schemes of a broker: plain TCP, or TLS (the broker's certificate checked)
PLAIN_SCHEMES = ("mqtt", "tcp")
TLS_SCHEMES = ("mqtts", "ssl")


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool


#: Set to ``1``: a device may log in to a broker on another machine over plain MQTT, its
#: password in clear (a lab only; ``Bus(allow_plain=True)`` says the same)
PLAIN_MQTT_ENV = "ROCARS_MQTT_PLAIN"
#: Set to ``1``: the control point's token may go to a centre on another machine over
#: plain http (a lab only; ``RocarsClient(allow_plain=True)`` says the same)
PLAIN_CENTRAL_ENV = "ROCARS_CENTRAL_PLAIN_HTTP"
#: The ``ConfigError`` key of credentials refused on a plain url to another machine
PLAIN_CREDENTIALS = "plain_credentials"


def plain_allowed(host: str, allow_plain: bool, env: str) -> bool:
    """Whether credentials may go to ``host`` in clear: it is this machine (nothing
    crosses a network), or the caller (``allow_plain``) or ``env`` = ``1`` says so."""
    return allow_plain or is_loopback(host) or os.environ.get(env) == "1"


def parse_broker(
    url: str, *, credentials: bool = False, allow_plain: bool = False
) -> BrokerAddress:
    """``mqtt://HOST:PORT`` (or ``HOST:PORT``; port 1883 if none) or ``mqtts://HOST:PORT``
    (TLS, port 8883 if none) to where the broker is and whether to speak TLS to it.

    With ``credentials`` (a user and password to log in with) a plain url to a host that
    is not this machine is a ``ConfigError`` (``PLAIN_CREDENTIALS``): the password would
    cross the network in clear at every connection, unless ``allow_plain`` or
    ``ROCARS_MQTT_PLAIN=1`` says so (a lab)."""
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
    if credentials and not tls and not plain_allowed(split.hostname, allow_plain, PLAIN_MQTT_ENV):
        raise ConfigError(
            f"the broker url {url} is plain MQTT to another machine: the device's password "
            "would cross the network in clear at every connection. Use "
            f"mqtts://{_netloc_host(split.hostname)}:8883 with ROCARS_MQTT_CAFILE "
            f"(docs/operations.md, The broker), or set {PLAIN_MQTT_ENV}=1 (a lab only)",
            key=PLAIN_CREDENTIALS,
        )
    return BrokerAddress(split.hostname, port, tls)


def _netloc_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


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


def check_plain_http(url: str, what: str, *, allow_plain: bool = False) -> None:
    """``ConfigError`` (``PLAIN_CREDENTIALS``) for an ``http://`` ``url`` to a host that is
    not this machine, unless ``allow_plain`` or ``ROCARS_CENTRAL_PLAIN_HTTP=1`` says so (a
    lab): the caller is about to send ``what`` (a bearer token) there with every call, in
    clear."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme != "http" or not host or plain_allowed(host, allow_plain, PLAIN_CENTRAL_ENV):
        return
    raise ConfigError(
        f"{url} is plain http to another machine: {what} would cross the network in clear "
        f"with every call. Use https://{_netloc_host(host)} (a CA of its own: "
        f"central.cafile), or set {PLAIN_CENTRAL_ENV}=1 (a lab only)",
        key=PLAIN_CREDENTIALS,
    )


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
