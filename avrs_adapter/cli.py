"""``rocars-edge avrs``: run the AVRS adapter for one lane, or read plates from stills.

    rocars-edge avrs --serial PORT --protocol NAME [--baud 9600] --cp SBC --lane L01 \\
        --broker mqtt://127.0.0.1:1883
    rocars-edge avrs --camera URL [--grammar hk|any] [--report-unread] [--roi X,Y,W,H] \\
        --cp SBC --lane L01 ...
    rocars-edge avrs read FILE... [--grammar hk|any]

Bad arguments (unknown protocol, a port that cannot be opened, a bad lane, a serial-only
option given with ``--camera``) print one clear line and exit 2; so does a camera adapter
whose OCR engine cannot be loaded (models missing, onnxruntime broken), which is found at
start, not at the first truck.
The camera path is imported only when asked for, so the serial adapter never loads
OpenCV or the OCR models.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from avrs_adapter.aggregator import Aggregator
from avrs_adapter.errors import AvrsError, PortUnavailable
from avrs_adapter.observation import Source
from avrs_adapter.protocols import PROTOCOLS
from avrs_adapter.publisher import AvrsPublisher
from avrs_adapter.serial_source import SerialSource
from rocars.config import parse_broker
from rocars.errors import RocarsError
from rocars.ids import ControlPoint, validate_device, validate_lane
from rocars.logs import setup_logging

logger = logging.getLogger(__name__)

EXIT_USAGE = 2
#: a serial port that cannot be opened now (sysexits' EX_UNAVAILABLE): its service tries
#: again (a USB adapter comes), where a config error (2) stops it
EXIT_UNAVAILABLE = 69
#: the camera's URL from the environment when ``--camera`` is not given: a URL with the
#: camera's password kept out of the command line (``ps``, ``systemctl status``)
CAMERA_URL_ENV = "ROCARS_CAMERA_URL"
#: systemd's ``StateDirectory=`` folder: a serial lane's ``--state-dir`` when not given
STATE_DIRECTORY_ENV = "STATE_DIRECTORY"
SERIAL_ONLY = (
    ("replay_bound", "--replay-bound"),
    ("device_lag", "--device-lag"),
    ("state_dir", "--state-dir"),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"rocars-edge avrs: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rocars-edge avrs",
        description="Run the AVRS adapter for one lane: plate reads -> PlateRead on the bus. "
        "`rocars-edge avrs read FILE...` reads plates from still images instead.",
    )
    src = parser.add_mutually_exclusive_group()
    src.add_argument(
        "--serial",
        metavar="PORT",
        help="serial port of the LPR device, or socket://HOST:PORT / rfc2217://HOST:PORT "
        "of a serial device server",
    )
    src.add_argument(
        "--camera",
        metavar="URL",
        help=f"camera stream URL (RTSP, file, device); without --serial or --camera, "
        f"${CAMERA_URL_ENV} (a URL with a password stays off the command line)",
    )
    parser.add_argument(
        "--protocol", choices=sorted(PROTOCOLS), help="LPR line protocol (with --serial)"
    )
    parser.add_argument("--baud", type=int, default=9600, help="serial baud rate (9600)")
    parser.add_argument("--delimiter", default=",", help="delimited: field delimiter (,)")
    parser.add_argument(
        "--fields",
        default="plate,confidence,time,camera",
        help="delimited: field order, comma-separated (plate,confidence,time,camera)",
    )
    parser.add_argument(
        "--confidence-scale",
        type=float,
        default=100.0,
        help="delimited: what the device means by full confidence (100)",
    )
    parser.add_argument(
        "--byteorder", choices=("big", "little"), default="big", help="nedap: integer byte order"
    )
    parser.add_argument("--grammar", choices=("hk", "any"), default="hk", help="camera: plates")
    parser.add_argument(
        "--report-unread",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="camera: report a truck-sized spell of motion with no readable plate as an "
        "unread read, which makes the lane stop the truck (default: off)",
    )
    parser.add_argument("--cp", required=True, help="control point code (SBC) or IVRS key")
    parser.add_argument("--lane", required=True, help="lane id (L01)")
    parser.add_argument("--device", default="", help="device id in PlateRead (lpr0 / cam0)")
    parser.add_argument(
        "--broker",
        default="mqtt://127.0.0.1:1883",
        help="mqtt://HOST:PORT, or mqtts://HOST:PORT for TLS",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=None,
        help="seconds to collect a vote (default 0.3 serial; 1.0 camera, whose Mainland plate is read a few frames after the HK one)",
    )
    parser.add_argument(
        "--decisive-reads",
        type=int,
        default=None,
        help="identical reads that publish at once (default 3 serial, 4 camera)",
    )
    parser.add_argument(
        "--roi",
        type=_roi,
        default=None,
        metavar="X,Y,W,H",
        help="camera: look for motion and plates only in this rectangle of the frame, in "
        "pixels from its top-left corner (default: the whole frame)",
    )
    parser.add_argument(
        "--loop", action="store_true", help="camera: play a video file again at its end"
    )
    parser.add_argument("--window", type=float, default=5.0, help="debounce window, seconds")
    parser.add_argument(
        "--replay-bound",
        type=float,
        default=None,
        help="serial: drop a read whose device time is later than the device's usual lag by "
        "more than this many seconds (replayed after a reconnect); 0: off (5)",
    )
    parser.add_argument(
        "--device-lag",
        type=float,
        default=None,
        metavar="SECONDS",
        help="serial: how far the device's clock is behind this machine's local time, if "
        "known (0 for a device NTP-synced to local time; 28800 for one on UTC): a replay at "
        "the first connect is then told too (default: learnt from the first read)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="serial: keep the device lag learnt in DIR/replay-DEVICE.json across restarts, "
        "so that a replay at the first connect after a restart is told too; --device-lag "
        "wins over it (default: not kept)",
    )
    parser.add_argument("--status-interval", type=float, default=2.0, help="status period, s")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _roi(text: str) -> tuple[int, int, int, int]:
    """``--roi X,Y,W,H``: four whole numbers of pixels, X and Y from 0, W and H from 1."""
    parts = text.split(",")
    try:
        x, y, w, h = (int(p.strip()) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be X,Y,W,H (four whole numbers of pixels), got {text!r}"
        ) from None
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise argparse.ArgumentTypeError(
            f"X and Y must be 0 or more and W and H 1 or more (pixels), got {text!r}"
        )
    return x, y, w, h


def _protocol_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.protocol == "delimited":
        return {
            "delimiter": args.delimiter.replace("\\t", "\t"),
            "fields": tuple(f.strip() for f in args.fields.split(",")),
            "confidence_scale": args.confidence_scale,
        }
    if args.protocol == "nedap":
        return {"byteorder": args.byteorder}
    return {}


def _camera_source(args: argparse.Namespace, device: str) -> Source:
    # the serial replay guard's options mean nothing to a camera: given, they were meant
    # for a lane that reads with a serial device, so say so instead of ignoring them
    given = [flag for name, flag in SERIAL_ONLY if getattr(args, name) is not None]
    if given:
        raise AvrsError(
            f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --serial only, "
            "not --camera",
            key="avrs_serial_only",
        )
    # imported here: the serial path must never load OpenCV or the OCR models
    from avrs_adapter.camera import CameraSource

    source = CameraSource(
        args.camera,
        device=device,
        grammar=args.grammar,
        loop=args.loop,
        report_unread=args.report_unread,
        roi=args.roi,
    )
    # the models now, before the adapter says it is online: missing models or a broken
    # onnxruntime exit 2 here instead of restarting at the first truck
    source.load_engine()
    return source


def make_source(args: argparse.Namespace) -> Source:
    """The Source the arguments ask for; AvrsError/RocarsError for bad ones."""
    if args.serial is not None:
        if args.protocol is None:
            raise AvrsError("--serial needs --protocol", key="avrs_protocol_missing")
        if args.roi is not None:
            raise AvrsError("--roi is for --camera only, not --serial", key="avrs_camera_only")
        device = validate_device(args.device or "lpr0")
        if args.replay_bound == 0:
            # the guard is off: a lag or a place to keep it would be ignored, so say so
            given = [flag for name, flag in SERIAL_ONLY[1:] if getattr(args, name) is not None]
            if given:
                raise AvrsError(
                    f"{' and '.join(given)} {'needs' if len(given) == 1 else 'need'} the "
                    "replay guard, which --replay-bound 0 turns off",
                    key="avrs_replay_guard_off",
                )
        state_dir: Path | None = args.state_dir
        if state_dir is None and args.replay_bound != 0:
            # under systemd (rocars-avrs@: StateDirectory=rocars-avrs/LANE), its folder
            state_dir = _systemd_state_dir()
        if state_dir is not None and not state_dir.is_dir():
            raise AvrsError(f"--state-dir {state_dir} is not a directory", key="avrs_bad_state_dir")
        serial_source = SerialSource(
            args.serial,
            args.protocol,
            args.baud,
            device,
            protocol_options=_protocol_options(args),
            replay_device_lag=args.device_lag,
            replay_state=None if state_dir is None else state_dir / f"replay-{device}.json",
            # None: not given (the option's default, so that one given with --camera is
            # told), and SerialSource's own default applies
            **({} if args.replay_bound is None else {"replay_bound": args.replay_bound}),
        )
        serial_source.probe()
        return serial_source
    return _camera_source(args, validate_device(args.device or "cam0"))


def _systemd_state_dir() -> Path | None:
    """The first folder of ``$STATE_DIRECTORY`` (systemd: ``StateDirectory=``), if set."""
    first = os.environ.get(STATE_DIRECTORY_ENV, "").split(":")[0].strip()
    return Path(first) if first else None


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else list(argv)
    if args_list and args_list[0] == "read":
        from avrs_adapter.stills import main as read_stills  # OpenCV + OCR: only here

        try:
            return read_stills(args_list[1:])
        except SystemExit as exit_:  # argparse in stills: --help (0) or a usage error (2)
            return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
        if args.serial is None and args.camera is None:
            args.camera = os.environ.get(CAMERA_URL_ENV, "").strip() or None
            if args.camera is None:
                parser.error(
                    f"one of the arguments --serial --camera is required (or {CAMERA_URL_ENV}"
                    " in the environment, for a camera)"
                )
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2), already printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    setup_logging(args.verbose)
    try:
        cp = ControlPoint.parse(args.cp)
        lane = validate_lane(args.lane)
        parse_broker(args.broker)
        camera = args.serial is None
        aggregator = Aggregator(
            settle=args.settle if args.settle is not None else (1.0 if camera else 0.3),
            window=args.window,
            decisive_reads=args.decisive_reads or (4 if camera else 3),
        )
        if not 0.1 <= args.status_interval <= 60:
            raise AvrsError("--status-interval must be 0.1-60 s", key="avrs_bad_interval")
        source = make_source(args)
        # its bus: a TLS broker's CA file that cannot be used is a bad argument too
        publisher = AvrsPublisher(
            source,
            cp=cp,
            lane=lane,
            broker_url=args.broker,
            aggregator=aggregator,
            status_interval=args.status_interval,
        )
    except PortUnavailable as err:
        print(f"rocars-edge avrs: {err.key}: {err} (tried again by its service)", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (RocarsError, ValueError) as err:
        key = getattr(err, "key", "bad_argument")
        print(f"rocars-edge avrs: {key}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ImportError as err:
        print(f"rocars-edge avrs: avrs_camera_unavailable: {err}", file=sys.stderr)
        return EXIT_USAGE

    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d: stopping", signum)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    publisher.start()
    logger.info(
        "avrs adapter for %s/%s: plates on %s, status on %s",
        cp,
        lane,
        publisher.plate_topic,
        publisher.status_topic,
    )
    while not done.wait(1.0):
        pass
    publisher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
