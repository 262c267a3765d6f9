"""``rocars-edge kiosk``: the self-help kiosk against the control point's local API."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from kiosk.api import KioskClient
from rocars.config import is_loopback
from rocars.errors import RocarsError
from rocars.logs import setup_logging

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rocars-edge kiosk", description=__doc__)
    parser.add_argument(
        "--api",
        default=os.environ.get("ROCARS_LOCAL_API") or "http://127.0.0.1:8710",
        help="the sync agent's local API (https://HOST:PORT across a LAN; default "
        "$ROCARS_LOCAL_API, else http://127.0.0.1:8710)",
    )
    parser.add_argument(
        "--plain-http",
        action="store_true",
        default=os.environ.get("ROCARS_LOCAL_API_PLAIN_HTTP") == "1",
        help="allow an http:// local API on another machine: drivers' passwords and codes "
        "then cross the LAN in clear (a lab only; default $ROCARS_LOCAL_API_PLAIN_HTTP=1)",
    )
    parser.add_argument(
        "--cafile",
        default=os.environ.get("ROCARS_LOCAL_API_CAFILE", ""),
        help="the site CA the local API's certificate is checked against (PEM; default "
        "$ROCARS_LOCAL_API_CAFILE, else the system's CAs)",
    )
    parser.add_argument(
        "--media",
        type=Path,
        default=Path("/media"),
        help="removable media folder: certificates (.p12) and batch files (.xlsx/.csv)",
    )
    parser.add_argument(
        "--print-dir",
        type=Path,
        default=None,
        help="spool folder the receipt printer takes PDFs from (default: a temporary folder)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fullscreen", dest="fullscreen", action="store_true", default=True)
    mode.add_argument("--window", dest="fullscreen", action="store_false")
    parser.add_argument(
        "--headless", action="store_true", help="offscreen (no display): smoke test, then exit"
    )
    parser.add_argument(
        "--idle-warn", type=float, default=60.0, help="seconds idle before the warning"
    )
    parser.add_argument(
        "--idle-reset", type=float, default=90.0, help="seconds idle before clearing"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging(args.verbose)
    if not 0 < args.idle_warn < args.idle_reset:
        print("rocars-edge kiosk: need 0 < --idle-warn < --idle-reset", file=sys.stderr)
        return 2
    api = urlsplit(args.api)  # a url without a host: KioskClient says what is wrong
    if api.scheme == "http" and api.hostname and not is_loopback(api.hostname):
        if not args.plain_http:
            print(
                f"rocars-edge kiosk: the local API {args.api} is plain http on another "
                "machine: drivers' passwords and codes would cross the LAN in clear. Use "
                "https:// with ROCARS_LOCAL_API_CAFILE (docs/operations.md, Kiosks), or "
                "--plain-http",
                file=sys.stderr,
            )
            return 2
    try:
        client = KioskClient(args.api, cafile=args.cafile)
    except RocarsError as err:
        print(f"rocars-edge kiosk: {err}", file=sys.stderr)
        return 2
    try:
        return _run(args, client)
    finally:
        client.close()


def _run(args: argparse.Namespace, client: KioskClient) -> int:
    # Qt only now: `rocars-edge kiosk --help` works without a display.
    from kiosk.flows import Kiosk
    from kiosk.qt_app import CATALOGUE, KIOSK_SIZE, KioskWindow
    from kiosk.session import DEFAULT_LANGUAGE, IdleClock
    from ui_common.app import start_app
    from ui_common.errors import Error as UiError
    from ui_common.i18n import Translations

    try:
        app = start_app(sys.argv[:1], name="rocars-kiosk", headless=args.headless)
        translations = Translations([CATALOGUE], DEFAULT_LANGUAGE)
    except UiError as err:
        print(f"rocars-edge kiosk: {err}", file=sys.stderr)
        return 1
    print_dir = args.print_dir or Path(tempfile.mkdtemp(prefix="rocars-kiosk-print-"))
    model = Kiosk(
        client,
        media=args.media,
        idle=IdleClock(warn_after=args.idle_warn, reset_after=args.idle_reset),
    )
    window = KioskWindow(model, translations, print_dir=print_dir)
    window.resize(*KIOSK_SIZE)
    if args.headless:
        window.show()
        app.processEvents()
        print(f"kiosk built: {len(window.screens)} screens, API {args.api}")
        window.close()
        return 0
    if args.fullscreen:
        window.showFullScreen()
    else:
        window.show()
    logger.info("kiosk up: API %s, media %s, receipts to %s", args.api, args.media, print_dir)
    return int(app.exec())
