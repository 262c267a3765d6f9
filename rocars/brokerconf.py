"""Production broker files for one control point: mosquitto.conf, a password file, ACLs.

Each device gets its own MQTT user and may write only its own topics: a plate reader
cannot forge an instruction, a display cannot press Unladen. Passwords are hashed the
way mosquitto 2 does (PBKDF2-SHA512, ``$7$``), so no ``mosquitto_passwd`` run is needed.

The broker takes each client's id from its user (``use_username_as_clientid``): MQTT
hands a session to whoever connects with its client id, so without it any device's login
could connect as ``sync-SBC-import`` and take the lane agent's session over (its last
will would turn every display to STOP, and the two would keep taking it from each
other). So every agent has a user of its own too: ``sync``, and ``sync-NAME`` per shard.

With ``TlsOptions`` the network listener speaks TLS only (``rocars.brokertls`` makes or
checks its certificate) and each device's .env names the CA it checks the broker
against; a plain listener on 127.0.0.1 stays for the server's own services (the agent),
whose traffic never leaves the machine. The same set-up gives the agent's local API,
which kiosks call across the same LAN with drivers' passwords, a certificate of its own
(``api.crt``, ``api.key``) that kiosks check against the same ``ca.crt``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import os
import pwd
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rocars.brokertls import (
    API_CERT,
    API_KEY,
    BROKER_CERTIFICATE_ENV,
    CA_CERT,
    SERVER_CERT,
    SERVER_KEY,
    certificate_validity,
    own_tls,
    site_tls,
)
from rocars.errors import RocarsError
from rocars.ids import ControlPoint, validate_lane, validate_shard
from rocars.topics import (
    MAX_PACKET_BYTES,
    READER_DEVICE,
    ROOT,
    sync_echo_topic,
    sync_status_topic,
)

PBKDF2_ITERATIONS = 101  # mosquitto 2's default for $7$ hashes


@dataclass(frozen=True)
class Role:
    """One MQTT user and what it may read and write."""

    user: str
    read: tuple[str, ...]
    write: tuple[str, ...]
    #: a sync agent (its .env also names the broker's certificate, with TLS)
    agent: bool = False


@dataclass(frozen=True)
class TlsOptions:
    """TLS on the broker's network listener (module doc)."""

    #: the names and addresses devices use for the broker (its certificate's names)
    hosts: tuple[str, ...]
    #: the site's own certificate (with its chain), key and CA; None: a site CA made here
    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    #: a plain listener on 127.0.0.1 for the server's own services; 0 for none
    local_port: int = 1883


def roles(
    cp: ControlPoint, lanes: list[str], shards: Sequence[str] = (), monitors: Sequence[str] = ()
) -> list[Role]:
    """Every user of a control point's broker: ``sync`` and ``sync-NAME`` per shard (the
    agents), ``monitor`` and ``monitor-NAME`` per extra monitor, three devices a lane.

    A user is also its client id (module doc), so two programs never share one: each
    dashboard or console that stays connected needs a monitor name of its own."""
    site = f"{ROOT}/{cp}"
    statuses = (f"{site}/sync/status", f"{site}/sync/+/status")
    # every agent reads the others' statuses (one lane, one agent) and writes its own
    agent_reads = (f"{site}/lanes/+/plate", f"{site}/lanes/+/aiop/#", f"{site}/lanes/+/status/#")
    agents = [("sync", "")] + [(f"sync-{name}", name) for name in _names(shards)]
    # and its echo (rocars.topics.sync_echo_topic: the reads kept for it are handled
    # before it republishes its lanes' instructions)
    result = [
        Role(
            user,
            read=(*agent_reads, *statuses, sync_echo_topic(cp, shard)),
            write=(
                f"{site}/lanes/+/instruction",
                sync_status_topic(cp, shard),
                sync_echo_topic(cp, shard),
            ),
            agent=True,
        )
        for user, shard in agents
    ]
    result += [
        Role(user, read=(f"{site}/#",), write=())
        for user in ["monitor", *(f"monitor-{name}" for name in _names(monitors))]
    ]
    for lane in (validate_lane(x) for x in lanes):
        base = f"{site}/lanes/{lane}"
        watch = (f"{base}/instruction", *statuses)
        result += [
            Role(
                f"avrs-{lane}", read=(), write=(f"{base}/plate", f"{base}/status/{READER_DEVICE}")
            ),
            Role(f"xdb-{lane}", read=watch, write=(f"{base}/status/xdb",)),
            Role(
                f"aiop-{lane}",
                read=watch,
                write=(f"{base}/aiop/unladen", f"{base}/aiop/manifest", f"{base}/status/aiop"),
            ),
        ]
    return result


