"""``rocars-edge sync``: run the sync agent until SIGTERM / SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from rocars.config import load_config
from rocars.errors import ConfigError, RocarsError
from rocars.logs import setup_logging
from sync.agent import SyncAgent
from sync.config import SyncConfig

logger = logging.getLogger(__name__)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rocars-edge sync",
        description="The sync agent: replica, lane controller, outbox, local API.",
    )
    parser.add_argument("--config", help="TOML config file (see docs/sync.md)")
    parser.add_argument(
        "--broker", help="mqtt://HOST:PORT or mqtts://HOST:PORT (default: an embedded broker)"
    )
    parser.add_argument("--central", help="central ROCARS base URL")
    parser.add_argument("--cp", help="control point code (SBC, LMC, ...)")
    parser.add_argument("--direction", choices=["import", "export"])
    parser.add_argument(
        "--lanes",
        help=(
            "lane ids, comma-separated (L01,L02): the lanes to run, with the config file's"
            " settings for each (a lane the file's [[lanes]] does not have is refused);"
            " without [[lanes]] in the file, with the defaults"
        ),
    )
    parser.add_argument("--data", help="data folder (replica.db, outbox.db)")
    parser.add_argument("--api-host", help="local API listen address")
    parser.add_argument("--api-port", type=int, help="local API port (0: any free)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr, key in (
        ("broker", "bus.url"),
        ("central", "central.url"),
        ("cp", "site.cp"),
        ("direction", "site.direction"),
        ("data", "data_dir"),
        ("api_host", "api.host"),
        ("api_port", "api.port"),
    ):
        value = getattr(args, attr)
        if value is not None:
            out[key] = value
    return out


def load(args: argparse.Namespace) -> SyncConfig:
    """The config file with the flags over it.

    ``--lanes`` picks the lanes to run. A file's ``[[lanes]]`` hold each lane's settings
    (threshold, manifest, timeouts, unladen share ...): the lanes named keep them, and a
    name the file does not have is refused, as it would run on the defaults unnoticed
    (a typo, or a lane the file was never set up for). Before, the lanes named replaced
    the file's with the defaults. A file without ``[[lanes]]`` (or none) has no settings
    to keep: the lanes named run with the defaults.
    """
    flags = overrides(args)
    config = load_config(SyncConfig, args.config, flags)
    if not args.lanes:
        return config
    names = [lane.strip() for lane in args.lanes.split(",") if lane.strip()]
    if "lanes" not in config.model_fields_set:
        lanes = [{"id": name} for name in names]
    else:
        configured = {lane.id: lane for lane in config.lanes}
        missing = [name for name in names if name not in configured]
        if missing:
            raise ConfigError(
                f"--lanes {','.join(missing)}: not among the lanes of {args.config}"
                f" ({','.join(configured)}); add them there, with their settings"
            )
        lanes = [configured[name].model_dump() for name in names]
    return load_config(SyncConfig, args.config, {**flags, "lanes": lanes})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging(args.verbose, background=True)
    try:
        config = load(args)
        config.central.token()  # a missing token is a config error here, not at the start
    except RocarsError as err:
        print(f"rocars-edge sync: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        logger.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent = SyncAgent(config)
    try:
        agent.start()
    except RocarsError as err:
        print(f"rocars-edge sync: cannot start: {err}", file=sys.stderr)
        agent.stop()
        return 1
    api = agent.api_url or (f"not served yet: {agent.api_problem}" if config.api.enabled else "off")
    print(f"sync agent running (api {api}, broker {agent.broker_url})", flush=True)
    while not stop.wait(1.0):
        pass
    agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
