"""The local API the kiosks call: the centre's bundling, cargo and query paths, served here.

Same paths and bodies as the central API (``rocars.client.RocarsClient`` works against
both). With the centre up, every call is forwarded and its errors passed through with
their key and status. With the centre down, queries are answered from the replica and
say since when they may be stale (``X-Rocars-Stale`` header and ``stale_since`` in the
body); bundling, cancelling and cargo submission are refused with 503
``central_unavailable`` (offline bundling is a later issue). A forwarded call that finds
the centre unreachable (no answer at all: refused, timed out, hung up) is answered the
same way and says so (``central_lost``): the agent marks its link down, and the calls
after it do not wait for the centre again until the puller has seen it answer.

The calls that carry a driver's credentials (bundling, cancelling) are limited per client
address (``AttemptLimit``): the centre locks an account after a few failures, but a
kiosk could spread its guesses over many accounts; after ``max_failures`` refusals of
credentials within ``window_s`` its further such calls are answered 429
``too_many_attempts`` here, without asking the centre.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from rocars.client import (
    ANSWER_TOO_LARGE,
    KIOSK_CALLS_REFUSED,
    MALFORMED_ANSWER,
    NOT_SENT,
    ApiError,
    RocarsClient,
)
from rocars.errors import InvalidIdentifier, RocarsError
from rocars.ids import (
    IDEMPOTENCY_HEADER,
    normalize_ccrn,
    normalize_ubr,
    validate_idempotency_key,
)
from rocars.models import Bundle, BundleRequest, CancelRequest, Cargo, CargoItems
from rocars.timeutil import to_rfc3339

logger = logging.getLogger(__name__)

#: A bundle of 99 CCRNs signed with a 16 KiB certificate still fits well under this.
DEFAULT_MAX_BODY = 64 * 1024
STALE_HEADER = "X-Rocars-Stale"
#: Refusals of credentials per client address that the bundling and cancel calls allow
#: within the window (``AttemptLimit``), and how many addresses it keeps. A kiosk is
#: shared by every driver at the control point, and honest typos count too: 20 in 15
#: minutes is several times what a busy kiosk's drivers mistype, and 80 guesses an hour
#: against passwords and 6-digit codes of accounts that lock after 5.
DEFAULT_MAX_FAILURES = 20
DEFAULT_FAILURE_WINDOW_S = 15 * 60
DEFAULT_MAX_CLIENTS = 1024
#: The centre's answers that refuse a driver's credentials (docs/central.md): a wrong
#: password or code, a certificate or signature refused. Not ``account_locked``: the
#: centre checked nothing, and one driver trying his locked account again and again
#: would otherwise lock the kiosk for everyone behind him.
CREDENTIAL_FAILURES = frozenset(
    {
        "credentials_invalid",
        "security_code_invalid",
        "security_code_used",
        "cert_untrusted",
        "cert_not_for_signing",
        "cert_expired",
        "cert_revoked",
        "cert_signature_invalid",
        "cert_account_mismatch",
        "cert_signature_stale",
        "cert_signature_used",
    }
)

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class ReplicaReader(Protocol):
    """What the local API reads from the replica (``sync.replica.Replica`` has it)."""

    def bundle(self, ubr: str) -> Bundle | None: ...

    def bundles_for_ccrn(self, ccrn: str) -> list[Bundle]: ...

    def cargo(self, ccrn: str) -> Cargo | None: ...

    def last_sync_at(self) -> datetime | None: ...


class LocalApiError(RocarsError):
    """An answer the local API gives itself (not passed through from the centre)."""

    key = "local_api_error"

    def __init__(
        self,
        message: str,
        *,
        key: str,
        status: int,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, key=key)
        self.status = status
        self.detail = detail
        self.headers = headers

    def body(self) -> dict[str, Any]:
        detail = self.detail if self.detail is not None else {"message": str(self)}
        return {"error": self.key, "detail": detail}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


@dataclass
class _Client:
    failures: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    limited: bool = False


class AttemptLimit:
    """Refusals of credentials per client address in a sliding window.

    Each call with credentials reserves a place first (``reserve``) and gives it back
    when answered (``release``), as a failure if the centre refused the credentials:
    calls in flight count with the failures, so that a kiosk sending many at once gets
    no more checked than sent one by one. A success does not clear the count (one valid
    account of its own must not let a kiosk guess others). At most ``max_clients``
    addresses are kept, the least recently seen dropped first.
    """

    def __init__(
        self,
        max_failures: int = DEFAULT_MAX_FAILURES,
        window_s: float = DEFAULT_FAILURE_WINDOW_S,
        *,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window_s <= 0 or max_clients < 1:
            raise ValueError("max_failures, window_s and max_clients must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_clients = max_clients
        self._clock = clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)

    def _keep(self, address: str, client: _Client) -> None:
        self._clients[address] = client
        self._clients.move_to_end(address)
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)

    def _prune(self, client: _Client, now: float) -> None:
        while client.failures and client.failures[0] <= now - self.window_s:
            client.failures.popleft()

    def reserve(self, address: str) -> _Client:
        """A place for one call from ``address``, or 429 ``too_many_attempts``."""
        now = self._clock()
        with self._lock:
            client = self._clients.get(address) or _Client()
            self._keep(address, client)
            self._prune(client, now)
            taken = len(client.failures) + client.in_flight
            if taken < self.max_failures:
                client.limited = False
                client.in_flight += 1
                return client
            # free again once enough failures age out; calls in flight alone: soon
            ages_out = taken - self.max_failures
            retry_after = (
                max(1, int(client.failures[ages_out] + self.window_s - now + 0.999))
                if ages_out < len(client.failures)
                else 1
            )
            first, client.limited = not client.limited, True
            failures = len(client.failures)
        if first:
            logger.warning(
                "kiosk calls with credentials from %s refused for %ds: %d refused "
                "credentials in %gs",
                address,
                retry_after,
                failures,
                self.window_s,
            )
        message = f"too many refused credentials from this kiosk: wait {retry_after}s"
        raise LocalApiError(
            message,
            key="too_many_attempts",
            status=429,
            detail={"message": message, "retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )

    def release(self, address: str, client: _Client, *, failed: bool) -> None:
        """Give back ``reserve``'s place, counting it as a failure if ``failed``."""
        now = self._clock()
        with self._lock:
            client.in_flight = max(0, client.in_flight - 1)
            self._prune(client, now)
            if failed:
                client.failures.append(now)
                if self._clients.get(address) is not client:  # dropped meanwhile
                    self._keep(address, client)
            elif not client.failures and not client.in_flight:
                if self._clients.get(address) is client:
                    del self._clients[address]


