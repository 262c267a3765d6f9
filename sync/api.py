"""The agent's own HTTP API: ``/health``, ``/metrics``, ``/records``; more routers mounted.

Served by uvicorn on a thread inside the agent (``ApiServer``). The kiosk's local API
(``sync.local_api.build_router``) is one of the ``extra_routers``. Over HTTPS
(``ServerTls``) when kiosks call it across the booth LAN: they send drivers' passwords
and codes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError

from rocars.brokertls import (
    RENEW_DAYS,
    TlsFilesError,
    certificate_validity,
    load_server_pair,
    names_of,
)
from rocars.client import SERVER_KEEPALIVE_S
from rocars.config import is_loopback
from rocars.errors import RocarsError
from rocars.models import ClearanceRecord
from rocars.threads import start_in_background
from sync.errors import SyncError
from sync.outbox import StoredRecord

logger = logging.getLogger(__name__)

#: At most this much of why a stored record does not read goes into ``/records``.
PROBLEM_CHARS = 200


class AgentView(Protocol):
    """What the API reads from the agent."""

    def health(self) -> dict[str, Any]: ...

    def metrics_text(self) -> str: ...

    def records(self, limit: int, lane: str | None) -> list[StoredRecord]:
        """The newest ``limit`` records (of ``lane``), newest first; SyncError if the
        outbox cannot be read."""
        ...


def read_record(row: StoredRecord) -> tuple[dict[str, Any] | None, str]:
    """A stored record as ``/records`` lists it (its text as stored, with its upload
    state), or None and why it does not read: not UTF-8, not JSON, not an object, not a
    ``ClearanceRecord``."""
    try:
        text = row.body.decode()
    except UnicodeDecodeError as err:
        return None, f"not UTF-8: {err}"
    try:
        record = json.loads(text)
    except (ValueError, RecursionError) as err:
        return None, f"not JSON: {err}"
    if not isinstance(record, dict):
        return None, f"not a JSON object ({type(record).__name__})"
    try:
        ClearanceRecord.model_validate(record)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:3]
        )
        return None, f"not a clearance record: {problems}"
    record["upload"] = row.upload
    return record, ""


def _unreadable(row: StoredRecord, problem: str) -> dict[str, Any]:
    """What ``/records`` says of a record that does not read: never its text."""
    return {
        "id": row.id,
        "lane": row.lane,
        "ended_at": row.ended_at,
        "upload": row.upload,
        "bytes": len(row.body),
        "problem": problem[:PROBLEM_CHARS],
    }


#: what ``/records`` answers a client not on this host, unless ``records_from_network``
RECORDS_LOCAL_ONLY = "records_local_only"


def create_api(
    view: AgentView,
    extra_routers: list[APIRouter] | None = None,
    *,
    records_from_network: bool = False,
) -> FastAPI:
    """The agent's API. ``/records`` (every truck's plates, bundle and outcome) answers
    only clients on this host unless ``records_from_network``: on a network address the
    kiosks, public machines, reach the API too and have no business reading them."""
    app = FastAPI(title="rocars-edge sync agent", version="1")

    @app.get("/health")
    def health() -> JSONResponse:
        body = view.health()
        return JSONResponse(body)  # 200 while the agent answers; "ok" says if all is well

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(view.metrics_text(), media_type="text/plain; version=0.0.4")

    @app.get("/records")
    def records(
        request: Request,
        limit: int = Query(default=50, ge=1, le=1000),
        lane: str | None = Query(default=None, pattern=r"^[A-Za-z0-9_-]{1,16}$"),
    ) -> JSONResponse:
        """The newest records that read, and beside them those that do not (one that does
        not read is kept in the outbox, and must not hide the others)."""
        client = request.client.host if request.client is not None else None
        if not records_from_network and not (client is not None and is_loopback(client)):
            logger.warning("/records refused to %s, not on this host", client)
            refusal = RocarsError(
                "clearance records are served on this host only", key=RECORDS_LOCAL_ONLY
            )
            return JSONResponse(refusal.as_json(), status_code=403)
        try:
            rows = view.records(limit, lane)
        except SyncError as err:
            logger.warning("/records: %s", err)
            return JSONResponse(err.as_json(), status_code=503)
        readable: list[dict[str, Any]] = []
        unreadable: list[dict[str, Any]] = []
        for row in rows:
            record, problem = read_record(row)
            if record is None:
                unreadable.append(_unreadable(row, problem))
            else:
                readable.append(record)
        return JSONResponse({"records": readable, "unreadable": unreadable})

    for router in extra_routers or []:
        app.include_router(router)
    return app


_Stamp = tuple[tuple[int, int, int], ...] | None


def _file_stamp(path: Path) -> tuple[int, int, int]:
    """What changes when a file is replaced or rewritten (OSError if it is not there)."""
    stat = os.stat(path)
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


class ServerTls:
    """The local API's certificate and key, for the TLS context uvicorn serves with.

    Loaded at start (``SyncError`` if the files do not load, or the key is not the
    certificate's: the agent serves no API until they do). An expired certificate still
    loads (the kiosks refuse it; ``problems`` says so). ``refresh`` loads renewed files into a new
    context, and each new connection is handed the newest (``sni_callback``, which
    OpenSSL calls at every handshake, with or without a name): no restart, so renewing
    it never stops the lanes, and no context in use is changed under a handshake on the
    server's thread. A pair that does not load together (one file renamed in, the other
    not yet) leaves the served one as it was.
    """

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert = cert
        self.key = key
        #: why the files as they are now were not taken up ("": they were)
        self.problem = ""
        #: the files as they were when the served pair was read (changed while being
        #: read: the next ``refresh`` reads them again)
        self._stamp = self._files()
        #: what uvicorn serves with: it hands each handshake ``_newest``
        self.context, self.start, self.end, self.names = self._load()
        if self._files() != self._stamp:
            self._stamp = None
        self.context.sni_callback = self._choose
        self._newest = self.context

    def _files(self) -> _Stamp:
        try:
            return (_file_stamp(self.cert), _file_stamp(self.key))
        except OSError:
            return None

    def _load(self) -> tuple[ssl.SSLContext, dt.datetime, dt.datetime, list[str]]:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            leaf = load_server_pair(self.cert, self.key)[0]
            context.load_cert_chain(self.cert, self.key)
            start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
            names = names_of(leaf)
        except TlsFilesError as err:
            raise SyncError(f"local API TLS: {err}", key="api_tls") from err
        except Exception as err:  # noqa: BLE001 - OSError, ssl.SSLError, cryptography's
            # whatever the files hold, it is a reason to tell, never a crash of the caller
            raise SyncError(
                f"local API TLS: cannot load {self.cert} with {self.key}: {err}", key="api_tls"
            ) from err
        return context, start, end, names

    def _choose(
        self, conn: ssl.SSLObject | ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext
    ) -> None:
        newest = self._newest  # one read: refresh may swap it meanwhile
        if newest is not ctx:
            conn.context = newest

    def refresh(self) -> bool:
        """Take the files up if they changed since they were last taken up; True if taken
        up now. Files that do not load (a pair half renamed in, a key its user cannot
        read yet) are tried again at every call until they do; the reason is logged once."""
        stamp = self._files()
        if stamp == self._stamp:
            self.problem = ""  # back to the pair served (a file moved away and back)
            return False
        try:
            context, start, end, names = self._load()
        except SyncError as err:
            problem = f"{err} (the certificate before is still served)"
            if problem != self.problem:
                logger.warning("%s", problem)
            self.problem = problem
            return False
        if self._files() != stamp:
            return False  # changed while being read: the next call takes the pair up whole
        self.problem, self.start, self.end, self.names = "", start, end, names
        self._newest = context
        self._stamp = stamp
        logger.info(
            "local API: new certificate taken up (%s, ends %s)",
            ", ".join(self.names),
            f"{self.end:%Y-%m-%d}",
        )
        return True

    def problems(self, now: dt.datetime) -> list[str]:
        out = ending(
            "local API certificate",
            self.end,
            now,
            "kiosks refuse it",
            "re-run broker-config; taken up within seconds",
            start=self.start,
        )
        return [*out, self.problem] if self.problem else out


def ending(
    what: str,
    end: dt.datetime,
    now: dt.datetime,
    then: str,
    do: str,
    *,
    start: dt.datetime | None = None,
) -> list[str]:
    """What to say of a certificate that has ended or has not begun yet (``then``: what
    that breaks) or ends within ``RENEW_DAYS`` (``do``: what to do about it)."""
    if start is not None and now < start:
        # a certificate made on a machine whose clock runs ahead, or this one's behind:
        # every client refuses it, as an expired one
        return [
            f"{what} is not valid until {start:%Y-%m-%d %H:%M} UTC: {then} (check this "
            f"machine's clock and the one it was made on; {do})"
        ]
    if now >= end:
        return [f"{what} expired on {end:%Y-%m-%d %H:%M} UTC: {then} ({do})"]
    if now + dt.timedelta(days=RENEW_DAYS) >= end:
        return [f"{what} ends on {end:%Y-%m-%d}: {do}"]
    return []


class CertificateWatch:
    """Another service's certificate file (the broker's ``server.crt``), its end read
    again whenever the file changes: a broker whose certificate ends is refused by every
    device at once, every display then failing closed, and only its end date, printed
    by broker-config, said when."""

    def __init__(self, path: Path, what: str, then: str, do: str) -> None:
        self.path = path
        self._say = (what, then, do)
        self._stamp: tuple[int, int, int] | None = None
        self._end: dt.datetime | None = None
        self._start: dt.datetime | None = None
        self._error = ""

    def problems(self, now: dt.datetime) -> list[str]:
        try:
            stamp = _file_stamp(self.path)
        except OSError as err:
            return [f"{self._say[0]} {self.path}: cannot read it: {err.strerror}"]
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                (self._start, self._end), self._error = certificate_validity(self.path), ""
            except TlsFilesError as err:
                self._start, self._end, self._error = None, None, str(err)
        if self._end is None:
            return [f"{self._say[0]}: {self._error}"]
        return ending(self._say[0], self._end, now, self._say[1], self._say[2], start=self._start)


class ApiServer:
    """uvicorn on a daemon thread; ``stop()`` asks it to exit and waits. HTTPS with
    ``tls``."""

    def __init__(
        self,
        app: FastAPI,
        host: str,
        port: int,
        *,
        background_batch: bool = False,
        tls: ServerTls | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        options: dict[str, Any] = {}
        if tls is not None:
            options["ssl_context_factory"] = lambda _config, _default: tls.context
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=SERVER_KEEPALIVE_S,
            # the peer's address is the client's: uvicorn's default trusts X-Forwarded-For
            # from loopback, and the local API limits refused credentials per address
            proxy_headers=False,
            **options,
        )
        self._server = uvicorn.Server(config)
        self._background_batch = background_batch  # its worker threads inherit it
        self._thread = threading.Thread(target=self._serve, name="sync-api", daemon=True)

    @property
    def url(self) -> str:
        return f"{'http' if self.tls is None else 'https'}://{self.host}:{self.port}"

    def _serve(self) -> None:
        try:
            self._server.run()
        except SystemExit:
            pass  # uvicorn could not serve (a port taken) and logged why; start() says so

    def start(self, timeout: float = 10.0) -> None:
        """Serve; SyncError when it has not started within ``timeout`` (its thread is
        then ended: left, it might serve later, unmanaged, on a port the next try wants)."""
        start_in_background(self._thread, self._background_batch)
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise SyncError(f"local API did not start on {self.url}", key="api_start_failed")
            time.sleep(0.02)
        logger.info("local API on %s", self.url)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            logger.error("local API on %s: its thread has not ended 10 s after stop", self.url)
