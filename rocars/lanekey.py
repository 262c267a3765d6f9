"""``rocars-edge lane-key``: one lane's key, for a booth PC that must not hold the site secret.

A display or panel verifies its lane's instructions with the lane key
(``rocars.signing.lane_key``: HMAC of the site secret and the lane). Given the site
secret, a booth PC could derive every lane's key: one PC's leak would let anyone sign a
``PROCEED`` for every lane of the site (the broker's ACL still stops it publishing one,
but not a PC that takes the agent's place). Given ``ROCARS_LANE_KEY`` instead, printed
here on the control point server, it holds the key of its own lane only.

The key is written ``CP/LANE:<64 hex>``: a display told another lane's key refuses to
start, naming both, rather than fail every instruction closed.
"""

from __future__ import annotations

import argparse
import re
import sys

from rocars.config import secret
from rocars.errors import ConfigError, RocarsError
from rocars.ids import ControlPoint, validate_lane
from rocars.signing import lane_key

#: the environment variable (or ``ROCARS_LANE_KEY_FILE``) a display takes its key from
LANE_KEY_ENV = "ROCARS_LANE_KEY"
_FORMAT = re.compile(r"([A-Z]{3})/([^:]+):([0-9a-fA-F]{64})")


def format_lane_key(site_secret: bytes, cp: ControlPoint | str, lane: str) -> str:
    """``CP/LANE:<hex>``: the lane's key, with the lane it is for."""
    cp, lane = ControlPoint.parse(cp), validate_lane(lane)
    return f"{cp}/{lane}:{lane_key(site_secret, cp, lane).hex()}"


def parse_lane_key(text: str, cp: ControlPoint | str, lane: str) -> bytes:
    """The key of ``text`` (``format_lane_key``'s form) for ``cp``/``lane``; ConfigError
    when it is not of that form or is another lane's (never showing the key)."""
    found = _FORMAT.fullmatch(text)
    if found is None:
        raise ConfigError(
            f"{LANE_KEY_ENV} is not a lane key (CP/LANE:<64 hex digits>, as rocars-edge"
            " lane-key prints it)",
            key="lane_key_invalid",
        )
    want = f"{ControlPoint.parse(cp)}/{validate_lane(lane)}"
    if f"{found[1]}/{found[2]}" != want:
        raise ConfigError(
            f"{LANE_KEY_ENV} is the key of {found[1]}/{found[2]}, this screen is {want}",
            key="lane_key_other_lane",
        )
    return bytes.fromhex(found[3])


def screen_key(cp: ControlPoint | str, lane: str) -> bytes:
    """A display's key: ``ROCARS_LANE_KEY`` (or ``_FILE``) if given, else derived from
    ``ROCARS_SITE_SECRET``; ConfigError when neither is set."""
    given = secret("lane_key", "")
    if given:
        return parse_lane_key(given, cp, lane)
    return lane_key(secret("site_secret").encode(), cp, lane)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rocars-edge lane-key",
        description="Print each lane's key (from ROCARS_SITE_SECRET) as a booth PC's "
        f"{LANE_KEY_ENV}=... line: a display given it needs no site secret.",
    )
    parser.add_argument("--cp", required=True, help="control point code (SBC, ...)")
    parser.add_argument("--lane", required=True, action="append", help="lane id; again for more")
    args = parser.parse_args(argv)
    try:
        site_secret = secret("site_secret").encode()
        lines = [f"{LANE_KEY_ENV}={format_lane_key(site_secret, args.cp, x)}" for x in args.lane]
    except (RocarsError, ValueError) as err:
        print(f"rocars-edge lane-key: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
