"""HTTP client for the central ROCARS API, and for the sync agent's local API (same calls).

Errors come back as ApiError with the server's stable key; a transport failure is
``ApiError("central_unreachable")``, and a success answer that is not what the call
returns (not JSON, or not of its shape: a proxy's page, a broken server) is
``ApiError("central_malformed_answer")`` with the answer's status, so callers need catch
one type. A call whose answer is still coming ``DEADLINE_FACTOR`` times its longest
timeout after the call began (a peer or proxy sending it a byte at a time, each within
the read timeout) is ``central_unreachable`` too, its cause an ``AnswerDeadline``: a
timeout after the request was sent, so a write "maybe applied".
"""

from __future__ import annotations

import logging
import math
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from rocars.config import check_plain_http, tls_problem
from rocars.errors import RocarsError
from rocars.ids import IDEMPOTENCY_HEADER
from rocars.models import (
    Bundle,
    BundleRequest,
    CancelRequest,
    Cargo,
    CargoItems,
    ChangePage,
    EventUploadResult,
    UbrBlock,
)

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

#: The key of a success answer that is not what the call returns (module doc).
MALFORMED_ANSWER = "central_malformed_answer"
#: The key of an error answer with no error key of its own (a proxy's page, a bare 500).
UNREADABLE_ERROR = "api_error"
#: The local API's key when its agent will not serve the kiosks' calls (in clear on a
#: network address): nothing was done, the detail says why.
KIOSK_CALLS_REFUSED = "kiosk_calls_refused"
#: The key of an answer larger than its call allows (read no further).
ANSWER_TOO_LARGE = "central_answer_too_large"
#: The most an answer may be unless its call says otherwise (the largest, a page of
#: ``GET /v1/events``, is about 16 MiB of events, or one larger event alone).
MAX_ANSWER_BYTES = 64 * 1024 * 1024

