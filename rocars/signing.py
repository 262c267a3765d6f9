"""Instruction signatures: HMAC-SHA256 over canonical JSON with the lane's key.

The canonical form is the payload object without ``sig``, keys sorted, no spaces,
UTF-8. Verification works on the object as received, so fields a newer producer
adds are covered too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from rocars.errors import BadSignature
from rocars.ids import ControlPoint, validate_lane
from rocars.messages import Instruction, decode_json, parse


def canonical_json(obj: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8; ``sig`` left out."""
    body = {k: v for k, v in obj.items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def lane_key(site_secret: bytes, cp: ControlPoint | str, lane: str) -> bytes:
    """Each lane's key, derived from the site secret so one leaked key opens one lane only."""
    label = f"rocars-lane-key/v1/{ControlPoint.parse(cp)}/{validate_lane(lane)}".encode()
    return hmac.new(site_secret, label, hashlib.sha256).digest()


def sign_dict(obj: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, canonical_json(obj), hashlib.sha256).hexdigest()


def sign_instruction(instruction: Instruction, key: bytes) -> Instruction:
    """The same instruction with ``sig`` set."""
    sig = sign_dict(instruction.to_dict(), key)
    return instruction.model_copy(update={"sig": sig})


def verify_payload(payload: bytes | dict[str, Any], key: bytes) -> Instruction:
    """Parse an instruction and check its signature; BadPayload / BadSignature otherwise."""
    data = payload if isinstance(payload, dict) else decode_json(payload)
    instruction = parse(Instruction, data)
    sig = data.get("sig")
    if not isinstance(sig, str) or not hmac.compare_digest(sig, sign_dict(data, key)):
        raise BadSignature("instruction signature does not verify")
    return instruction
