"""Logging set-up shared by every command."""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import threading

from rocars.threads import start_in_background

#: How often the background writer looks for queued records. It polls rather than
#: waits on the queue: a waiting reader is woken by every record, and a woken thread
#: competes for the GIL with the lane that has just logged (a plate read's answer).
POLL_S = 0.02


class _PollingListener:
    """Writes queued records with the root logger's former handlers, every ``POLL_S``."""

    def __init__(
        self, records: queue.SimpleQueue[logging.LogRecord], handlers: list[logging.Handler]
    ) -> None:
        self.records = records
        self.handlers = handlers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    def start(self) -> None:
        # a writer that wakes every POLL_S never preempts a thread that is answering
        start_in_background(self._thread)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._drain()

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            self._drain()

    def _drain(self) -> None:
        while True:
            try:
                record = self.records.get_nowait()
            except queue.Empty:
                return
            for handler in self.handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)


class _QueueRecords(logging.handlers.QueueHandler):
    """``QueueHandler`` minus its ``prepare``, which formats the message on the calling
    thread (to pickle the record for another process): in the agent that was 15 us hot
    and 40-80 us cold of every plate read's answer. The listener, in this process,
    formats it instead; what the lanes log are strings and numbers, which do not change
    while queued."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


_listener: _PollingListener | None = None


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
        # The Logging HOWTO's "Optimization": a record does not look up the caller's
        # frame, thread or process, which no line here prints (~2.5 us of every record,
        # hot, on the thread that logs: two a truck on the lanes' path)
        logging._srcfile = None
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False
        root = logging.getLogger()
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        _listener = _PollingListener(records, list(root.handlers))
        root.handlers = [_QueueRecords(records)]
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
