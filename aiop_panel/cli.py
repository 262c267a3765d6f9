"""``rocars-edge aiop``: the all-in-one panel for one lane (with its drop-box sensor)."""

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
    parser = argparse.ArgumentParser(prog="rocars-edge aiop", description=__doc__)
    parser.add_argument("--config", help="TOML config file (the options below win)")
    parser.add_argument("--lane", help="lane id, e.g. L01")
    parser.add_argument("--cp", help="control point code, e.g. SBC")
    parser.add_argument("--broker", help="mqtt://HOST:PORT")
    parser.add_argument("--dropbox", metavar="PORT", help="drop-box sensor serial port")
    parser.add_argument(
        "--manifest-confirm",
        action="store_true",
        default=None,
        help="the lane lets the driver confirm the manifest on screen",
    )
    parser.add_argument("--language", choices=["zh_TW", "en", "zh_CN"], help="at start-up")
    parser.add_argument("--heartbeat-bound", type=float, help="seconds of sync silence -> STOP")
    parser.add_argument("--fullscreen", action="store_true")
    parser.add_argument("--headless", action="store_true", help="offscreen platform, no window")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--first-frame-exit", action="store_true", help=argparse.SUPPRESS)
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
            "dropbox": args.dropbox,
            "manifest_confirm": args.manifest_confirm,
            "language": args.language,
            "heartbeat_bound": args.heartbeat_bound,
        }.items()
        if value is not None
    }
    # Qt is imported only now: --help and config errors stay fast
    from PySide6.QtCore import QTimer

    from aiop_panel.panel import PanelConfig
    from aiop_panel.qt_app import AiopScreen
    from ui_common.app import start_app
    from ui_common.watchdog import Watchdog

    try:
        config = load_config(PanelConfig, args.config, overrides)
        site_secret = secret("site_secret").encode()
        app = start_app([sys.argv[0]], name="rocars-aiop", headless=args.headless)
        screen = AiopScreen(config, site_secret)
    except RocarsError as err:
        print(f"rocars-edge aiop: {err}", file=sys.stderr)
        return 2
    if args.first_frame_exit:
        screen.widget.instruction.painted.connect(lambda t: _first_frame(t))
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    signal.signal(signal.SIGINT, lambda *_: app.quit())
    ticks = QTimer()  # lets Python run the signal handlers while Qt's loop is idle
    ticks.timeout.connect(lambda: None)
    ticks.start(250)
    watchdog = Watchdog(config.watchdog_seconds)
    ticks.timeout.connect(watchdog.feed)
    watchdog.start()
    screen.start(show=True, fullscreen=args.fullscreen)
    code = app.exec()
    watchdog.stop()
    ticks.stop()
    screen.stop()
    return int(code)


def _first_frame(painted_at: float) -> None:
    print(f"first-frame {painted_at - _STARTED:.4f}", flush=True)
    from PySide6.QtWidgets import QApplication

    QApplication.quit()
