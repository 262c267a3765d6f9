"""``rocars-edge aiop``: the all-in-one panel for one lane (with its drop-box sensor)."""

from __future__ import annotations

import argparse

from ui_common.cli import display_args, run_display


def add_options(parser: argparse.ArgumentParser) -> None:
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


def main(argv: list[str] | None = None) -> int:
    args = display_args("aiop", __doc__, argv, add_options)
    from aiop_panel.panel import PanelConfig
    from aiop_panel.qt_app import AiopScreen

    return run_display(
        args,
        "aiop",
        PanelConfig,
        AiopScreen,
        options=("dropbox", "manifest_confirm", "language", "heartbeat_bound"),
        start=lambda screen: screen.start(show=True, fullscreen=args.fullscreen),
    )
