"""Instruction signatures: HMAC-SHA256 over canonical JSON with the lane's key.

The canonical form is the payload object without ``sig``, keys sorted, no spaces,
UTF-8. Verification works on the object as received, so fields a newer producer
adds are covered too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from json.encoder import encode_basestring
from typing import Any

from rocars.errors import BadPayload, BadSignature
from rocars.ids import ControlPoint, validate_lane
from rocars.messages import Instruction, check_bay, decode_json, parse


class UnreadableInstruction(BadPayload):
    """A correctly signed instruction this build cannot read (a newer producer's code,
    version or field format): the lane said something, so what was shown before no
    longer holds. ``params["seq"]`` is its ``seq`` if that is an integer, else None."""

    key = "instruction_unreadable"


def canonical_json(obj: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8; ``sig`` left out."""
    body = {k: v for k, v in obj.items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def lane_key(site_secret: bytes, cp: ControlPoint | str, lane: str) -> bytes:
    """Each lane's key, derived from the site secret so one leaked key opens one lane only."""
    label = f"rocars-lane-key/v1/{ControlPoint.parse(cp)}/{validate_lane(lane)}".encode()
    return hmac.new(site_secret, label, hashlib.sha256).digest()


#: Each key's HMAC with the key already in, copied for every signature: ``hmac.new``
#: looks the digest up and keys it each time, 31,000 instructions a signature against
#: 23,600 for the copy (callgrind); a lane signs two or three instructions a truck.
_KEYED: dict[bytes, hmac.HMAC] = {}
#: More keys than a site's lanes and displays use; past it, keys are not kept.
_MAX_KEYED = 1024


def sign_canonical(canonical: bytes, key: bytes) -> str:
    """HMAC-SHA256 (hex) of canonical JSON bytes."""
    keyed = _KEYED.get(key)
    if keyed is None:
        keyed = hmac.new(key, digestmod=hashlib.sha256)
        if len(_KEYED) < _MAX_KEYED:
            _KEYED[key] = keyed
    mac = keyed.copy()  # copying leaves the keyed one as it was: any thread may
    mac.update(canonical)
    return mac.hexdigest()


def sign_dict(obj: dict[str, Any], key: bytes) -> str:
    return sign_canonical(canonical_json(obj), key)


def signed_payload(obj: dict[str, Any], key: bytes) -> tuple[str, bytes]:
    """``obj``'s signature and its wire bytes, serialised once: the canonical JSON that
    is signed, with ``sig`` added as its last member (a hot path: the lane controller)."""
    return _with_sig(canonical_json(obj), key)


def _with_sig(canonical: bytes, key: bytes) -> tuple[str, bytes]:
    """The signature of canonical JSON bytes, and the bytes with ``sig`` as last member."""
    sig = sign_canonical(canonical, key)
    member = b'"sig":"' + sig.encode() + b'"'
    body = canonical[:-1] if canonical == b"{}" else canonical[:-1] + b","
    return sig, body + member + b"}"


def _json_text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def instruction_payload(
    key: bytes,
    *,
    id: str,
    ts: str,
    seq: int,
    code: str,
    vrn: str | None,
    ubr: str | None,
    bay: str | None,
    earliest_at: str | None,
    expires_at: str | None,
) -> bytes:
    """A version 1 instruction as it goes on the wire, signed: the bytes that
    ``signed_payload`` makes of the same object (times already RFC 3339 text).

    The lane controller's hot path: the canonical JSON of this one shape is written out
    in its sorted key order instead of through a dict and ``json.dumps`` (a plate read
    makes one or two, a session end one). Strings are escaped by the encoder
    ``json.dumps`` itself uses; the tests compare the result with ``signed_payload``
    on every rule and on text that needs escaping. A bay that ``Instruction`` refuses
    raises ValueError here too: the lane fails closed rather than send one.
    """
    if bay is not None:
        check_bay(bay)
    canonical = (
        f'{{"bay":{_json_text(bay)},"code":{_json_text(code)},'
        f'"earliest_at":{_json_text(earliest_at)},"expires_at":{_json_text(expires_at)},'
        f'"id":{_json_text(id)},"seq":{seq:d},"ts":{_json_text(ts)},"ubr":{_json_text(ubr)},'
        f'"v":1,"vrn":{_json_text(vrn)}}}'
    ).encode()
    return _with_sig(canonical, key)[1]


def sign_instruction(instruction: Instruction, key: bytes) -> Instruction:
    """The same instruction with ``sig`` set."""
    sig = sign_dict(instruction.to_dict(), key)
    return instruction.model_copy(update={"sig": sig})


def verify_payload(payload: bytes | dict[str, Any], key: bytes) -> Instruction:
    """Check an instruction's signature, then parse it.

    BadSignature: not signed with ``key``; BadPayload: not a signed JSON object at all;
    UnreadableInstruction: signed, but not an instruction this build can read. The
    signature comes first: a signed message is the lane's word even when it cannot be
    read, and must not be taken for junk (the display would keep the instruction before).
    """
    data = payload if isinstance(payload, dict) else decode_json(payload)
    if "sig" not in data:
        raise BadPayload("not a signed instruction: no sig")
    sig = data["sig"]
    try:
        expected = sign_dict(data, key)
    except UnicodeEncodeError as err:  # a lone surrogate (``"\ud800"``): no producer signs it
        raise BadPayload(f"text that is not Unicode: {err}") from err
    except (RecursionError, ValueError) as err:
        # nested just under the parser's limit, so too deep to serialise again from here
        raise BadPayload(f"cannot be put in canonical form: {str(err)[:200]}") from err
    # compare_digest refuses (TypeError) text that is not ASCII: such a sig is no signature
    if not isinstance(sig, str) or not sig.isascii() or not hmac.compare_digest(sig, expected):
        raise BadSignature("instruction signature does not verify")
    try:
        return parse(Instruction, data)
    except (BadPayload, RecursionError, ValueError) as err:
        seq = data.get("seq")
        raise UnreadableInstruction(
            f"signed but unreadable: {str(err)[:300]}",
            seq=seq if type(seq) is int else None,
        ) from err
