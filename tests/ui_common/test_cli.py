"""``run_display``'s stop order, with a stand-in screen and watchdog."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QTimer

from rocars.config import ServiceConfig
from ui_common import cli


class _Config(ServiceConfig):
    watchdog_seconds: float = 5.0
    cp: str = "SBC"  # a screen's config names its lane: its key is that lane's
    lane: str = "L01"


def test_the_screen_stops_while_the_watchdog_still_runs(
    qapp: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The screen paints STOP and then waits on the network as it stops: the watchdog
    runs until that is done (a stop that hangs is ended), and stops last."""
    import ui_common.app
    import ui_common.watchdog

    events: list[str] = []

    class Watchdog:
        def __init__(self, timeout: float) -> None:
            pass

        def feed(self, *_: object) -> None:
            pass

        def start(self) -> None:
            events.append("watchdog started")

        def stop(self) -> None:
            events.append("watchdog stopped")

    class Screen:
        def __init__(self, config: _Config, secret: bytes) -> None:
            self.config = config

        def painted_signal(self) -> Any:
            raise AssertionError("asked for with --first-frame-exit only")

        def start(self, *, show: bool = True) -> None:
            QTimer.singleShot(0, QCoreApplication.quit)  # the event loop ends at once

        def stop(self) -> None:
            events.append("screen stopped")

    monkeypatch.setattr(ui_common.watchdog, "Watchdog", Watchdog)
    monkeypatch.setattr(ui_common.app, "start_app", lambda *a, **k: qapp)
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)  # the suite's handlers stay
    args = argparse.Namespace(
        config=None, lane=None, cp=None, broker=None, headless=True, first_frame_exit=False
    )
    assert cli.run_display(args, "test", _Config, Screen) == 0
    assert events == ["watchdog started", "screen stopped", "watchdog stopped"]