def _names(values: Sequence[str]) -> list[str]:
    """Shard or monitor names (a topic level and part of a user name), each once."""
    names = [validate_shard(x) for x in values]
    if len(set(names)) != len(names):
        raise ValueError(f"a name appears twice: {', '.join(names)}")
    return names


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A mosquitto 2 password-file hash: ``$7$101$salt$hash`` (PBKDF2-HMAC-SHA512)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, 64)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def acl_text(all_roles: list[Role]) -> str:
    lines = ["# generated by rocars-edge broker-config: one block per device user", ""]
    for role in all_roles:
        lines.append(f"user {role.user}")
        lines += [f"topic read {t}" for t in role.read if t not in role.write]
        lines += [f"topic {'readwrite' if t in role.read else 'write'} {t}" for t in role.write]
        lines.append("")
    return "\n".join(lines)


def mosquitto_conf(
    out: Path, bind: str, port: int, run_as: str, tls: TlsOptions | None = None
) -> str:
    # a client's id is its user, so no login can take another's session (module doc);
    # mosquitto sets it per listener
    lines = ["# generated by rocars-edge broker-config", f"user {run_as}"]
    if tls is not None and tls.local_port:
        lines += [
            "# the server's own services (sync agent, monitor): plain, loopback only",
            f"listener {tls.local_port} 127.0.0.1",
            "use_username_as_clientid true",
        ]
    lines += [f"listener {port} {bind}", "use_username_as_clientid true"]
    if tls is not None:
        lines += [
            f"certfile {out / SERVER_CERT}",
            f"keyfile {out / SERVER_KEY}",
            "tls_version tlsv1.2",
        ]
    lines += [
        "allow_anonymous false",
        f"password_file {out / 'passwd'}",
        f"acl_file {out / 'acl'}",
        "set_tcp_nodelay true",
        # no persistence lines: Debian's mosquitto.conf sets them, and mosquitto refuses
        # a second persistence_location from conf.d
        "max_queued_messages 100000",
        # a lane agent's session is kept while its connection is down (rocars.bus:
        # persistent), its lanes' reads queued for it; one not back within a day (a shard
        # taken out) is let go, with what was queued for it
        "persistent_client_expiration 1d",
        # a client that sends more is disconnected, not buffered
        f"max_packet_size {MAX_PACKET_BYTES}",
        "",
    ]
    return "\n".join(lines)


class Passwords(dict[str, str]):
    """The passwords in the .env files written, by user, and what a re-run did.

    ``new``: the users given a new password (only their .env files need copying to their
    machines); ``kept``: the users whose hash in ``passwd`` stays as it was, their .env
    not being here (moved to their machine) and so not written again."""

    def __init__(self) -> None:
        super().__init__()
        self.new: list[str] = []
        self.kept: list[str] = []
        #: users whose line in the old ``passwd`` was no hash mosquitto reads: a new one
        self.damaged: list[str] = []
        #: TLS turned on or off: every .env changed (its CA file), all to be copied
        self.tls_changed = False


RUN_AS = "mosquitto (--run-as)"
AGENT_USER = "the sync agent (--agent-user)"


