"""``rocars-edge xdb``: the exit display board for one lane."""

from __future__ import annotations

import argparse

from ui_common.cli import display_args, run_display


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--languages", choices=["all", "cycle"], help="all three at once, or cycle")
    parser.add_argument("--cycle-seconds", type=float, help="seconds per language when cycling")
    parser.add_argument("--heartbeat-bound", type=float, help="seconds of sync silence -> STOP")
    screen = parser.add_mutually_exclusive_group()
    screen.add_argument("--fullscreen", dest="fullscreen", action="store_true", default=None)
    screen.add_argument("--window", dest="fullscreen", action="store_false")


def main(argv: list[str] | None = None) -> int:
    args = display_args("xdb", __doc__, argv, add_options)
    from xdb_display.board import XdbConfig
    from xdb_display.qt_app import XdbScreen

    options = ("languages", "cycle_seconds", "heartbeat_bound", "fullscreen")
    return run_display(args, "xdb", XdbConfig, XdbScreen, options=options)
