"""Logging set-up shared by every command."""

from __future__ import annotations

import logging
import os


def setup_logging(verbose: bool = False) -> None:
    """One line per record on stderr; ``ROCARS_LOG_LEVEL`` overrides."""
    level = os.environ.get("ROCARS_LOG_LEVEL", "DEBUG" if verbose else "INFO").upper()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    for noisy in ("amqtt", "transitions", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
