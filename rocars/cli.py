"""``rocars-edge``: one console command, a subcommand per part.

Each part owns its ``cli.py`` with ``main(argv) -> int``; this file only dispatches,
so starting the kiosk never imports the OCR models and the sync agent never imports Qt.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "up": ("hardware_sim.up", "run a whole simulated control point (--headless for no windows)"),
    "central": ("hardware_sim.cli", "run the simulated central ROCARS (HTTP)"),
    "sync": ("sync.cli", "run the sync agent: replica, lane controller, outbox, local API"),
    "avrs": ("avrs_adapter.cli", "run the AVRS adapter (serial LPR or camera), or read stills"),
    "xdb": ("xdb_display.cli", "run the exit display board for a lane"),
    "aiop": ("aiop_panel.cli", "run the all-in-one panel for a lane"),
    "kiosk": ("kiosk.cli", "run the self-help kiosk"),
    "lane-key": ("rocars.lanekey", "print a lane's key for a booth PC (no site secret there)"),
    "broker-config": (
        "rocars.brokerconf",
        "write mosquitto config, password file and ACLs for a site",
    ),
}


def usage() -> str:
    lines = ["usage: rocars-edge COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<14} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", "rocars-edge COMMAND --help for the options of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"rocars-edge: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    result: int = module.main(rest)
    return result


if __name__ == "__main__":
    sys.exit(main())
