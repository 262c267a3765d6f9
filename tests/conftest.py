"""Suite-wide set-up: offscreen Qt, the slow marker, the shared fixtures."""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ROCARS_SITE_SECRET", "test-site-secret-not-for-production")

pytest_plugins = ["tests.fixtures.brokers", "tests.fixtures.central", "tests.fixtures.local_api"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runslow", action="store_true", default=False, help="run the long soak/fault tests"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow") or os.environ.get("ROCARS_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow or ROCARS_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """Logging as the test found it, after it: a ``main`` run in-process calls
    ``setup_logging``, which (``background=True``) hands the root logger's handlers,
    pytest's caplog among them, to a ``log-writer`` thread for the rest of the session
    (every later record reached caplog twice, the second copy up to ``POLL_S`` late),
    turns off the records' caller, thread and process look-ups, and sets the noisy
    libraries' loggers to WARNING. A writer the test started is stopped (what it had
    queued written) and the root logger's handlers and level, every logger's level
    and the record flags are put back."""
    manager = logging.Logger.manager
    root = logging.getLogger()
    handlers = list(root.handlers)
    root_level = root.level
    levels = {
        name: logger.level
        for name, logger in manager.loggerDict.copy().items()  # a thread may add one
        if isinstance(logger, logging.Logger)
    }
    flags = (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    logs = sys.modules.get("rocars.logs")
    listener = getattr(logs, "_listener", None)
    yield
    logs = sys.modules.get("rocars.logs")
    if logs is not None and logs._listener is not None and logs._listener is not listener:
        logs.stop_background_logging()
    if root.handlers != handlers:
        root.handlers = handlers
    if root.level != root_level:
        root.setLevel(root_level)
    for name, logger in manager.loggerDict.copy().items():
        if isinstance(logger, logging.Logger):
            level = levels.get(name, logging.NOTSET)  # one made during the test: unset
            if logger.level != level:
                logger.setLevel(level)  # rare: a main() ran in-process
    (
        logging._srcfile,
        logging.logThreads,
        logging.logProcesses,
        logging.logMultiprocessing,
    ) = flags


@pytest.fixture(autouse=True)
def _qt_garbage_on_the_gui_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test with Qt objects collects Python's cyclic garbage on the GUI thread only, as
    the screens do (``GuiThreadCollector``), and all of it before the next test: not on
    a bus thread of its own or of a later test. After any test, a collector that a
    screen's ``main`` run in-process left on the session's application is stopped and
    collection given back to CPython: the rest of the suite must not run with it off."""
    collector = None
    if {"qtbot", "qapp"} & set(request.fixturenames):
        request.getfixturevalue("qapp")
        from ui_common.app import GuiThreadCollector

        collector = GuiThreadCollector(interval_ms=100)
    try:
        yield
    finally:
        if collector is not None:
            collector.stop()
        if "ui_common.app" in sys.modules:
            _stop_left_collectors()
        if not gc.isenabled():
            gc.enable()
        if collector is not None:
            gc.collect()


def _stop_left_collectors() -> None:
    from PySide6.QtWidgets import QApplication

    from ui_common.app import GuiThreadCollector

    app = QApplication.instance()
    if app is None:
        return
    for left in app.children():
        if isinstance(left, GuiThreadCollector):
            left.stop()
            left.setParent(None)