def _unavailable(what: str, *, maybe_applied: bool = False) -> LocalApiError:
    message = f"the central ROCARS cannot be reached; {what} is not possible now"
    if maybe_applied:
        message += " (the request may or may not have reached it: query before trying again)"
    return LocalApiError(
        message,
        key="central_unavailable",
        status=503,
        detail={"message": message, "what": what, "maybe_applied": maybe_applied},
    )


def _validation_error(errors: list[dict[str, str]]) -> LocalApiError:
    return LocalApiError("validation failed", key="validation_error", status=422, detail=errors)


def _pydantic_errors(err: ValidationError) -> list[dict[str, str]]:
    out = []
    for item in err.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"]) or "body"
        out.append({"field": field, "message": str(item["msg"])})
    return out


async def _read_body(request: Request, max_body: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``max_body`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > max_body
        except ValueError:
            raise _validation_error(
                [{"field": "content-length", "message": "not a number"}]
            ) from None
        if too_big:
            raise LocalApiError(
                f"request body over {max_body} bytes",
                key="payload_too_large",
                status=413,
                detail={"message": f"request body over {max_body} bytes", "limit": max_body},
            )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise LocalApiError(
                f"request body over {max_body} bytes",
                key="payload_too_large",
                status=413,
                detail={"message": f"request body over {max_body} bytes", "limit": max_body},
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def _parse(request: Request, model: type[M], max_body: int) -> M:
    raw = await _read_body(request, max_body)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as err:
        # not UTF-8, not JSON, an integer of over 4300 digits, or nested past the
        # interpreter's recursion limit (a 500 before)
        message = f"not UTF-8 JSON: {str(err)[:200]}"
        raise _validation_error([{"field": "body", "message": message}]) from err
    if not isinstance(data, dict):
        raise _validation_error([{"field": "body", "message": "must be a JSON object"}])
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise _validation_error(_pydantic_errors(err)) from err


def _identifier(kind: str, value: str) -> str:
    try:
        return normalize_ubr(value) if kind == "ubr" else normalize_ccrn(value)
    except InvalidIdentifier as err:
        raise _validation_error([{"field": kind, "message": str(err)}]) from err


def _passthrough(err: ApiError) -> JSONResponse:
    status = err.status if 400 <= err.status <= 599 else 502
    return JSONResponse({"error": err.key, "detail": err.detail}, status_code=status)


def build_router(
    central: RocarsClient,
    replica: ReplicaReader,
    central_up: Callable[[], bool],
    *,
    central_lost: Callable[[str], None] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    attempts: AttemptLimit | None = None,
) -> APIRouter:
    """The kiosk-facing routes; the agent mounts them next to /health and /metrics.

    ``central_up`` is the agent's view of the link (the puller's last success); a call
    forwarded while it says up that still finds the centre unreachable is treated the
    same way as a down link, and ``central_lost`` is told why (the agent marks its link
    down: without it, every kiosk call waited ``central.timeout_s`` for the centre again
    until the puller noticed). An answer of the centre, any status, is never a loss.
    ``attempts`` limits the calls with credentials per client address (default:
    ``AttemptLimit()``, 20 refusals in 15 minutes).
    """
    router = APIRouter()
    limit = attempts if attempts is not None else AttemptLimit()

    def note_lost(err: ApiError) -> None:
        """Tell ``central_lost`` of a transport failure (``central_unreachable``); an
        answer that could not be decoded, or redirects without end, came from something
        that answers."""
        if central_lost is not None and isinstance(err.__cause__, httpx.TransportError):
            central_lost(f"central_unreachable (kiosk call {err})"[:200])

    async def forward(call: Callable[[], T], what: str) -> T:
        if not central_up():
            raise _unavailable(what)
        try:
            return await run_in_threadpool(call)
        except ApiError as err:
            if err.key == "central_unreachable":
                note_lost(err)
                logger.warning("centre unreachable while forwarding %s: %s", what, err)
                # A refused connection, or one never made in time, never reached the
                # centre; a timeout or a dropped connection after sending may have, after
                # the centre acted.
                reached = not isinstance(err.__cause__, NOT_SENT)
                raise _unavailable(what, maybe_applied=reached) from err
            if err.key in (MALFORMED_ANSWER, ANSWER_TOO_LARGE):
                # a success answer that is no answer (a proxy's page, a broken centre,
                # one too large to read): the centre may well have acted
                logger.warning("the centre's answer to %s is not one: %s", what, err)
                raise _unavailable(what, maybe_applied=True) from err
            raise

    def stale(body: dict[str, Any], status_code: int = 200) -> JSONResponse:
        since = _since(replica)
        body["stale_since"] = since
        detail = body.get("detail")
        if isinstance(detail, dict):  # an error's: where a client that reads it looks
            detail["stale_since"] = since
        return JSONResponse(body, status_code=status_code, headers={STALE_HEADER: since})

    async def answer(
        from_central: Callable[[], Any], from_replica: Callable[[], dict[str, Any]]
    ) -> JSONResponse:
        if central_up():
            try:
                result = await run_in_threadpool(from_central)
            except ApiError as err:
                if err.key in (MALFORMED_ANSWER, ANSWER_TOO_LARGE):
                    logger.warning("the centre's answer is not one; from the replica: %s", err)
                elif err.key != "central_unreachable":
                    return _passthrough(err)
                else:
                    note_lost(err)
                    logger.warning("centre unreachable, answering from the replica: %s", err)
            else:
                return JSONResponse(_dump(result))
        try:
            body = await run_in_threadpool(from_replica)
        except LocalApiError as err:
            # a "not found" from a copy that may be behind says so as a stale answer does,
            # in the body too: a client that reads no headers (the kiosk) sees it
            return stale(err.body(), err.status)
        return stale(body)

    async def guarded(handler: Callable[[], Any]) -> JSONResponse:
        try:
            result = await handler()
        except LocalApiError as err:
            return err.response()
        except ApiError as err:
            return _passthrough(err)
        if isinstance(result, JSONResponse):
            return result
        return JSONResponse(_dump(result))

    async def limited(request: Request, handler: Callable[[], Awaitable[Bundle]]) -> Bundle:
        """A call with a driver's credentials: refused at once while its client address
        is over the limit; a refusal of the credentials by the centre counts."""
        address = request.client.host if request.client is not None else "unknown"
        client = limit.reserve(address)
        failed = False
        try:
            return await handler()
        except ApiError as err:
            failed = err.key in CREDENTIAL_FAILURES
            raise
        finally:
            limit.release(address, client, failed=failed)

    # -- shippers ------------------------------------------------------------------------

    @router.post("/v1/cargo")
    async def submit_cargo(request: Request) -> JSONResponse:
        async def run() -> Cargo:
            key = request.headers.get(IDEMPOTENCY_HEADER)
            if key is not None:  # passed on: a kiosk may send the submission again
                try:
                    key = validate_idempotency_key(key)
                except InvalidIdentifier as err:
                    raise _validation_error(
                        [{"field": IDEMPOTENCY_HEADER, "message": str(err)}]
                    ) from err
            items = await _parse(request, CargoItems, max_body)
            return await forward(lambda: central.submit_cargo(items, key), "cargo submission")

        return await guarded(run)

    @router.put("/v1/cargo/{ccrn}")
    async def amend_cargo(ccrn: str, request: Request) -> JSONResponse:
        async def run() -> Cargo:
            key = _identifier("ccrn", ccrn)
            items = await _parse(request, CargoItems, max_body)
            return await forward(lambda: central.amend_cargo(key, items), "cargo amendment")

        return await guarded(run)

    @router.get("/v1/cargo/{ccrn}")
    async def get_cargo(ccrn: str) -> JSONResponse:
        async def run() -> JSONResponse:
            key = _identifier("ccrn", ccrn)

            def offline() -> dict[str, Any]:
                cargo = replica.cargo(key)
                if cargo is None:
                    raise _not_found("ccrn", key)
                return cargo.model_dump(mode="json")

            return await answer(lambda: central.get_cargo(key), offline)

        return await guarded(run)

    # -- drivers -------------------------------------------------------------------------

    @router.post("/v1/bundles")
    async def bundle(request: Request) -> JSONResponse:
        async def run() -> Bundle:
            body = await _parse(request, BundleRequest, max_body)
            return await forward(lambda: central.bundle(body), "bundling")

        return await guarded(lambda: limited(request, run))

    @router.delete("/v1/bundles/{ubr}")
    async def cancel_bundle(ubr: str, request: Request) -> JSONResponse:
        async def run() -> Bundle:
            key = _identifier("ubr", ubr)
            body = await _parse(request, CancelRequest, max_body)
            return await forward(lambda: central.cancel_bundle(key, body), "cancelling")

        return await guarded(lambda: limited(request, run))

    @router.delete("/v1/bundles/{ubr}/ccrns/{ccrn}")
    async def cancel_ccrn(ubr: str, ccrn: str, request: Request) -> JSONResponse:
        async def run() -> Bundle:
            key = _identifier("ubr", ubr)
            one = _identifier("ccrn", ccrn)
            body = await _parse(request, CancelRequest, max_body)
            return await forward(lambda: central.cancel_ccrn(key, one, body), "cancelling")

        return await guarded(lambda: limited(request, run))

    @router.get("/v1/bundles/{ubr}")
    async def get_bundle(ubr: str) -> JSONResponse:
        async def run() -> JSONResponse:
            key = _identifier("ubr", ubr)

            def offline() -> dict[str, Any]:
                found = replica.bundle(key)
                if found is None:
                    raise _not_found("ubr", key)
                body: dict[str, Any] = _dump(found)
                return body

            return await answer(lambda: central.get_bundle(key), offline)

        return await guarded(run)

    @router.get("/v1/bundles")
    async def bundles_for_ccrn(request: Request) -> JSONResponse:
        async def run() -> JSONResponse:
            params = request.query_params
            if set(params) - {"ccrn"} or "ccrn" not in params:
                raise _validation_error([{"field": "ccrn", "message": "give ?ccrn=CCRN only"}])
            key = _identifier("ccrn", params["ccrn"])

            def online() -> dict[str, Any]:
                return {"bundles": [_dump(b) for b in central.bundles_for_ccrn(key)]}

            def offline() -> dict[str, Any]:
                found = replica.bundles_for_ccrn(key)
                if not found and replica.cargo(key) is None:
                    raise _not_found("ccrn", key)
                return {"bundles": [_dump(b) for b in found]}

            return await answer(online, offline)

        return await guarded(run)

    return router


def refusing_router(reason: str) -> APIRouter:
    """In place of the kiosks' routes when the agent will not serve them (``reason``, see
    ``sync.agent.kiosk_calls_refused``): every ``/v1/`` call is answered 503
    ``kiosk_calls_refused`` saying why, before its body is read, so that a kiosk sent
    there logs the cause and its screen says it cannot reach the control point system
    (FastAPI's bare 404 said neither)."""
    router = APIRouter()
    refusal = LocalApiError(reason, key=KIOSK_CALLS_REFUSED, status=503)

    methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

    @router.api_route("/v1/{path:path}", methods=methods)
    async def refused(path: str) -> JSONResponse:
        return refusal.response()

    return router


def _since(replica: ReplicaReader) -> str:
    last = replica.last_sync_at()
    return to_rfc3339(last) if last is not None else "never"


def _not_found(kind: str, key: str) -> LocalApiError:
    return LocalApiError(
        f"{kind} {key} not found",
        key=f"{kind}_not_found",
        status=404,
        detail={"message": f"{kind} {key} not found", kind: key},
    )


#: A bundle's fields a kiosk is never given: customs' pre-selection. Kiosks are public
#: machines on the booth LAN and the local API asks no credentials for a query: a driver
#: who read INSPECT for his bundle could cancel it and bundle the same CCRNs again. The
#: kiosk screens and receipts never showed them.
KIOSK_HIDDEN = {"result", "bay"}


def _dump(result: Any) -> Any:
    if isinstance(result, Bundle):
        return result.model_dump(mode="json", exclude=KIOSK_HIDDEN)
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return result
