"""The agent's own HTTP API: ``/health``, ``/metrics``, ``/records``; more routers mounted.

Served by uvicorn on a thread inside the agent (``ApiServer``). The kiosk's local API
(``sync.local_api.build_router``) is one of the ``extra_routers``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

import uvicorn
from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import JSONResponse, PlainTextResponse

from rocars.client import SERVER_KEEPALIVE_S
from rocars.threads import start_in_background
from sync.errors import SyncError

logger = logging.getLogger(__name__)


class AgentView(Protocol):
    """What the API reads from the agent."""

    def health(self) -> dict[str, Any]: ...

    def metrics_text(self) -> str: ...

    def records(self, limit: int, lane: str | None) -> list[dict[str, Any]]: ...


def create_api(view: AgentView, extra_routers: list[APIRouter] | None = None) -> FastAPI:
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
        limit: int = Query(default=50, ge=1, le=1000),
        lane: str | None = Query(default=None, pattern=r"^[A-Za-z0-9_-]{1,16}$"),
    ) -> dict[str, Any]:
        return {"records": view.records(limit, lane)}

    for router in extra_routers or []:
        app.include_router(router)
    return app


class ApiServer:
    """uvicorn on a daemon thread; ``stop()`` asks it to exit and waits."""

    def __init__(
        self, app: FastAPI, host: str, port: int, *, background_batch: bool = False
    ) -> None:
        self.host = host
        self.port = port
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=SERVER_KEEPALIVE_S,
        )
        self._server = uvicorn.Server(config)
        self._background_batch = background_batch  # its worker threads inherit it
        self._thread = threading.Thread(target=self._server.run, name="sync-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        start_in_background(self._thread, self._background_batch)
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise SyncError(f"local API did not start on {self.url}", key="api_start_failed")
            time.sleep(0.02)
        logger.info("local API on %s", self.url)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
