"""The simulated central ROCARS: a FastAPI app over the SQLite store.

``create_app(config)`` opens (or creates and seeds) the data folder and returns the app;
``hardware_sim.cli`` serves it with uvicorn and ``hardware_sim.launch.CentralProcess``
runs that as a child process. The API is the contract of ``rocars.client.RocarsClient``;
docs/central.md lists every path, body and error key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hardware_sim.accounts import AccountBook
from hardware_sim.certs import CertVerifier, load_or_create_ca
from hardware_sim.demo import generate_demo, seed_store
from hardware_sim.store import (
    CentralError,
    Crossing,
    NewBundle,
    Store,
    UnstorableEvent,
    encode_event,
)
from rocars.errors import InvalidIdentifier, RocarsError
from rocars.ids import (
    IDEMPOTENCY_HEADER,
    ControlPoint,
    Direction,
    identity_plates,
    normalize_ccrn,
    normalize_plate,
    normalize_ubr,
    validate_idempotency_key,
)
from rocars.messages import InstructionCode
from rocars.models import (
    EARLIEST_CROSSING_DELAY,
    Bundle,
    BundleRequest,
    CancelRequest,
    Cargo,
    CargoItems,
    CertificateAuth,
    ClearanceRecord,
    EventResult,
    EventUpload,
    EventUploadResult,
    UbrBlock,
    UbrBlockRequest,
    cancel_op,
    check_expected_date,
)
from rocars.timeutil import utc_now

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "dev-central-token"
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_CHANGES_PAGE = 10_000
#: The longest event id taken (the edge's are ULIDs, 26 characters; UUIDs are 36).
MAX_EVENT_ID = 64
INSPECT_BAYS = tuple(f"B{n}" for n in range(1, 9))

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class CentralConfig(BaseModel):
    """Everything the simulated centre is started with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(description="folder of central.sqlite3 and certs/")
    seed: int = Field(default=7, ge=0, description="seed of the demo data and the result RNG")
    cp: ControlPoint = Field(default=ControlPoint.SBC, description="control point of the demo")
    direction: Direction = Field(default=Direction.IMPORT, description="direction of the demo")
    tokens: dict[str, ControlPoint] = Field(
        default_factory=dict, description="bearer token -> control point; empty: the dev token"
    )
    demo: bool = Field(default=True, description="seed demo data when the database is new")
    trucks_per_kind: int = Field(default=2, ge=1, le=1000, description="demo trucks per kind")
    synthetic_bundles: int = Field(
        default=0, ge=0, le=5_000_000, description="bulk-load this many bundles when new"
    )
    inspect_share: float = Field(
        default=0.1, ge=0.0, le=1.0, description="share of new bundles pre-selected INSPECT"
    )
    delay_ms: int = Field(default=0, ge=0, le=60_000, description="added to every /v1 answer")
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, ge=1024, le=1 << 30)
    test_clock: bool = Field(
        default=False,
        description="tests may move the security-code clock forward (POST /sim/code-clock)",
    )

    def token_map(self) -> dict[str, ControlPoint]:
        return dict(self.tokens) or {DEFAULT_TOKEN: self.cp}


def parse_tokens(specs: list[str]) -> dict[str, ControlPoint]:
    """``["SBC=tok1", "LMC=tok2"]`` (or one comma-separated string) to token -> cp."""
    tokens: dict[str, ControlPoint] = {}
    entries = (s.strip() for item in specs for s in item.split(","))
    for number, spec in enumerate(entries, start=1):
        if not spec:
            continue
        # the entry is never echoed: it may hold a token (ROCARS_CENTRAL_TOKENS), and
        # the message goes to the terminal and the journal
        cp, sep, token = spec.partition("=")
        problem = ""
        if not sep:
            problem = "it has no '='"
        elif not token.strip():
            problem = "its token is empty"
        else:
            try:
                tokens[token.strip()] = ControlPoint.parse(cp)
            except InvalidIdentifier:
                problem = "its CP is not a control point code (such as SBC) or IVRS key 1-7"
        if problem:
            raise CentralError(
                f"token entry {number} must be CP=TOKEN: {problem}",
                key="config_error",
                status=500,
            )
    return tokens


