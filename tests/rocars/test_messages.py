from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta

import pytest
from pydantic import ValidationError

from rocars import signing
from rocars.errors import BadPayload, BadSignature
from rocars.eventid import new_event_id
from rocars.messages import (
    Instruction,
    InstructionCode,
    ManifestDropped,
    Message,
    PlateRead,
    SyncStatus,
    UnladenPressed,
    parse,
)
from rocars.signing import (
    canonical_json,
    instruction_payload,
    lane_key,
    sign_dict,
    sign_instruction,
    signed_payload,
    verify_payload,
)
from rocars.timeutil import utc_now
from rocars.topics import LaneTopic, instruction_topic, parse_lane_topic

KEY = lane_key(b"secret", "SBC", "L01")


def test_plate_read_round_trip_normalises_and_ignores_unknown_fields() -> None:
    body = {
        "v": 1,
        "id": "01JD0000000000000000000000",
        "ts": "2026-11-21T08:00:00.123Z",
        "vrn": "ab 1o23",
        "raw": "AB 1O23",
        "confidence": 0.93,
        "source": "camera",
        "device": "cam-1",
        "alternates": [{"vrn": "粤Z1234港", "confidence": 0.8}],
        "new_field": 3,
    }
    read = parse(PlateRead, json.dumps(body).encode())
    assert read.vrn == "AB1023"
    assert read.alternates[0].vrn == "粤Z1234港"
    assert parse(PlateRead, read.to_bytes()) == read
    assert read.to_dict()["ts"] == "2026-11-21T08:00:00.123Z"


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1,2]",
        b"\xff\xfe",
        json.dumps({"v": 2, "confidence": 1, "source": "serial", "device": "d"}).encode(),
        json.dumps({"v": 1, "confidence": "high", "source": "serial", "device": "d"}).encode(),
        json.dumps(
            {"v": 1, "confidence": 0.5, "source": "serial", "device": "d", "id": "nope"}
        ).encode(),
        json.dumps(
            {
                "v": 1,
                "confidence": 0.5,
                "source": "serial",
                "device": "d",
                "ts": "2026-11-21T08:00:00",
            }
        ).encode(),
        b"{" + b" " * 70_000 + b"}",
        # json.loads' other errors: nested past the recursion limit, an integer of over
        # 4300 digits; and a time before year 1 once in UTC (an OverflowError)
        b'{"v":1,"alternates":' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"v":1,"confidence":' + b"1" * 5000 + b"}",
        json.dumps(
            {
                "v": 1,
                "confidence": 0.5,
                "source": "serial",
                "device": "d",
                "ts": "0001-01-01T00:00:00+01:00",
            }
        ).encode(),
    ],
)
def test_bad_payloads_raise_bad_payload(payload: bytes) -> None:
    with pytest.raises(BadPayload):
        parse(PlateRead, payload)


_READ = (
    '{"v":1,"id":"01JD0000000000000000000000","ts":"2026-11-21T08:00:00.123Z","vrn":"%s",'
    '"raw":"%s","confidence":%s,"source":"serial","device":"cam-1","alternates":[]%s}'
)


@pytest.mark.parametrize(
    ("vrn", "raw", "confidence", "tail"),
    [
        ("AB1234", "x", "0.97", ""),  # the usual read
        ("ab 1o23", '\\u8eca \\"', "1", ""),  # normalised; escapes
        ("AB1234", "x", "0.97", ',"vrn":"CD5678"'),  # a key twice: the last wins
        ("AB1234", "x\\ud800", "0.97", ""),  # a lone surrogate: json.loads takes it
        ("AB1234", "x", "NaN", ""),  # json.loads takes NaN, the model refuses it
        ("AB1234", "x", "Infinity", ""),
        ("AB1234", "x", "1e400", ""),
        ("AB1234", "x\ty", "0.97", ""),  # a raw tab in a string: neither takes it
        ("AB1234", "x", "0.97", ","),  # a trailing comma
        ("AB1234", "x", "0.5", ',"v":2'),  # a version this agent does not read
    ],
)
def test_parse_takes_and_refuses_what_json_loads_and_the_model_do(
    vrn: str, raw: str, confidence: str, tail: str
) -> None:
    """``parse`` tries pydantic's JSON parser first; whatever it gives must be what
    ``json.loads`` and the model give, a value or a BadPayload with the same words."""
    payload = (_READ % (vrn, raw, confidence, tail)).encode()
    try:
        expected: PlateRead | str = PlateRead.model_validate(json.loads(payload.decode()))
    except (ValueError, ValidationError) as err:
        expected = str(err)
    try:
        got: PlateRead | str = parse(PlateRead, payload)
    except BadPayload as err:
        got = str(err.__cause__)
    assert got == expected


