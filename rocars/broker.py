"""The embedded MQTT broker (amqtt), for a control point run on one machine.

Runs amqtt's asyncio broker on its own thread, loopback only by default. Production
uses mosquitto (see docs/operations.md); this is what ``rocars-edge up`` starts when no
``--broker`` is given.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

from rocars.errors import BusError

logger = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _lost_ack(err: BaseException | None) -> bool:
    """amqtt's ``TimeoutError`` for a client that did not acknowledge a QoS 1 or 2
    message within 5 s (a client gone mid-delivery, a machine so loaded that it could
    not answer): amqtt has logged it as a warning, and goes on."""
    return isinstance(err, TimeoutError) and str(err).startswith("Timeout waiting for PUB")


def _lost_acks_said_plainly(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A retained message's delivery to a new subscriber raises ``_lost_ack`` in a task
    nobody awaits: asyncio logged it as an ERROR with its traceback ("Task exception was
    never retrieved"), two demo runs in six on a loaded machine. Said at INFO; anything
    else as asyncio says it."""
    err = context.get("exception")
    if _lost_ack(err):
        logger.info("embedded broker: %s (a client gone or stalled)", err)
        return
    if _amqtt_race(err):
        # amqtt iterates its subscriptions while another client's task changes them
        # (CI's demo test, once): that client's new connection dies with no handler.
        # Closed, the client reconnects at once (else it waits out its CONNACK)
        transport = context.get("transport")
        if transport is not None:
            transport.close()
        logger.warning(
            "embedded broker: amqtt dropped a connecting client (%s); it reconnects", err
        )
        return
    loop.default_exception_handler(context)


def _amqtt_race(err: BaseException | None) -> bool:
    """amqtt's own ``RuntimeError`` from changing a dict it iterates, raised in its broker."""
    if not isinstance(err, RuntimeError) or "changed size during iteration" not in str(err):
        return False
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.replace("\\", "/").endswith("amqtt/broker.py"):
            return True
        tb = tb.tb_next
    return False


class _LostAcksFilter(logging.Filter):
    """amqtt's broadcast logs ``_lost_ack`` with ``logger.exception`` (an ERROR with its
    traceback, "Task failed and will be skipped"): said at INFO instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and _lost_ack(record.exc_info[1]):
            logger.info("embedded broker: %s (a client gone or stalled)", record.exc_info[1])
            return False
        return True


class EmbeddedBroker:
    """amqtt on a background thread. ``url`` is what clients connect to."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self._thread = threading.Thread(target=self._run, name="amqtt-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise BusError(f"embedded broker did not start within {timeout}s")
        if self._error is not None:
            raise BusError(f"embedded broker failed: {self._error}") from self._error
        logger.info("embedded MQTT broker on %s", self.url)

    def _run(self) -> None:
        from amqtt.broker import Broker  # imported here: only the embedded mode needs it

        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        amqtt_broker = logging.getLogger("amqtt.broker")
        if not any(isinstance(f, _LostAcksFilter) for f in amqtt_broker.filters):
            amqtt_broker.addFilter(_LostAcksFilter())

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(_lost_acks_said_plainly)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "timeout_disconnect_delay": 0,
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        try:
            self._broker = Broker(config, loop=loop)
            loop.run_until_complete(self._broker.start())
        except Exception as err:  # noqa: BLE001 - reported to the starting thread, which raises it
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    def stop(self) -> None:
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or not loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
        try:
            future.result(timeout=10)
        except Exception:  # shutting down anyway: log and stop the loop
            logger.exception("embedded broker shutdown failed")
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