def _error(status: int, key: str, detail: Any = None, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": key, "detail": detail}, status_code=status, headers=headers or None
    )


class BodyLimit:
    """413 for a body over the limit, decided from Content-Length or while streaming.

    The app then sees a replayed body, so no endpoint ever holds more than the limit.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        too_big = _error(
            413,
            "payload_too_large",
            {"message": f"request body over {self.limit} bytes", "limit": self.limit},
            connection="close",
        )
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await too_big(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await too_big(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class Delay:
    """Hold every /v1 answer back ``delay_s`` (the benchmark's far-away centre)."""

    def __init__(self, app: ASGIApp, delay_s: float) -> None:
        self.app = app
        self.delay_s = delay_s

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            await asyncio.sleep(self.delay_s)
        await self.app(scope, receive, send)


class CodeClockAdvance(BaseModel):
    """``POST /sim/code-clock``: move the security-code clock this much further on."""

    model_config = ConfigDict(extra="forbid")

    advance_s: int = Field(ge=0, le=366 * 86_400, description="seconds to add")


class Central:
    """The centre's behaviour behind the HTTP layer (the app's handlers call these)."""

    def __init__(self, config: CentralConfig) -> None:
        self.config = config
        data_dir = config.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(data_dir / "central.sqlite3")
        certs_dir = data_dir / "certs"
        now = utc_now()
        self.ca_cert = load_or_create_ca(certs_dir, now)
        if self.store.get_meta("created_at") is None:
            if config.demo:
                demo = generate_demo(
                    config.seed, config.cp, config.direction, now, config.trucks_per_kind
                )
                seed_store(self.store, certs_dir, demo, now)
            if config.synthetic_bundles:
                self.store.bulk_synthetic(
                    config.synthetic_bundles, config.cp, config.direction, now
                )
            self.store.set_meta("created_at", now.isoformat())
            self.store.set_meta("demo", "1" if config.demo else "0")
        self.accounts = AccountBook(self.store)
        self.certs = CertVerifier(
            self.ca_cert, self.store.is_revoked, self.store.claim_cert_signature
        )
        self.tokens = config.token_map()
        self._rng = random.Random(f"{config.seed}/results/{self.store.last_seq()}")
        self._rng_lock = threading.Lock()
        self._code_offset = timedelta(0)
        self._code_offset_lock = threading.Lock()

    def close(self) -> None:
        self.store.close()

    # -- drivers ---------------------------------------------------------------------------

    def need_test_clock(self) -> None:
        if not self.config.test_clock:
            raise CentralError("this centre has no test clock", key="not_test_clock", status=404)

    def code_clock_offset(self) -> timedelta:
        """How far the clock that security codes are checked against is ahead of real time.

        Always zero unless ``test_clock``: tests that sign many times as one driver move
        it on a step (``advance_code_clock``) instead of waiting 30 s for the token's next
        code, since a code is accepted only once.
        """
        with self._code_offset_lock:
            return self._code_offset

    def advance_code_clock(self, seconds: int) -> timedelta:
        self.need_test_clock()
        with self._code_offset_lock:
            self._code_offset += timedelta(seconds=seconds)
            return self._code_offset

    def _authenticate(
        self,
        account: str,
        password: str,
        auth: Any,
        op: str,
        raw: dict[str, Any],
        normal: dict[str, Any],
    ) -> bool:
        """Password, then security code or certificate; returns the account's immediate flag."""
        row = self.accounts.check_password(account, password)
        now = utc_now()
        if isinstance(auth, CertificateAuth):
            self.certs.verify(auth, account, op, [raw, normal], now)
        else:
            self.accounts.check_code(row, auth.code, now + self.code_clock_offset())
        self.accounts.succeeded(account)
        return row.immediate

    def bundle(self, request: BundleRequest, raw: dict[str, Any]) -> Bundle:
        normal = request.model_dump(mode="json")
        immediate = self._authenticate(
            request.account, request.password, request.auth, "bundle", raw, normal
        )
        with self._rng_lock:
            inspect = self._rng.random() < self.config.inspect_share
            bay = self._rng.choice(INSPECT_BAYS) if inspect else None
        return self.store.create_bundle(
            NewBundle(
                vrn=request.vrn,
                cp=request.cp,
                direction=request.direction,
                ccrns=request.ccrns,
                account=request.account,
                immediate=immediate,
                result=InstructionCode.INSPECT if inspect else InstructionCode.PROCEED,
                bay=bay,
            ),
            utc_now(),
            EARLIEST_CROSSING_DELAY,
        )

    def cancel(
        self, ubr: str, ccrn: str | None, request: CancelRequest, raw: dict[str, Any]
    ) -> Bundle:
        op = cancel_op(ubr, ccrn)
        self._authenticate(
            request.account,
            request.password,
            request.auth,
            op,
            raw,
            request.model_dump(mode="json"),
        )
        if ccrn is None:
            return self.store.cancel_bundle(ubr, request.account, utc_now())
        return self.store.remove_ccrn(ubr, ccrn, request.account, utc_now())

    # -- events ----------------------------------------------------------------------------

    def upload_events(self, upload: EventUpload, cp: ControlPoint) -> EventUploadResult:
        """Validate each event; store the valid ones in one transaction; answer in order.

        ``cp`` is the uploading token's control point: a device reports its own lanes'
        crossings only (``wrong_control_point``). An event refused (also one that cannot be
        stored as standard JSON, ``unencodable``, or nests too deep, ``nested_too_deep``:
        ``encode_event``) is answered alone; the rest of the batch is stored.
        """
        valid: list[tuple[str, bytes, Crossing | None]] = []
        slots: list[EventResult | int] = []  # a rejection, or an index into ``valid``
        for event in upload.events:
            try:
                record = ClearanceRecord.model_validate(event)
            except ValidationError as err:
                reason = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
                    for e in err.errors()
                )
                slots.append(_rejected(event.get("id"), reason[:500]))
                continue
            if not record.id or len(record.id) > MAX_EVENT_ID:
                slots.append(_rejected(record.id, "id_invalid"))
                continue
            if record.cp is not cp:
                logger.warning(
                    "event %s is of %s, uploaded with a token of %s: rejected",
                    _printable(record.id),
                    record.cp,
                    cp,
                )
                slots.append(_rejected(record.id, "wrong_control_point"))
                continue
            try:
                text = encode_event(event)
            except UnstorableEvent as err:
                logger.warning("event %s is %s: rejected", _printable(record.id), err.reason)
                slots.append(_rejected(record.id, err.reason))
                continue
            crossed = record.outcome in (InstructionCode.PROCEED, InstructionCode.INSPECT)
            crossing = None
            if crossed and record.ubr is not None:
                crossing = Crossing(
                    record.ubr, record.cp.value, record.direction.value, _plates(record)
                )
            slots.append(len(valid))
            valid.append((record.id, text, crossing))
        stored = self.store.record_events(valid, utc_now())
        return EventUploadResult(results=[stored[s] if isinstance(s, int) else s for s in slots])


