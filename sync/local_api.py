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
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
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
from rocars.ids import normalize_ccrn, normalize_ubr
from rocars.models import Bundle, BundleRequest, CancelRequest, Cargo, CargoItems
from rocars.timeutil import to_rfc3339

logger = logging.getLogger(__name__)

#: A bundle of 99 CCRNs signed with a 16 KiB certificate still fits well under this.
DEFAULT_MAX_BODY = 64 * 1024
STALE_HEADER = "X-Rocars-Stale"

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

    def __init__(self, message: str, *, key: str, status: int, detail: Any = None) -> None:
        super().__init__(message, key=key)
        self.status = status
        self.detail = detail

    def body(self) -> dict[str, Any]:
        detail = self.detail if self.detail is not None else {"message": str(self)}
        return {"error": self.key, "detail": detail}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


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
) -> APIRouter:
    """The kiosk-facing routes; the agent mounts them next to /health and /metrics.

    ``central_up`` is the agent's view of the link (the puller's last success); a call
    forwarded while it says up that still finds the centre unreachable is treated the
    same way as a down link, and ``central_lost`` is told why (the agent marks its link
    down: without it, every kiosk call waited ``central.timeout_s`` for the centre again
    until the puller noticed). An answer of the centre, any status, is never a loss.
    """
    router = APIRouter()

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

    # -- shippers ------------------------------------------------------------------------

    @router.post("/v1/cargo")
    async def submit_cargo(request: Request) -> JSONResponse:
        async def run() -> Cargo:
            items = await _parse(request, CargoItems, max_body)
            return await forward(lambda: central.submit_cargo(items), "cargo submission")

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

        return await guarded(run)

    @router.delete("/v1/bundles/{ubr}")
    async def cancel_bundle(ubr: str, request: Request) -> JSONResponse:
        async def run() -> Bundle:
            key = _identifier("ubr", ubr)
            body = await _parse(request, CancelRequest, max_body)
            return await forward(lambda: central.cancel_bundle(key, body), "cancelling")

        return await guarded(run)

    @router.delete("/v1/bundles/{ubr}/ccrns/{ccrn}")
    async def cancel_ccrn(ubr: str, ccrn: str, request: Request) -> JSONResponse:
        async def run() -> Bundle:
            key = _identifier("ubr", ubr)
            one = _identifier("ccrn", ccrn)
            body = await _parse(request, CancelRequest, max_body)
            return await forward(lambda: central.cancel_ccrn(key, one, body), "cancelling")

        return await guarded(run)

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
