"""``rocars-edge xdb``: the exit display board for one lane."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time

from rocars.config import load_config, secret
from rocars.errors import RocarsError
from rocars.logs import setup_logging

logger = logging.getLogger(__name__)

_STARTED = time.perf_counter()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rocars-edge xdb", description=__doc__)
    parser.add_argument("--config", help="TOML config file (the options below win)")
    parser.add_argument("--lane", help="lane id, e.g. L01")
    parser.add_argument("--cp", help="control point code, e.g. SBC")
    parser.add_argument("--broker", help="mqtt://HOST:PORT")
    parser.add_argument("--languages", choices=["all", "cycle"], help="all three at once, or cycle")
    parser.add_argument("--cycle-seconds", type=float, help="seconds per language when cycling")
    parser.add_argument("--heartbeat-bound", type=float, help="seconds of sync silence -> STOP")
    screen = parser.add_mutually_exclusive_group()
    screen.add_argument("--fullscreen", dest="fullscreen", action="store_true", default=None)
    screen.add_argument("--window", dest="fullscreen", action="store_false")
    parser.add_argument("--headless", action="store_true", help="offscreen platform, no window")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--first-frame-exit",
        action="store_true",
        help=argparse.SUPPRESS,  # bench: print the time to the first painted frame and exit
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging(args.verbose)
    overrides = {
        key: value
        for key, value in {
            "lane": args.lane,
            "cp": args.cp,
            "broker": args.broker,
            "languages": args.languages,
            "cycle_seconds": args.cycle_seconds,
            "heartbeat_bound": args.heartbeat_bound,
            "fullscreen": args.fullscreen,
        }.items()
        if value is not None
    }
    # Qt is imported only now: --help and config errors stay fast
    from ui_common.app import start_app
    from ui_common.watchdog import Watchdog
    from xdb_display.board import XdbConfig
    from xdb_display.qt_app import XdbScreen

    try:
        config = load_config(XdbConfig, args.config, overrides)
        site_secret = secret("site_secret").encode()
        app = start_app([sys.argv[0]], name="rocars-xdb", headless=args.headless)
        screen = XdbScreen(config, site_secret)
    except RocarsError as err:
        print(f"rocars-edge xdb: {err}", file=sys.stderr)
        return 2
    if args.first_frame_exit:
        screen.board.painted.connect(lambda t: _first_frame(app, t))
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    signal.signal(signal.SIGINT, lambda *_: app.quit())
    watchdog = Watchdog(config.watchdog_seconds)
    screen.tick.timeout.connect(watchdog.feed)
    watchdog.start()
    screen.start(show=True)
    code = app.exec()
    watchdog.stop()
    screen.stop()
    return int(code)


def _first_frame(app: object, painted_at: float) -> None:
    print(f"first-frame {painted_at - _STARTED:.4f}", flush=True)
    from PySide6.QtWidgets import QApplication

    QApplication.quit()