def _printable(text: str) -> str:
    """``text`` with what UTF-8 cannot carry (a lone surrogate) replaced: an answer or a
    log line that held it failed to encode, and the whole batch was answered 500."""
    return text.encode("utf-8", "replace").decode()


def _rejected(event_id: object, reason: str) -> EventResult:
    return EventResult(
        id=_printable(str(event_id or "")), status="rejected", reason=_printable(reason)
    )


def _plates(record: ClearanceRecord) -> frozenset[str]:
    """The plates a record says the lane saw: its VRN, its reads', and each read's
    alternates of the other kind (a truck read by its Mainland plate crosses on a bundle
    that names only its Hong Kong plate, the read's alternate: the lanes' one trusted
    alternate, and the bundle was left active), normalised."""
    plates: set[str] = set()
    for read in record.plate_reads:
        if read.vrn:
            plates.update(identity_plates([read.vrn, *(a.vrn for a in read.alternates)]))
    if record.vrn:
        with contextlib.suppress(InvalidIdentifier):
            plates.add(normalize_plate(record.vrn))
    return frozenset(plates)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    # Tagged unions put the tag in the path (auth.security_code.code): drop it.
    parts = [p for p in parts if p not in ("security_code", "certificate")]
    return ".".join(parts) or "(body)"