def write_broker_files(
    out: Path,
    cp: ControlPoint,
    lanes: list[str],
    *,
    shards: Sequence[str] = (),
    monitors: Sequence[str] = (),
    bind: str = "127.0.0.1",
    port: int = 1883,
    run_as: str = "mosquitto",
    agent_user: str = "rocars",
    tls: TlsOptions | None = None,
    no_tls: bool = False,
) -> Passwords:
    """Write mosquitto.conf, acl, passwd and one ``{user}.env`` per device; return passwords.

    Existing passwords are kept (a re-run for a new lane does not lock out the others):
    a user's from its .env here, else its hash in the old ``passwd`` as it was (its .env
    went to its machine; none is written again). Only a user with neither gets a new one.
    mosquitto started as root drops to ``run_as``, so the files it reads belong to it.
    ``out`` is made absolute: mosquitto reads the conf's paths from its working folder (/).
    With ``tls``, the TLS files are made or checked first (``TlsFilesError``, nothing
    written), and each .env names ``ca.crt`` at the same path (copied with it); the local
    API's key belongs to ``agent_user``, the sync agent's.
    """
    out = out.resolve()
    # TLS turned on or off in this run: every device's .env changes (its CA file), so a
    # kept password would leave a device with the old .env on its machine
    tls_changes = (tls is not None) != (out / SERVER_CERT).exists()
    # a bad lane, shard or monitor name, or a user not there, is refused before anything
    # is written
    all_roles = roles(cp, lanes, shards, monitors)
    _owner(run_as, RUN_AS)
    if tls is not None:
        _owner(agent_user, AGENT_USER)
    if tls is None and not no_tls and (out / SERVER_CERT).exists():
        # a re-run for a lane that forgot the TLS options would turn TLS off, and the
        # devices still on it would fail while any on mqtt:// sent passwords in clear
        raise ValueError(
            f"{out} has a TLS set-up ({SERVER_CERT}): repeat --tls-hosts (and --tls-cert, "
            "--tls-key, --tls-ca if the site's own) and --bind, or give --no-tls to turn it off"
        )
    if tls is not None:
        if tls.local_port == port and bind in ("127.0.0.1", "0.0.0.0"):
            raise ValueError(f"the plain local listener and the TLS one both want port {port}")
        if tls.cert is None:
            if tls.key is not None or tls.ca is not None:
                raise ValueError("a key or CA of the site's own goes with its certificate")
            site_tls(out, str(cp), tls.hosts)
            site_tls(out, str(cp), tls.hosts, leaf=(API_CERT, API_KEY))
        else:
            if tls.key is None or tls.ca is None:
                raise ValueError("a certificate of the site's own needs its key and its CA")
            own_tls(out, tls.cert, tls.key, tls.ca, tls.hosts)
    out.mkdir(parents=True, exist_ok=True)
    cafile = f"ROCARS_MQTT_CAFILE={out / CA_CERT}\n" if tls is not None else ""
    # the agents name the broker's certificate near its end (sync.agent)
    watch = f"{BROKER_CERTIFICATE_ENV}={out / SERVER_CERT}\n" if tls is not None else ""
    # the passwd of an earlier run: a user whose .env went to its machine (as the docs
    # say) keeps its hash, or a re-run for a lane would lock that device out
    hashes, damaged = ({}, []) if tls_changes else _read_passwd(out / "passwd")
    result = Passwords()
    result.damaged, result.tls_changed = damaged, tls_changes
    lines: list[str] = []
    for role in all_roles:
        env_file = out / f"{role.user}.env"
        password = _read_env(env_file).get("ROCARS_MQTT_PASSWORD")
        old_hash = hashes.get(role.user)
        if not password and old_hash is not None:
            result.kept.append(role.user)
            lines.append(f"{role.user}:{old_hash}\n")
            continue
        if not password:
            password = secrets.token_urlsafe(18)
            result.new.append(role.user)
        result[role.user] = password
        same = old_hash is not None and _hash_matches(password, old_hash)
        lines.append(f"{role.user}:{old_hash if same else hash_password(password)}\n")
        _write_private(
            env_file,
            f"ROCARS_MQTT_USERNAME={role.user}\nROCARS_MQTT_PASSWORD={password}\n"
            + cafile
            + (watch if role.agent else ""),
        )
    _write_private(out / "passwd", "".join(lines))
    (out / "acl").write_text(acl_text(all_roles), encoding="utf-8")
    (out / "mosquitto.conf").write_text(
        mosquitto_conf(out, bind, port, run_as, tls), encoding="utf-8"
    )
    _give_to(run_as, [out / "passwd", out / "acl", *([out / SERVER_KEY] if tls else [])])
    if tls is not None:
        _give_to(agent_user, [out / API_KEY], AGENT_USER)
    return result