def test_instruction_signature_checks_every_field() -> None:
    now = utc_now()
    ins = sign_instruction(
        Instruction(
            seq=5,
            vrn="AB1234",
            code=InstructionCode.PROCEED,
            expires_at=now + timedelta(seconds=30),
        ),
        KEY,
    )
    assert verify_payload(ins.to_bytes(), KEY) == ins
    forged = ins.to_dict() | {"code": "INSPECT", "bay": "B1"}
    with pytest.raises(BadSignature):
        verify_payload(forged, KEY)
    with pytest.raises(BadSignature):
        verify_payload(ins.to_bytes(), lane_key(b"secret", "SBC", "L02"))
    # a field a newer producer adds is covered by the signature
    extra = ins.to_dict() | {"note": "x"}
    with pytest.raises(BadSignature):
        verify_payload(extra, KEY)


#: bays a board would show blank, reordered or garbled as the big value of INSPECT
BAD_BAYS = {
    "empty": "",
    "space": " ",
    "ideographic_space": "\u3000",
    "zero_width": "\u200b",
    "zero_width_inside": "B\u200b12",
    "bidi_override": "\u202eB12",
    "newline_at_end": "B12\n",
    "tab": "\t",
    "nul": "B\x00",
    "private_use": "B\ue000",
    "line_separator": "B\u2028",
    "paragraph_separator": "\u2029B",
    "surrogate": "B\ud800",
    "hangul_filler": "\u3164",
    "blank_braille": "\u2800\u2800",
    "mark_alone": "\u0301",
    "too_long": "B" * 17,
    # scripts the screens cannot draw (boxes) or that run right to left (reordered)
    "egyptian_hieroglyphs": "\U00013000\U00013001",
    "thai": "ก๑",
    "syriac": "\u0710\u0711",
    "emoji": "\U0001f69a",
    "hebrew_right_to_left": "א12",
    "arabic_digit": "B\u0661",
    "cyrillic_lookalike": "\u041212",
    "fullwidth_letters": "Ｂ１２",
    "han_not_in_the_font": "B\u9ff0",
    "han_compatibility": "\uf900",
    "two_accents": "e\u0301\u0301",
    "accent_on_a_digit": "1\u0301",
    "accent_on_han": "查\u0301",
    "overlay_mark": "B\u0336",
}


@pytest.mark.parametrize("name", BAD_BAYS)
def test_a_bay_a_board_cannot_show_is_refused(name: str) -> None:
    """The model refuses it (a display receiving one fails closed), and so does the lanes'
    hand-written wire form (the lane fails closed to STOP rather than send one)."""
    bay = BAD_BAYS[name]
    with pytest.raises(ValidationError):
        Instruction(seq=1, code=InstructionCode.INSPECT, bay=bay)
    with pytest.raises(ValidationError):
        Instruction(seq=1, code=InstructionCode.PROCEED, bay=bay)
    with pytest.raises(ValueError, match="bay"):
        instruction_payload(
            KEY,
            **{"id": "01JD0000000000000000000000", "ts": "2026-11-21T08:00:00.000Z"},
            **{"seq": 1, "code": "INSPECT", "vrn": "AB1234", "ubr": None, "bay": bay},
            **{"earliest_at": None, "expires_at": "2026-11-21T08:00:13.000Z"},
        )


@pytest.mark.parametrize(
    "bay",
    [
        *["B12", "U1", "查驗區3", "检验区 A-7", "B 12", " B12 ", "e\u0301", "W" * 16, "#1/2"],
        *[
            "é3",
            "KWAI-CHUNG-BAY-1",
            "查驗區（北）",
            "查驗區\u3000A",
            "~`$+<=>^|{}[]@!?",
            "龜龍\u9fef",
        ],
    ],
)
def test_a_bay_may_be_named_in_chinese_or_spaced(bay: str) -> None:
    """Printable ASCII, Han, CJK punctuation and the ideographic space, and one Latin
    accent on an ASCII letter (combining or precomposed)."""
    assert Instruction(seq=1, code=InstructionCode.INSPECT, bay=bay).bay == bay


def test_a_bad_bay_in_the_change_feed_is_still_taken() -> None:
    """The rule is the instruction's: a bundle with such a bay must not block the replica
    (the lane fails closed when it would show it)."""
    from rocars.models import Bundle

    now = utc_now()
    bundle = Bundle.model_validate(
        {
            **{"ubr": "9110635860", "vrn": "AB1234", "cp": "SBC", "direction": "import"},
            **{"ccrns": ["1001041258"], "bundled_at": now, "earliest_at": now},
            **{"status": "active", "result": "INSPECT", "bay": "\u202eB12", "updated_at": now},
        }
    )
    assert bundle.bay == "\u202eB12"


