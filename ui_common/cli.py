"""Command-line start-up the lane displays (``rocars-edge xdb``, ``rocars-edge aiop``) share.

No Qt at import: ``--help`` and config errors stay fast. ``run_display`` imports Qt only
once the arguments are read, starts the app, the screen and the watchdog, and stops
them in order when the event loop ends (SIGTERM and SIGINT end it cleanly): the screen
first (it shows STOP before it cleans up), the watchdog last.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol, TypeVar

from rocars.config import ServiceConfig, load_config
from rocars.errors import RocarsError
from rocars.lanekey import screen_key
from rocars.logs import setup_logging

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance


#: Process start, near enough: the bench's first-frame time counts from here.
STARTED = time.perf_counter()


class DisplayConfig(Protocol):
    @property
    def watchdog_seconds(self) -> float: ...


class DisplayScreen(Protocol):
    @property
    def config(self) -> DisplayConfig: ...
    def painted_signal(self) -> SignalInstance: ...
    def start(self, *, show: bool = True) -> None: ...
    def stop(self) -> None: ...


C = TypeVar("C", bound=ServiceConfig)
S = TypeVar("S", bound=DisplayScreen)


def display_args(
    command: str,
    description: str | None,
    argv: list[str] | None,
    add_options: Callable[[argparse.ArgumentParser], None],
) -> argparse.Namespace:
    """Parse ``rocars-edge COMMAND``'s options (``add_options`` adds the app's own); set up logs.

    Every display takes the config file, lane, control point and broker first, and
    ``--headless``, ``--verbose`` and the bench's ``--first-frame-exit`` last.
    """
    parser = argparse.ArgumentParser(prog=f"rocars-edge {command}", description=description)
    parser.add_argument("--config", help="TOML config file (the options below win)")
    parser.add_argument("--lane", help="lane id, e.g. L01")
    parser.add_argument("--cp", help="control point code, e.g. SBC")
    parser.add_argument("--broker", help="mqtt://HOST:PORT, or mqtts://HOST:PORT for TLS")
    add_options(parser)
    parser.add_argument("--headless", action="store_true", help="offscreen platform, no window")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--first-frame-exit",
        action="store_true",
        help=argparse.SUPPRESS,  # bench: print the time to the first painted frame and exit
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging(args.verbose)
    return args


def run_display(
    args: argparse.Namespace,
    command: str,
    config_type: type[C],
    make_screen: Callable[[C, bytes], S],
    *,
    options: Iterable[str] = (),
    start: Callable[[S], None] | None = None,
) -> int:
    """Load the config, start the app and the screen, run until quit; 2 on bad config.

    ``options`` are the config fields the app's own options set (lane, cp and broker
    always); ``start`` shows the screen (by default ``screen.start(show=True)``).
    """
    given = {name: getattr(args, name) for name in ("lane", "cp", "broker", *options)}
    overrides = {name: value for name, value in given.items() if value is not None}
    # Qt is imported only now: --help and config errors stay fast
    from PySide6.QtCore import QTimer

    from ui_common.app import start_app
    from ui_common.watchdog import Watchdog

    try:
        config = load_config(config_type, args.config, overrides)
        # its own lane's key (ROCARS_LANE_KEY), or derived from the site secret; every
        # screen's config names its lane (LaneDeviceConfig)
        key = screen_key(getattr(config, "cp"), getattr(config, "lane"))  # noqa: B009
        app = start_app([sys.argv[0]], name=f"rocars-{command}", headless=args.headless)
        screen = make_screen(config, key)
    except RocarsError as err:
        print(f"rocars-edge {command}: {err}", file=sys.stderr)
        return 2
    if args.first_frame_exit:
        screen.painted_signal().connect(lambda t: _first_frame(t))
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    signal.signal(signal.SIGINT, lambda *_: app.quit())
    ticks = QTimer()  # lets Python run the signal handlers while Qt's loop is idle
    ticks.timeout.connect(lambda: None)
    ticks.start(250)
    watchdog = Watchdog(screen.config.watchdog_seconds)
    ticks.timeout.connect(watchdog.feed)
    watchdog.start()
    if start is None:
        screen.start(show=True)
    else:
        start(screen)
    code = app.exec()
    # the screen paints STOP, then says offline and disconnects (seconds, if the broker
    # is slow); the watchdog still runs (fed once more now), so a stop that hangs longer
    # than watchdog_seconds ends the process rather than leave it up
    watchdog.feed()
    screen.stop()
    ticks.stop()
    watchdog.stop()
    return int(code)


def _first_frame(painted_at: float) -> None:
    print(f"first-frame {painted_at - STARTED:.4f}", flush=True)
    from PySide6.QtWidgets import QApplication

    QApplication.quit()