def _owner(user: str, runs: str) -> pwd.struct_passwd | None:
    """The user files are given to when we can give them (as root); ValueError if none."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(user)
    except KeyError as err:
        raise ValueError(f"no such user {user!r} to run {runs} as") from err


def _give_to(user: str, paths: list[Path], runs: str = RUN_AS) -> None:
    """chown to the user that reads them when we can (as root); otherwise they are ours
    already."""
    entry = _owner(user, runs)
    if entry is None:
        return
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _read_passwd(path: Path) -> tuple[dict[str, str], list[str]]:
    """The hash of each user in a mosquitto password file (``user:hash`` lines) that is one
    mosquitto reads (``$7$`` or ``$6$``), and the users whose line is not: a line damaged
    or not UTF-8 is not kept (its user gets a new password, said), or it would lock its
    device out unseen."""
    if not path.exists():
        return {}, []
    kept: dict[str, str] = {}
    damaged: list[str] = []
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        user, _, digest = line.partition(":")
        user, digest = user.strip(), digest.strip()
        if not user:
            continue
        if _hash_form(digest):
            kept[user] = digest
        else:
            damaged.append(user)
    return kept, damaged


def _split_hash(digest: str) -> tuple[str, int, bytes, bytes] | None:
    """A mosquitto password hash's kind (``7``: PBKDF2-SHA512, ``6``: SHA512), rounds
    (1 for ``6``), salt and hash; None for a line that is no such hash."""
    parts = digest.split("$")
    if parts[:2] == ["", "7"] and len(parts) == 5 and parts[2].isdigit():
        kind, rounds, salt, value = "7", int(parts[2]), parts[3], parts[4]
    elif parts[:2] == ["", "6"] and len(parts) == 4:
        kind, rounds, salt, value = "6", 1, parts[2], parts[3]
    else:
        return None
    try:
        raw_salt = base64.b64decode(salt, validate=True)
        raw_value = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return (kind, rounds, raw_salt, raw_value) if raw_salt and raw_value else None


def _hash_form(digest: str) -> bool:
    """Whether ``digest`` is laid out as mosquitto's ``$7$`` or ``$6$`` hash."""
    return _split_hash(digest) is not None


def _hash_matches(password: str, line: str) -> bool:
    """Whether a ``$7$`` hash (``hash_password``'s) is of ``password``; False for any
    other form, which is then written anew."""
    found = _split_hash(line)
    if found is None or found[0] != "7" or not 1 <= found[1] <= 1_000_000:
        return False
    _, rounds, salt, digest = found
    again = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, rounds, len(digest))
    return hmac.compare_digest(again, digest)