def _identifier_key(error: dict[str, Any]) -> str | None:
    cause = error.get("ctx", {}).get("error")
    inner = getattr(cause, "__cause__", None)
    return inner.key if isinstance(inner, InvalidIdentifier) else None


def _validation_detail(errors: Any) -> list[dict[str, Any]]:
    detail = []
    for error in errors:
        item: dict[str, Any] = {"field": _field_name(tuple(error["loc"])), "message": error["msg"]}
        key = _identifier_key(error)
        if key:
            item["key"] = key
        detail.append(item)
    return detail


def _ident(fn: Callable[[object], str], value: str) -> str:
    try:
        return fn(value)
    except InvalidIdentifier as err:
        raise CentralError(str(err), key=err.key, status=422, **err.params) from err


def _cursor(value: str) -> int:
    if value in ("", "0"):
        return 0
    # not str.isdigit(): that is true of "²" (int() then fails: a 500) and of other
    # scripts' digits ("١٢" was taken as 12)
    if not re.fullmatch(r"[0-9]{1,18}", value):
        raise CentralError(f"bad cursor {value!r}", key="cursor_invalid", status=422, since=value)
    return int(value)


def _cursor_ahead(since: str, head: int, what: str) -> NoReturn:
    """409 ``cursor_ahead``: a cursor the centre never gave (it was restored from a backup
    or replaced); "caught up" would hide everything it numbers again up to that cursor."""
    raise CentralError(
        f"cursor {since} is past the end of the centre's {what} ({head}): it no longer has"
        " what that cursor counted (restored or replaced); pull it again from the start",
        key="cursor_ahead",
        status=409,
        since=since,
        last=str(head),
    )


#: The change feed's answers are never to be kept by a cache (``/v1/changes``)
NO_STORE = {"Cache-Control": "no-store"}


def _cursor_diverged(since: str) -> NoReturn:
    """409 ``cursor_diverged``: a cursor given with the mark of another change than this
    feed's at that seq (found in review: a centre restored from a backup that had
    numbered past the replica's cursor again served the changes after it, and the ones
    between, a cancellation among them, were never pulled)."""
    raise CentralError(
        f"cursor {since} was given with the mark of another change than this feed's"
        " change there: its history is not this centre's (restored from a backup, or"
        " replaced); pull it again from the start",
        key="cursor_diverged",
        status=409,
        since=since,
    )


def _limit(value: int, top: int) -> int:
    if not 1 <= value <= top:
        raise CentralError(
            f"limit must be 1..{top}", key="limit_invalid", status=422, limit=value, max=top
        )
    return value


def device(request: Request) -> ControlPoint:
    """The control point of the request's bearer token, or 401 ``unauthorized``."""
    central: Central = request.app.state.central
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    cp = central.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    if cp is None:
        raise CentralError("missing or unknown bearer token", key="unauthorized", status=401)
    return cp


async def raw_json(request: Request) -> dict[str, Any]:
    """The body as sent, for checking a signature made over the un-normalised fields."""
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


DeviceCp = Annotated[ControlPoint, Depends(device)]
RawBody = Annotated[dict[str, Any], Depends(raw_json)]


