"""Logging set-up shared by every command."""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue

_listener: logging.handlers.QueueListener | None = None


def setup_logging(verbose: bool = False, *, background: bool = False) -> None:
    """One line per record on stderr; ``ROCARS_LOG_LEVEL`` overrides.

    ``background``: the calling threads only queue each record; one listener thread
    formats and writes them. The sync agent logs every lane decision and a plate read
    must not wait for the time stamp formatting and the write to stderr (the journal).
    What is queued is written at exit; a killed process loses at most the last lines.
    """
    global _listener
    level = os.environ.get("ROCARS_LOG_LEVEL", "DEBUG" if verbose else "INFO").upper()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    for noisy in ("amqtt", "transitions", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    if background and _listener is None:
        root = logging.getLogger()
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        _listener = logging.handlers.QueueListener(
            records, *root.handlers, respect_handler_level=True
        )
        root.handlers = [logging.handlers.QueueHandler(records)]
        _listener.start()
        atexit.register(stop_background_logging)


def stop_background_logging() -> None:
    """Write what is queued and put the handlers back on the root logger."""
    global _listener
    listener, _listener = _listener, None
    if listener is None:
        return
    listener.stop()
    logging.getLogger().handlers = list(listener.handlers)
