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


def sign_canonical(canonical: bytes, key: bytes) -> str:
    """HMAC-SHA256 (hex) of canonical JSON bytes."""
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def sign_dict(obj: dict[str, Any], key: bytes) -> str:
    return sign_canonical(canonical_json(obj), key)


def signed_payload(obj: dict[str, Any], key: bytes) -> tuple[str, bytes]:
    """``obj``'s signature and its wire bytes, serialised once: the canonical JSON that
    is signed, with ``sig`` added as its last member (a hot path: the lane controller)."""
    canonical = canonical_json(obj)
    sig = sign_canonical(canonical, key)
    member = b'"sig":"' + sig.encode() + b'"'
    body = canonical[:-1] if canonical == b"{}" else canonical[:-1] + b","
    return sig, body + member + b"}"


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