def create_app(config: CentralConfig) -> FastAPI:
    """The centre's HTTP app; the data folder is opened (and seeded if new) now."""
    central = Central(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        central.close()

    app = FastAPI(title="ROCARS central (simulated)", version="1", lifespan=lifespan)
    app.state.central = central

    @app.exception_handler(CentralError)
    async def _central_error(request: Request, err: CentralError) -> JSONResponse:
        headers = {}
        if err.key == "account_locked":
            headers["Retry-After"] = str(err.params.get("retry_after", 1))
        return _error(err.status, err.key, err.as_json()["detail"], **headers)

    @app.exception_handler(RocarsError)
    async def _rocars_error(request: Request, err: RocarsError) -> JSONResponse:
        return _error(422, err.key, err.as_json()["detail"])

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        return _error(422, "validation_error", _validation_detail(err.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        # Starlette's and FastAPI's own answers (an unknown path, a method the path has
        # not, a body that is not JSON it can read) in the documented shape: their detail
        # is a bare string, and a client reads ``detail.message``
        key = {400: "body_invalid", 404: "not_found", 405: "method_not_allowed"}.get(
            err.status_code, "http_error"
        )
        message = str(err.detail)
        if key == "body_invalid":
            message = "the body is not JSON the centre can read (not UTF-8, or nested too deep)"
        return _error(err.status_code, key, {"message": message}, **(err.headers or {}))

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "cp": config.cp.value,
            "direction": config.direction.value,
            "seq": central.store.last_seq(),
        }

    @app.get("/v1/changes")
    def changes(
        cp: DeviceCp, since: str = "", limit: int = 1000, mark: str | None = None
    ) -> Response:
        start = _cursor(since)
        if mark is not None and not re.fullmatch(r"[0-9a-f]{0,64}", mark):
            raise CentralError(f"bad mark {mark[:80]!r}", key="mark_invalid", status=422)
        limit = _limit(limit, MAX_CHANGES_PAGE)
        store = central.store
        if mark and start and (held := store.change_mark(start)) is not None and held != mark:
            # a cursor this feed gave, but of another history: restored from a backup
            # and numbered past it again (cursor_ahead no longer says so), or another
            # site's. Its changes after that seq are not the ones after the replica's.
            # (No change there: past the end, cursor_ahead below.) Before the page is
            # built: a refused cursor is asked again and again
            _cursor_diverged(since)
        # the page and the head as of one moment: read apart, a write between them made a
        # cursor past the end look caught up
        joined, last, count, head = store.feed_page(start, limit)
        if not count and start > head:
            # a cursor this feed never gave: "caught up" would keep the replica fresh
            # while it misses every change the centre numbers again up to that cursor
            _cursor_ahead(since, head, "change feed")
        nxt = (str(last) if count else since).encode()
        tail = b'"}'
        if mark is not None:
            # the mark of the change the page's cursor stands on, to a reader that asks
            # with marks (docs/central.md): one that does not (an agent from before them)
            # gets the page as before, which its fast parse path takes
            at = last if count else start
            tail = b'","mark":"' + ((store.change_mark(at) or "") if at else "").encode() + tail
        body = b'{"changes":[' + joined + b'],"next":"' + nxt + tail
        # never from a cache: a proxy that kept an old empty page for this cursor would
        # make a replica look caught up while it misses what came since (found in review)
        return Response(body, media_type="application/json", headers=NO_STORE)

    @app.post("/v1/events")
    def post_events(upload: EventUpload, cp: DeviceCp) -> EventUploadResult:
        return central.upload_events(upload, cp)

    @app.get("/v1/events")
    def get_events(cp: DeviceCp, since: str = "", limit: int = 1000) -> Response:
        start = _cursor(since)
        # served from the stored texts, as /v1/changes is: no event is parsed again. A
        # page stops at about MAX_EVENTS_PAGE_BYTES too, so it may hold fewer than
        # ``limit`` while more follow: a reader pages on until a page is empty
        joined, last, count, head = central.store.events_page(start, _limit(limit, 10_000))
        if not count and start > head:
            _cursor_ahead(since, head, "event list")
        nxt = (str(last) if count else since).encode()
        body = b'{"events":[' + joined + b'],"next":"' + nxt + b'"}'
        return Response(body, media_type="application/json")

    @app.post("/v1/cargo")
    def post_cargo(items: CargoItems, cp: DeviceCp, request: Request) -> Cargo:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None:
            key = _ident(validate_idempotency_key, key)
            # sent again (its answer was lost): answered as the first was, even once its
            # expected date has left the window
            found = central.store.cargo_for_key(key, items)
            if found is not None:
                return found
        now = utc_now()
        check_expected_date(items.expected_date, now)
        return central.store.add_cargo(items, now, key)

    @app.put("/v1/cargo/{ccrn}")
    def put_cargo(ccrn: str, items: CargoItems, cp: DeviceCp) -> Cargo:
        now = utc_now()
        number = _ident(normalize_ccrn, ccrn)
        check_expected_date(items.expected_date, now)
        return central.store.amend_cargo(number, items, now)

    @app.get("/v1/cargo/{ccrn}")
    def get_cargo(ccrn: str, cp: DeviceCp) -> Cargo:
        return central.store.get_cargo(_ident(normalize_ccrn, ccrn))

    @app.post("/v1/bundles")
    def post_bundle(
        request: BundleRequest,
        raw: RawBody,
        cp: DeviceCp,
    ) -> Bundle:
        return central.bundle(request, raw)

    @app.delete("/v1/bundles/{ubr}")
    def delete_bundle(
        ubr: str,
        request: CancelRequest,
        raw: RawBody,
        cp: DeviceCp,
    ) -> Bundle:
        return central.cancel(_ident(normalize_ubr, ubr), None, request, raw)

    @app.delete("/v1/bundles/{ubr}/ccrns/{ccrn}")
    def delete_bundle_ccrn(
        ubr: str,
        ccrn: str,
        request: CancelRequest,
        raw: RawBody,
        cp: DeviceCp,
    ) -> Bundle:
        number = _ident(normalize_ubr, ubr)
        return central.cancel(number, _ident(normalize_ccrn, ccrn), request, raw)

    @app.get("/v1/bundles/{ubr}")
    def get_bundle(ubr: str, cp: DeviceCp) -> Bundle:
        return central.store.get_bundle(_ident(normalize_ubr, ubr))

    @app.get("/v1/bundles")
    def find_bundles(
        cp: DeviceCp, ccrn: str | None = None, vrn: str | None = None
    ) -> dict[str, list[Bundle]]:
        if ccrn is not None:
            return {"bundles": central.store.bundles_for_ccrn(_ident(normalize_ccrn, ccrn))}
        if vrn is not None:
            return {"bundles": central.store.active_bundles_for_plate(_ident(normalize_plate, vrn))}
        raise CentralError("ask with ?ccrn= or ?vrn=", key="query_missing", status=422)

    @app.post("/v1/ubr-blocks")
    def post_ubr_block(request: UbrBlockRequest, cp: DeviceCp) -> UbrBlock:
        return central.store.lease_ubr_block(cp, request.count, utc_now())

    @app.get("/sim/trucks")
    def sim_trucks(cp: DeviceCp) -> dict[str, Any]:
        return {"trucks": central.store.demo_trucks()}

    @app.get("/sim/accounts")
    def sim_accounts(cp: DeviceCp) -> dict[str, Any]:
        if central.store.get_meta("demo") != "1":
            raise CentralError("no demo data in this centre", key="not_demo", status=404)
        return {"accounts": central.store.demo_accounts()}

    @app.get("/sim/code-clock")
    def sim_code_clock(cp: DeviceCp) -> dict[str, Any]:
        central.need_test_clock()
        return {"offset_s": central.code_clock_offset().total_seconds()}

    @app.post("/sim/code-clock")
    def sim_advance_code_clock(request: CodeClockAdvance, cp: DeviceCp) -> dict[str, Any]:
        return {"offset_s": central.advance_code_clock(request.advance_s).total_seconds()}

    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    if config.delay_ms:
        app.add_middleware(Delay, delay_s=config.delay_ms / 1000)
    return app


def config_from_env(data_dir: Path, **overrides: Any) -> CentralConfig:
    """A config whose tokens come from ``ROCARS_CENTRAL_TOKENS`` when not given."""
    if "tokens" not in overrides and os.environ.get("ROCARS_CENTRAL_TOKENS"):
        overrides["tokens"] = parse_tokens([os.environ["ROCARS_CENTRAL_TOKENS"]])
    return CentralConfig(data_dir=data_dir, **overrides)