def test_a_signed_instruction_that_cannot_be_read_is_not_junk() -> None:
    """Checked before its fields: a newer controller's code, version or format, signed
    with the lane key, is the lane's word (UnreadableInstruction, with its seq); the same
    with another key, or no signature, is junk."""
    from rocars.signing import UnreadableInstruction

    fields = Instruction(seq=11, code=InstructionCode.READY).to_dict()
    for change in ({"code": "STOP_LANE_CLOSED"}, {"v": 2}, {"ubr": "12345"}, {"seq": "x11"}):
        wire = signed_payload({**fields, **change}, KEY)[1]
        with pytest.raises(UnreadableInstruction) as err:
            verify_payload(wire, KEY)
        assert err.value.key == "instruction_unreadable"
        assert err.value.params["seq"] == (None if change == {"seq": "x11"} else 11)
        with pytest.raises(BadSignature):
            verify_payload(wire, lane_key(b"secret", "SBC", "L02"))
    unsigned = {k: v for k, v in fields.items() if k != "sig"} | {"code": "STOP_LANE_CLOSED"}
    with pytest.raises(BadPayload) as junk:
        verify_payload(json.dumps(unsigned).encode(), KEY)
    assert not isinstance(junk.value, (BadSignature, UnreadableInstruction))


def test_arrays_nested_just_under_the_parsers_limit_are_bad_payloads() -> None:
    """``json.loads`` takes them, but serialising them again to check the signature, a
    few calls deeper, raised RecursionError past every display's handling of BadPayload."""
    head = '{"v":1,"id":"01J0000000000000000000000A","seq":5,"code":"PROCEED","sig":"00","x":'
    for depth in range(900, 1001):
        with pytest.raises(BadPayload):
            verify_payload((head + "[" * depth + "]" * depth + "}").encode(), KEY)


def test_instruction_rules_per_code() -> None:
    with pytest.raises(BadPayload):
        parse(Instruction, {"seq": 1, "code": "INSPECT"})
    with pytest.raises(BadPayload):
        parse(Instruction, {"seq": 1, "code": "TOO_EARLY"})


def test_sync_status_times() -> None:
    status = SyncStatus(state="online", central="up", last_sync_at=utc_now(), bundles=3)
    assert parse(SyncStatus, status.to_bytes()) == status


def test_topics() -> None:
    topic = instruction_topic("sbc", "L01")
    assert topic == "rocars/SBC/lanes/L01/instruction"
    parsed = parse_lane_topic("rocars/SBC/lanes/L01/aiop/unladen")
    assert parsed.kind is LaneTopic.UNLADEN
    assert parsed.lane == "L01"
    assert parse_lane_topic("rocars/SBC/lanes/L01/status/avrs").device == "avrs"
    for bad in [
        "rocars/XXX/lanes/L01/plate",
        "rocars/SBC/lanes/L 1/plate",
        "rocars/SBC/lanes/L01/other",
        "x",
    ]:
        with pytest.raises(BadPayload):
            parse_lane_topic(bad)


@pytest.mark.parametrize(
    "fields",
    [
        {"code": InstructionCode.READY},
        {"code": InstructionCode.PROCEED, "vrn": "AB1234", "ubr": "9110635860"},
        {"code": InstructionCode.PROCEED, "vrn": "粤Z1234港", "ubr": "9110635860"},
        {"code": InstructionCode.INSPECT, "vrn": "AB1234\n", "bay": 'B"7\\/ 檢'},
        {"code": InstructionCode.TOO_EARLY, "vrn": "AB1234", "earliest_at": utc_now()},
    ],
)
def test_instruction_payload_is_signed_payload_of_the_same_instruction(
    fields: dict[str, object],
) -> None:
    """The lanes' hand-written canonical JSON: byte for byte what the general path makes
    of the model's wire object (escapes and non-ASCII text included)."""
    now = utc_now()
    instruction = Instruction.model_validate(
        {"seq": 1764928800123, "ts": now, "expires_at": now + timedelta(seconds=13), **fields}
    )
    wire = instruction.to_dict()
    made = instruction_payload(
        KEY,
        **{k: v for k, v in wire.items() if k not in ("v", "sig")},
    )
    assert made == signed_payload(wire, KEY)[1]
    assert verify_payload(made, KEY) == instruction.model_copy(update={"sig": sign_dict(wire, KEY)})


