"""``rocars-edge avrs read FILE... [--grammar hk|any]``: what would the camera read here?

Prints one line per image, ``file<TAB>plate<TAB>confidence`` (an empty plate when none
is found; ``--alternates`` adds a fourth column with the other plates, e.g. the Mainland
plate of a cross-boundary truck). A file that cannot be read as an image gets the line
``file<TAB><TAB>error: KEY (detail)``; the exit status is 1 only if some file could not be
read at all, 2 if the OCR engine cannot start.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

from avrs_adapter.errors import AvrsError
from avrs_adapter.grammar import GRAMMARS, primary_and_alternates
from avrs_adapter.ocr import OcrError, engine
from avrs_adapter.plate_finder import Frame
from avrs_adapter.plate_reader import read_plates

logger = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 64 * 1024 * 1024


class UnreadableImage(AvrsError):
    """Not an image file we can decode; ``key`` says why, the message gives the detail."""

    key = "avrs_image_unreadable"


def load_image(path: Path) -> Frame:
    """The image as BGR, or UnreadableImage (missing, empty, too big, not an image)."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise UnreadableImage(str(path), key="image_not_a_file")
        if size == 0:
            raise UnreadableImage("0 bytes", key="image_empty")
        if size > MAX_IMAGE_BYTES:
            raise UnreadableImage(f"{size} bytes", key="image_too_large")
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError as err:
        raise UnreadableImage(str(path), key="image_not_found") from err
    except OSError as err:
        raise UnreadableImage(err.strerror or str(err), key="image_unreadable") from err
    frame = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if frame is None or frame.size == 0:
        raise UnreadableImage("not an image OpenCV can decode", key="image_undecodable")
    out: Frame = frame
    return out


def main(argv: list[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["read"]:
        args_in = args_in[1:]
    parser = argparse.ArgumentParser(
        prog="rocars-edge avrs read", description="Read the plates in still images."
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument("--grammar", choices=GRAMMARS, default="hk")
    parser.add_argument("--alternates", action="store_true", help="a 4th column: other plates")
    try:
        args = parser.parse_args(args_in)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2), already printed
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        ocr = engine()
    except OcrError as err:
        sys.stderr.write(f"rocars-edge avrs read: {err.key}: {err}\n")
        return 2
    failed = 0
    out = sys.stdout
    for path in args.files:
        try:
            frame = load_image(path)
        except UnreadableImage as err:
            failed += 1
            out.write(f"{path}\t\terror: {err.key} ({err})\n")
            out.flush()
            continue
        read = read_plates(frame, ocr, grammar=args.grammar, fallback=True)
        primary, others = primary_and_alternates(read.plates)
        plate, confidence = (primary.vrn, f"{primary.confidence:.2f}") if primary else ("", "0.00")
        line = f"{path}\t{plate}\t{confidence}"
        if args.alternates:
            line += "\t" + ",".join(f"{p.vrn}:{p.confidence:.2f}" for p in others)
        out.write(line + "\n")
        out.flush()
        logger.debug(
            "%s: %s (finder %.1f ms, ocr %.1f ms)", path, plate, read.finder_ms, read.ocr_ms
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