DEFAULT_TIMEOUT_S = 10.0
#: A call ends within this many times its longest timeout (connect, read, write, pool:
#: the client's, or the call's own ``timeout=``) after it began: httpx's timeouts are per
#: operation, so an answer trickled a byte at a time within the read timeout held a
#: call (the uploader's worker, a kiosk's bundling) for hours.
DEADLINE_FACTOR = 3.0
#: ... and a second more for each this many bytes of answer come in by then: a page of
#: megabytes over a slow link (a backup line at 64 KB/s) comes steadily, and cut at the
#: deadline every time it stopped the feed for good; a trickle earns nothing.
DEADLINE_BYTES_A_SECOND = 8 * 1024
#: Transport errors raised before any of a request left this side: the other end cannot
#: have acted on it (everything else after sending may have: "maybe applied").
NOT_SENT: tuple[type[httpx.HTTPError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
#: An idle pooled connection is dropped after this long, well before the server's own
#: keep-alive timeout closes it (uvicorn: 5 s, ours: ``SERVER_KEEPALIVE_S``). With the
#: two equal (httpx's default is also 5 s) a request sent just as the server closes the
#: idle connection fails with "Server disconnected without sending a response".
KEEPALIVE_EXPIRY_S = 2.0
#: the keep-alive timeout our servers (local API, simulated centre) give uvicorn
SERVER_KEEPALIVE_S = 15


class ApiError(RocarsError):
    """An error answer (``{"error": KEY, "detail": ...}``) or no answer at all."""

    key = UNREADABLE_ERROR

    def __init__(self, message: str, *, key: str, status: int = 0, detail: Any = None) -> None:
        super().__init__(message, key=key)
        self.status = status
        self.detail = detail


class AnswerDeadline(httpx.ReadTimeout):
    """A call's answer did not end by its deadline (``DEADLINE_FACTOR``): the cause of its
    ``central_unreachable``. A timeout after sending, as httpx's own: never ``NOT_SENT``."""


class BundleList(BaseModel):
    """``GET /v1/bundles?ccrn=``: the bundles a CCRN is in."""

    bundles: list[Bundle]


def malformed_answer(call: str, what: str, status: int = 200) -> ApiError:
    """A success answer to ``call`` that is not what the call returns."""
    return ApiError(
        f"{call} -> {status}: the answer is not what the call returns ({what})",
        key=MALFORMED_ANSWER,
        status=status,
        detail=what,
    )


def tls_refusal(err: BaseException) -> str:
    """Why TLS refused the server while connecting, if it did ("" otherwise): its
    certificate is not trusted (expired, another CA, another name), it does not speak
    TLS there. A TLS error after the connection was made is not a refusal."""
    seen: BaseException | None = err
    connecting = False
    for _ in range(8):  # ApiError <- httpx <- httpcore <- ssl
        if seen is None:
            break
        connecting = connecting or isinstance(seen, httpx.ConnectError)
        if isinstance(seen, ssl.SSLError) and connecting:
            why = f"TLS: {tls_problem(seen)}"
            return f"{why} (plain http://?)" if seen.reason == "WRONG_VERSION_NUMBER" else why
        seen = seen.__cause__ or seen.__context__
    return ""


def validated(model: type[M], data: Any, call: str) -> M:
    """``data`` (an answer's JSON) as ``model``; ``MALFORMED_ANSWER`` if it is not one."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "the answer"
        raise malformed_answer(call, f"{where}: {first['msg']}"[:200]) from err


def _too_large(method: str, path: str, max_bytes: int, status: int) -> ApiError:
    return ApiError(
        f"{method} {path}: the answer is over {max_bytes:,} bytes; not read",
        key=ANSWER_TOO_LARGE,
        status=status,
    )


class RocarsClient:
    """Blocking client. ``token`` is the control point's bearer token (devices only);
    ``verify``, what an https server's certificate is checked against (httpx's: True is
    the public CAs, a context its own). A token is refused (``ConfigError``,
    ``rocars.config.check_plain_http``) for an ``http://`` url to another machine unless
    ``allow_plain`` (or ``ROCARS_CENTRAL_PLAIN_HTTP=1``) says so: it would go with every
    call in clear. ``deadline_s``: the most a call may take from its start to the end of
    its answer (default ``DEADLINE_FACTOR`` times its longest timeout); ``clock``, the
    monotonic clock it is measured by."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        timeout: float = DEFAULT_TIMEOUT_S,
        keepalive_s: float = KEEPALIVE_EXPIRY_S,
        verify: ssl.SSLContext | bool = True,
        allow_plain: bool = False,
        deadline_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if token:
            check_plain_http(str(base_url), "the bearer token", allow_plain=allow_plain)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            limits=httpx.Limits(keepalive_expiry=keepalive_s),
            verify=verify,
        )
        self._deadline_s = deadline_s
        self._clock = clock

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RocarsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The answer's JSON; ApiError for no answer, an error answer or one not JSON."""
        response = self._request(method, path, **kwargs)
        try:
            return response.json()
        except RecursionError as err:
            # arrays nested past the interpreter's recursion limit: no answer of a call's,
            # and raised bare it ended the uploader's worker (as rocars.messages.decode_json)
            what = "not JSON: nested too deep to read"
            raise malformed_answer(f"{method} {path}", what, response.status_code) from err
        except ValueError as err:
            text = " ".join(response.text.split())
            what = f"not JSON: {text[:120]!r}" if text else "an empty answer"
            raise malformed_answer(f"{method} {path}", what, response.status_code) from err

    def _answer(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        """``_call``'s answer as ``model``."""
        return validated(model, self._call(method, path, **kwargs), f"{method} {path}")

    def _request(
        self, method: str, path: str, *, max_bytes: int = MAX_ANSWER_BYTES, **kwargs: Any
    ) -> httpx.Response:
        """A 2xx answer; ApiError for no answer, an error answer, or one over ``max_bytes``
        (``ANSWER_TOO_LARGE``: read no further than that, so a broken or hostile server
        cannot fill this process's memory). The call's deadline is checked once the
        headers are in and after each piece of the body: a body trickled in ends the call
        by it, or one read timeout after. Headers trickled in are httpx's to read (each
        read within the read timeout, up to h11's size limit), then checked."""
        limits = kwargs.get("timeout", httpx.USE_CLIENT_DEFAULT)
        deadline = self._clock() + self._call_deadline_s(limits)
        try:
            with self._http.stream(method, path, **kwargs) as streamed:
                self._check_deadline(deadline, method, path)
                declared = streamed.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise _too_large(method, path, max_bytes, streamed.status_code)
                chunks: list[bytes] = []
                size = 0
                for chunk in streamed.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_large(method, path, max_bytes, streamed.status_code)
                    chunks.append(chunk)
                    self._check_deadline(deadline + size / DEADLINE_BYTES_A_SECOND, method, path)
        except httpx.HTTPError as err:
            why = tls_refusal(err) or str(err)
            raise ApiError(f"{method} {path}: {why}", key="central_unreachable") from err
        # the body as read (decoded already: no Content-Encoding to apply again)
        response = httpx.Response(
            streamed.status_code,
            headers={"content-type": streamed.headers.get("content-type", "")},
            content=b"".join(chunks),
            request=streamed.request,
        )
        if response.status_code >= 400:
            try:
                body = response.json()
                key, detail = str(body.get("error", UNREADABLE_ERROR)), body.get("detail")
            except (ValueError, AttributeError, RecursionError):
                # not JSON, not an object, or nested past the recursion limit
                key, detail = UNREADABLE_ERROR, response.text[:200]
            raise ApiError(
                f"{method} {path} -> {response.status_code} {key}",
                key=key,
                status=response.status_code,
                detail=detail,
            )
        return response

    def _call_deadline_s(self, timeout: Any) -> float:
        """How long a call with ``timeout`` (its ``timeout=``, or httpx's "the client's")
        may take."""
        if self._deadline_s is not None:
            return self._deadline_s
        if timeout is httpx.USE_CLIENT_DEFAULT:
            timeout = self._http.timeout
        limits = httpx.Timeout(timeout)
        parts = [t for t in (limits.connect, limits.read, limits.write, limits.pool) if t]
        return DEADLINE_FACTOR * max(parts) if parts else math.inf  # no timeout: none

    def _check_deadline(self, deadline: float, method: str, path: str) -> None:
        if self._clock() > deadline:
            raise AnswerDeadline(f"{method} {path}: no whole answer by the call's deadline")

    # -- devices -------------------------------------------------------------------------

    def changes(self, since: str, limit: int = 1000) -> ChangePage:
        return self._answer(
            ChangePage, "GET", "/v1/changes", params={"since": since, "limit": limit}
        )

    def upload_events(self, events: list[dict[str, Any]]) -> EventUploadResult:
        return self._answer(EventUploadResult, "POST", "/v1/events", json={"events": events})

    def upload_event_json(self, events: Sequence[str]) -> EventUploadResult:
        """``upload_events`` for events already encoded (each one JSON object's text).

        The body is joined from them as they are: no decoding and encoding again. A
        batch of 100 records through ``json.dumps`` was one C call of 0.5-1 ms that kept
        the GIL meanwhile, and the sync agent's lanes waited for it (docs/benchmarks.md).
        """
        body = ('{"events":[' + ",".join(events) + "]}").encode()
        return self._answer(
            EventUploadResult,
            "POST",
            "/v1/events",
            content=body,
            headers={"Content-Type": "application/json"},
        )

    def lease_ubr_block(self, count: int) -> UbrBlock:
        return self._answer(UbrBlock, "POST", "/v1/ubr-blocks", json={"count": count})

    # -- shippers ------------------------------------------------------------------------

    def submit_cargo(self, items: CargoItems, idempotency_key: str | None = None) -> Cargo:
        """A new CCRN. With ``idempotency_key`` the submission can be sent again after a
        lost answer: the centre answers with the cargo that key made, not a second one."""
        headers = {} if idempotency_key is None else {IDEMPOTENCY_HEADER: idempotency_key}
        return self._answer(
            Cargo, "POST", "/v1/cargo", json=items.model_dump(mode="json"), headers=headers
        )

    def amend_cargo(self, ccrn: str, items: CargoItems) -> Cargo:
        return self._answer(Cargo, "PUT", f"/v1/cargo/{ccrn}", json=items.model_dump(mode="json"))

    def get_cargo(self, ccrn: str) -> Cargo:
        return self._answer(Cargo, "GET", f"/v1/cargo/{ccrn}")

    # -- drivers -------------------------------------------------------------------------

    def bundle(self, request: BundleRequest) -> Bundle:
        return self._answer(Bundle, "POST", "/v1/bundles", json=request.model_dump(mode="json"))

    def cancel_bundle(self, ubr: str, request: CancelRequest) -> Bundle:
        return self._answer(
            Bundle, "DELETE", f"/v1/bundles/{ubr}", json=request.model_dump(mode="json")
        )

    def cancel_ccrn(self, ubr: str, ccrn: str, request: CancelRequest) -> Bundle:
        path = f"/v1/bundles/{ubr}/ccrns/{ccrn}"
        return self._answer(Bundle, "DELETE", path, json=request.model_dump(mode="json"))

    def get_bundle(self, ubr: str) -> Bundle:
        return self._answer(Bundle, "GET", f"/v1/bundles/{ubr}")

    def bundles_for_ccrn(self, ccrn: str) -> list[Bundle]:
        return self._answer(BundleList, "GET", "/v1/bundles", params={"ccrn": ccrn}).bundles