def test_signed_payload_is_the_signed_canonical_json_with_sig_last() -> None:
    key = lane_key(b"site", "SBC", "L01")
    instruction = Instruction(seq=7, vrn="AB1234", code=InstructionCode.PROCEED, ubr="9110635860")
    sig, wire = signed_payload(instruction.to_dict(), key)
    assert sig == sign_dict(instruction.to_dict(), key)
    assert wire.endswith(b',"sig":"' + sig.encode() + b'"}')
    assert wire.startswith(canonical_json(instruction.to_dict())[:-1])
    assert verify_payload(wire, key) == instruction.model_copy(update={"sig": sig})
    empty_sig = sign_dict({}, key)
    assert signed_payload({}, key) == (empty_sig, b'{"sig":"' + empty_sig.encode() + b'"}')


def test_signatures_are_hmac_sha256_of_each_key() -> None:
    """Keyed HMACs are kept and copied for each signature: every key and message still
    gets its own HMAC, from any thread, also past the number of keys kept."""
    keys = [bytes([n]) * n for n in range(1, 80)] + [b"k" * 100]  # short, long (> block)
    messages = [b"", b"{}", b'{"code":"PROCEED"}' * 9]
    wrong: list[bytes] = []

    def check() -> None:
        for key in keys:
            for message in messages:
                if signing.sign_canonical(message, key) != (
                    hmac.new(key, message, hashlib.sha256).hexdigest()
                ):
                    wrong.append(key)

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    full = signing._MAX_KEYED
    try:
        signing._MAX_KEYED = len(signing._KEYED)  # no room: a new key is used, not kept
        assert signing.sign_canonical(b"x", b"new key") == (
            hmac.new(b"new key", b"x", hashlib.sha256).hexdigest()
        )
        assert b"new key" not in signing._KEYED
    finally:
        signing._MAX_KEYED = full


def test_a_signature_that_is_not_ascii_is_a_bad_signature() -> None:
    """hmac.compare_digest raises TypeError on such text: it got past every display's
    handling of BadSignature and BadPayload."""
    from rocars.errors import BadSignature
    from rocars.messages import Instruction, InstructionCode
    from rocars.signing import verify_payload

    key = b"k" * 32
    fields = Instruction(seq=1, code=InstructionCode.READY).to_dict()
    with pytest.raises(BadSignature):
        verify_payload(json.dumps({**fields, "sig": "é" * 64}).encode(), key)


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (PlateRead, {"vrn": "AB1234", "confidence": 0.9, "source": "serial", "device": "lpr0"}),
        (UnladenPressed, {"vrn": "AB1234"}),
        (ManifestDropped, {"source": "sensor"}),
    ],
)
@pytest.mark.parametrize("left_out", [("id",), ("ts",), ("id", "ts")])
def test_a_lane_input_without_its_own_id_or_time_is_refused(
    model: type[Message], fields: dict[str, object], left_out: tuple[str, ...]
) -> None:
    """A plate read, press or drop must carry its id and time. Given them on arrival, a
    read queued for minutes passed as taken now (the lane's late-read check), and one
    delivered again passed as new with a new id (the repeated-read guard)."""
    sent = {"v": 1, "id": "01JD0000000000000000000000", "ts": "2026-11-21T08:00:00.123Z", **fields}
    assert parse(model, json.dumps(sent).encode()).id == sent["id"]
    short = {k: v for k, v in sent.items() if k not in left_out}
    for payload in (json.dumps(short).encode(), short):
        with pytest.raises(BadPayload) as refused:
            parse(model, payload)  # type: ignore[arg-type]
        for name in left_out:
            assert f"{name}: missing" in str(refused.value)
    # what the code makes itself carries both
    assert parse(model, model.model_validate(fields).to_bytes()).v == 1


@pytest.mark.parametrize("value", [1765094400, 1765094400.25, 0, True])
@pytest.mark.parametrize(
    ("model", "field", "body"),
    [
        (PlateRead, "ts", {"vrn": "AB1234", "confidence": 0.9, "source": "serial", "device": "d"}),
        (SyncStatus, "last_sync_at", {"state": "online", "central": "up"}),
    ],
)
def test_a_time_given_as_a_number_is_refused(
    model: type[PlateRead] | type[SyncStatus], field: str, body: dict[str, object], value: object
) -> None:
    """pydantic took a number for epoch seconds: a lane input stamped 1765094400 passed
    for a read of that moment, where the contract says RFC 3339 text (found in review)."""
    good = {"id": new_event_id(), "ts": "2026-12-07T08:00:00.000Z", **body}
    assert parse(model, good)
    with pytest.raises(BadPayload, match=f"{field} is RFC 3339 text"):
        parse(model, {**good, field: value})