def _read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(fd, 0o600)  # the mode above is for a new file only; an old one may be loose
        handle.write(text)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rocars-edge broker-config",
        description="write mosquitto.conf, passwd, acl and per-device .env files for a control point",
    )
    parser.add_argument("--cp", required=True, help="control point code, e.g. SBC")
    parser.add_argument("--lanes", required=True, help="comma-separated lane ids, e.g. L01,L02")
    parser.add_argument(
        "--shards", default="", help="comma-separated shard names: a sync-NAME user for each"
    )
    parser.add_argument(
        "--monitors",
        default="",
        help="comma-separated names: a monitor-NAME user for each dashboard or console",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--bind", default="127.0.0.1", help="listener address")
    parser.add_argument(
        "--port", type=int, default=None, help="listener port (default 1883, with TLS 8883)"
    )
    parser.add_argument(
        "--tls-hosts",
        default="",
        help="TLS on the listener: comma-separated names and addresses devices use for the "
        "broker (its certificate's names); a site CA is made unless --tls-cert is given",
    )
    parser.add_argument(
        "--tls-cert", type=Path, help="the site's own certificate (PEM, chain after it)"
    )
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM, unencrypted)")
    parser.add_argument("--tls-ca", type=Path, help="the CA devices are to trust for it (PEM)")
    parser.add_argument(
        "--no-tls",
        action="store_true",
        help="a plain listener where a TLS one was set up before (the TLS files stay)",
    )
    parser.add_argument(
        "--local-port",
        type=int,
        default=1883,
        help="with TLS: a plain listener on 127.0.0.1 for the server's own services (0: none)",
    )
    parser.add_argument(
        "--run-as", default="mosquitto", help="user mosquitto drops to when started as root"
    )
    parser.add_argument(
        "--agent-user",
        default="rocars",
        help="with TLS: the sync agent's user, owner of the local API's key (api.key)",
    )
    args = parser.parse_args(argv)
    tls = None
    if args.tls_hosts or args.tls_cert or args.tls_key or args.tls_ca:
        tls = TlsOptions(
            hosts=tuple(_split(args.tls_hosts)),
            cert=args.tls_cert,
            key=args.tls_key,
            ca=args.tls_ca,
            local_port=args.local_port,
        )
    port = args.port if args.port is not None else (8883 if tls else 1883)
    try:
        cp = ControlPoint.parse(args.cp)
        lanes = _split(args.lanes)
        users = write_broker_files(
            args.out,
            cp,
            lanes,
            shards=_split(args.shards),
            monitors=_split(args.monitors),
            bind=args.bind,
            port=port,
            run_as=args.run_as,
            agent_user=args.agent_user,
            tls=tls,
            no_tls=args.no_tls,
        )
    except (RocarsError, ValueError, OSError) as err:
        print(f"broker-config: {err}", file=sys.stderr)
        return 2
    tls_note = f", {CA_CERT} for every device," if tls else ""
    print(
        f"wrote {args.out.resolve()}/mosquitto.conf, passwd, acl{tls_note} and {len(users)} .env files"
    )
    for user in users.damaged:
        print(f"the line of {user} in passwd was no password hash: not kept")
    for user in users.kept:
        print(f"kept: the password of {user} (its .env is not here)")
    if users.tls_changed:
        print(
            "TLS turned " + ("on" if tls else "off") + ": every device's .env changed (its "
            "CA file) and passwords not found here are new: copy every .env to its "
            "machine, then systemctl reload mosquitto"
        )
    elif users.new:
        print(
            f"a new password for {', '.join(users.new)}: copy only their .env files to "
            "their machines, then systemctl reload mosquitto"
        )
    if tls:
        now = dt.datetime.now(dt.UTC)
        print(f"the broker's certificate {_dates(args.out / SERVER_CERT, now)}")
        print(
            f"the local API's ({API_CERT}, {API_KEY}: sync.toml [api] tls_cert, tls_key) "
            f"{_dates(args.out / API_CERT, now)}; kiosks check it against "
            f"{CA_CERT} (ROCARS_LOCAL_API_CAFILE)"
        )
    return 0


def _dates(path: Path, now: dt.datetime) -> str:
    """When a certificate ends, or, not begun yet, when it begins: every client refuses
    it until then (a clock that ran ahead where it was made, or this one's behind)."""
    start, end = certificate_validity(path)
    if now < start:
        return f"is not valid until {start:%Y-%m-%d %H:%M} UTC: check this machine's clock"
    return f"ends on {end:%Y-%m-%d}"


def _split(text: str) -> list[str]:
    return [x for x in text.split(",") if x]
