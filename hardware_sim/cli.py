"""``rocars-edge central``: serve the simulated central ROCARS with uvicorn.

SIGTERM / Ctrl-C stop it cleanly (uvicorn's own handlers; the store closes on shutdown).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from hardware_sim.central import (
    DEFAULT_TOKEN,
    MAX_BODY_BYTES,
    CentralConfig,
    create_app,
    parse_tokens,
)
from rocars.brokertls import TlsFilesError, load_server_pair
from rocars.client import SERVER_KEEPALIVE_S
from rocars.errors import RocarsError
from rocars.ids import ControlPoint, Direction
from rocars.logs import setup_logging

logger = logging.getLogger(__name__)


def _port(text: str) -> int:
    """An argparse type: a TCP port, 1-65535."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (1-65535)")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rocars-edge central",
        description="Run the simulated central ROCARS (HTTP, or HTTPS with --tls-cert).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_port, default=8700, help="TCP port (1-65535)")
    parser.add_argument("--data", type=Path, default=Path("data/central"), help="data folder")
    parser.add_argument("--seed", type=int, default=7, help="seed of the demo data")
    parser.add_argument("--cp", default="SBC", help="control point of the demo data")
    parser.add_argument(
        "--direction", default="import", choices=["import", "export"], help="demo direction"
    )
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="CP=TOKEN",
        help="a device bearer token (repeatable); else ROCARS_CENTRAL_TOKENS, else the dev token",
    )
    parser.add_argument("--trucks-per-kind", type=int, default=2, help="demo trucks per kind")
    parser.add_argument("--no-demo", action="store_true", help="do not seed demo data")
    parser.add_argument(
        "--synthetic-bundles", type=int, default=0, help="bulk-load N bundles into a new centre"
    )
    parser.add_argument(
        "--inspect-share", type=float, default=0.1, help="share of new bundles set to INSPECT"
    )
    parser.add_argument("--delay-ms", type=int, default=0, help="added to every /v1 answer")
    parser.add_argument(
        "--max-body-bytes", type=int, default=MAX_BODY_BYTES, help="larger requests get 413"
    )
    parser.add_argument(
        "--test-clock",
        action="store_true",
        help="for tests: POST /sim/code-clock moves the security-code clock forward",
    )
    parser.add_argument(
        "--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM, chain after it)"
    )
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM, unencrypted)")
    parser.add_argument("--quiet", action="store_true", help="do not print the demo accounts")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def config_from_args(args: argparse.Namespace) -> CentralConfig:
    specs = list(args.token)
    if not specs and os.environ.get("ROCARS_CENTRAL_TOKENS"):
        specs = [os.environ["ROCARS_CENTRAL_TOKENS"]]
    return CentralConfig(
        data_dir=args.data,
        seed=args.seed,
        cp=ControlPoint.parse(args.cp),
        direction=Direction(args.direction),
        tokens=parse_tokens(specs),
        demo=not args.no_demo,
        trucks_per_kind=args.trucks_per_kind,
        synthetic_bundles=args.synthetic_bundles,
        inspect_share=args.inspect_share,
        delay_ms=args.delay_ms,
        max_body_bytes=args.max_body_bytes,
        test_clock=args.test_clock,
    )


def accounts_table(accounts: list[dict[str, Any]]) -> str:
    """The demo drivers as a table a person can read at a terminal."""
    head = (
        f"{'account':<8} {'password':<8} {'PIN':<6} {'cert':<8} {'imm':<3} {'name':<16} totp secret"
    )
    lines = [head, "-" * len(head)]
    for a in accounts:
        lines.append(
            f"{a['account']:<8} {a['password']:<8} {a['cert_pin']:<6} {a['cert_case']:<8} "
            f"{'yes' if a['immediate'] else '':<3} {a['name']:<16} {a['totp_secret']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = os.environ.get("ROCARS_LOG_LEVEL")
    if level is not None and level.upper() not in logging.getLevelNamesMapping():
        print(
            f"rocars-edge central: ROCARS_LOG_LEVEL={level} is not a log level "
            "(DEBUG, INFO, WARNING, ERROR or CRITICAL)",
            file=sys.stderr,
        )
        return 2
    if args.data.exists() and not args.data.is_dir():
        print(f"rocars-edge central: --data {args.data}: not a folder", file=sys.stderr)
        return 2
    setup_logging(args.verbose)
    if (args.tls_cert is None) != (args.tls_key is None):
        print("rocars-edge central: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    scheme = "https" if args.tls_cert else "http"
    if args.tls_cert is not None:
        try:
            load_server_pair(args.tls_cert, args.tls_key)
        except TlsFilesError as err:
            print(f"rocars-edge central: {err}", file=sys.stderr)
            return 2
    try:
        config = config_from_args(args)
        app = create_app(config)
    except (RocarsError, ValueError) as err:
        key = err.key if isinstance(err, RocarsError) else "config_error"
        print(f"rocars-edge central: {key}: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the data folder cannot be made, read or written
        where = f" {err.filename}" if err.filename else ""
        print(f"rocars-edge central: --data{where}: {err.strerror or err}", file=sys.stderr)
        return 2
    central = app.state.central
    tokens = config.token_map()
    if not args.quiet:
        accounts = central.store.demo_accounts()
        if accounts:
            print("Demo driver accounts (security code: TOTP of the secret, 30 s, each once):")
            print(accounts_table(accounts))
        if DEFAULT_TOKEN in tokens:
            print(f"Device token for {config.cp}: {DEFAULT_TOKEN}")
        print(f"Central ROCARS on {scheme}://{args.host}:{args.port} (data {config.data_dir})")
        sys.stdout.flush()
    server = _Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=SERVER_KEEPALIVE_S,
            ssl_certfile=args.tls_cert,
            ssl_keyfile=args.tls_key,
        )
    )
    server.run()
    if not server.started:
        return 1  # could not listen (uvicorn logged why)
    logger.info("central stopped")
    return 0


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT once shut down (exit 143); a clean stop exits 0."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()


if __name__ == "__main__":
    sys.exit(main())
