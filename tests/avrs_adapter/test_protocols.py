"""The LPR line protocols, fed bytes directly: exact frames, every fault, bounded memory."""

from __future__ import annotations

import struct
from datetime import datetime

import pytest

from avrs_adapter.errors import ProtocolConfigError, UnknownProtocol
from avrs_adapter.protocols import (
    PROTOCOLS,
    DelimitedProtocol,
    FramedProtocol,
    NedapProtocol,
    ParsedRead,
    make_protocol,
    xor8,
)

WHEN = datetime(2026, 11, 22, 8, 15, 30)

# The documented example frames (docs/avrs.md), written out by hand.
DELIMITED_LINE = b"AB1234,93,2026-11-22T08:15:30,CAM1\r\n"
FRAMED_BODY = b"AB1234|93|20261122081530|CAM1"
FRAMED_FRAME = b"\x02" + FRAMED_BODY + b"\x03" + f"{xor8(FRAMED_BODY):02X}".encode() + b"\r\n"
NEDAP_DATA = b"AB1234;93;2026-11-22;08-15-30;NEDAP_ANPR1"


def nedap_packet(data: bytes, msg_id: int = 1, *, xor_flip: int = 0) -> bytes:
    head = b"\x89\xab\xcd\xef" + struct.pack(">II", msg_id, len(data)) + data
    return head + bytes([xor8(head) ^ xor_flip]) + b"\x12\x34\x56\x78"


EXAMPLES = {"delimited": DELIMITED_LINE, "framed": FRAMED_FRAME, "nedap": nedap_packet(NEDAP_DATA)}


def feed_all(proto: object, chunks: list[bytes]) -> list[ParsedRead]:
    out: list[ParsedRead] = []
    for chunk in chunks:
        out += proto.feed(chunk)  # type: ignore[attr-defined]
    return out


def test_framed_checksum_is_xor_of_body() -> None:
    assert xor8(b"\x01\x02\x04") == 0x07
    assert FRAMED_FRAME[-4:-2] == f"{xor8(FRAMED_BODY):02X}".encode()


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_documented_example_parses(name: str) -> None:
    proto = make_protocol(name)
    (read,) = proto.feed(EXAMPLES[name])
    assert read.vrn == "AB1234"
    assert read.confidence == pytest.approx(0.93)
    assert read.camera in ("CAM1", "NEDAP_ANPR1")
    assert read.device_time.startswith("2026-11-22") or read.device_time == "20261122081530"
    assert proto.stats.good == 1
    assert proto.stats.bad == 0


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_encode_matches_the_documented_bytes(name: str) -> None:
    proto = make_protocol(name)
    camera = "NEDAP_ANPR1" if name == "nedap" else "CAM1"
    assert proto.encode("AB1234", 0.93, camera, WHEN) == EXAMPLES[name]


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_one_byte_at_a_time(name: str) -> None:
    proto = make_protocol(name)
    frame = EXAMPLES[name]
    reads = feed_all(proto, [frame[i : i + 1] for i in range(len(frame))])
    assert [r.vrn for r in reads] == ["AB1234"]


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_plates_are_normalised_and_mainland_allowed(name: str) -> None:
    proto = make_protocol(name)
    data = proto.encode("ab o12q", 0.8, "CAM1", WHEN) + proto.encode("粤Z1O34港", 0.7, "CAM1", WHEN)
    reads = proto.feed(data)
    assert [(r.vrn, r.raw) for r in reads] == [("AB0120", "ab o12q"), ("粤Z1034港", "粤Z1O34港")]


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
@pytest.mark.parametrize("plate", ["", "?", "AB!234", "ABCDEFGHJK", "粤A1234港"])
def test_whole_frame_with_unreadable_plate_is_an_unread(name: str, plate: str) -> None:
    proto = make_protocol(name)
    (read,) = proto.feed(proto.encode(plate, 0.4, "CAM1", WHEN))
    assert read.vrn == ""
    assert read.raw == plate
    assert proto.stats.unread == 1
    assert proto.stats.good == 0


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_noise_between_frames_is_skipped(name: str) -> None:
    proto = make_protocol(name)
    noise = bytes(range(0x04, 0x09)) + b"\x1b[2J\xff\xfe\x00\x7f" * 5
    if name == "delimited":
        # printable noise ("[2J") before binary noise cannot be told from the start of a
        # line: see test_delimited_noise_inside_a_line_is_a_bad_line_not_a_read
        noise = noise.replace(b"[2J", b"")
    good, again = (proto.encode("AB1234", 0.9, "CAM1", WHEN) for _ in range(2))
    reads = proto.feed(noise + good + noise + noise + again + noise)
    assert [r.vrn for r in reads] == ["AB1234", "AB1234"]
    assert proto.stats.noise_bytes > 0
    assert proto.stats.good == 2


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_pure_noise_gives_nothing(name: str) -> None:
    proto = make_protocol(name)
    junk = bytes((i * 37 + 11) % 256 for i in range(5000)).replace(b"\x02", b"")
    assert proto.feed(junk) == []
    assert proto.idle() == []
    assert proto.stats.good == 0
    assert proto.stats.unread == 0


@pytest.mark.parametrize("name", ["framed", "nedap"])
def test_bad_checksum_dropped_and_next_frame_read(name: str) -> None:
    proto = make_protocol(name)
    bad = proto.encode("XX9999", 0.9, "CAM1", WHEN, corrupt=True)
    good = proto.encode("AB1234", 0.9, "CAM1", WHEN)
    reads = proto.feed(bad + good)
    assert [r.vrn for r in reads] == ["AB1234"]
    assert proto.stats.bad == 1


def test_delimited_damaged_line_dropped_and_next_read() -> None:
    proto = DelimitedProtocol()
    data = (
        b"AB1234,9x,2026-11-22T08:15:30,CAM1\n"  # confidence not a number
        b"AB1234,93,2026-13-22T08:15:30,CAM1\n"  # month 13
        b"AB1234,93,2026-11-22T08:15:30\n"  # a field short
        b"AB1234,193,2026-11-22T08:15:30,CAM1\n"  # over the scale
        b"AB1234,93,2026-11-22T08:15:30,CAM 1\n"  # camera id with a space
    )
    assert proto.feed(data + DELIMITED_LINE) == [proto.feed(DELIMITED_LINE)[0]]
    assert proto.stats.bad == 5


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_baud_mismatch_garbage_then_good_frame(name: str) -> None:
    proto = make_protocol(name)
    good, again = (proto.encode("AB1234", 0.9, "CAM1", WHEN) for _ in range(2))
    # a frame sampled at the wrong rate: high, framing-error bytes, some newlines among them
    garbage = bytes(0x80 | ((b * 7 + i) & 0x7F) for i, b in enumerate(good * 4)) + b"\n\xe4\xb8"
    reads = proto.feed(garbage + good + garbage[:50] + again)
    assert [r.vrn for r in reads] == ["AB1234", "AB1234"]


def test_framed_truncated_frame_then_good_frame() -> None:
    proto = FramedProtocol()
    reads = proto.feed(b"\x02AB12|9" + FRAMED_FRAME)
    assert [r.vrn for r in reads] == ["AB1234"]
    assert proto.stats.bad == 1


def test_framed_lower_case_hex_accepted() -> None:
    proto = FramedProtocol()
    frame = b"\x02" + FRAMED_BODY + b"\x03" + f"{xor8(FRAMED_BODY):02x}".encode()
    assert [r.vrn for r in proto.feed(frame)] == ["AB1234"]


@pytest.mark.parametrize("check", [b" 6", b"+6", b"6 ", b"0x"])
def test_framed_checksum_must_be_two_hex_digits(check: bytes) -> None:
    # the body's XOR is 06: int(" 6", 16) is 6 too, a damaged checksum passed
    assert xor8(FRAMED_BODY) == 0x06
    proto = FramedProtocol()
    assert proto.feed(b"\x02" + FRAMED_BODY + b"\x03" + check + b"\r\n") == []
    assert proto.stats.bad == 1
    assert [r.vrn for r in proto.feed(FRAMED_FRAME)] == ["AB1234"]


def test_nedap_retry_with_same_id_dropped() -> None:
    proto = NedapProtocol()
    packet = nedap_packet(NEDAP_DATA, msg_id=41)
    reads = proto.feed(packet + packet + nedap_packet(NEDAP_DATA, msg_id=42))
    assert len(reads) == 2
    assert proto.stats.duplicates == 1


def test_nedap_little_endian() -> None:
    proto = NedapProtocol(byteorder="little")
    head = b"\xef\xcd\xab\x89" + struct.pack("<II", 5, len(NEDAP_DATA)) + NEDAP_DATA
    packet = head + bytes([xor8(head)]) + b"\x78\x56\x34\x12"
    assert [r.vrn for r in proto.feed(packet)] == ["AB1234"]
    assert [r.vrn for r in NedapProtocol().feed(packet)] == []


def test_nedap_huge_length_resyncs_at_once() -> None:
    proto = NedapProtocol()
    lying = b"\x89\xab\xcd\xef" + struct.pack(">II", 1, 0x7FFFFFFF)
    reads = proto.feed(lying + nedap_packet(NEDAP_DATA, msg_id=2))
    assert [r.vrn for r in reads] == ["AB1234"]
    assert proto.stats.oversize == 1


def test_nedap_bad_xor_inside_packet_finds_packet_behind() -> None:
    proto = NedapProtocol()
    bad = nedap_packet(NEDAP_DATA, msg_id=1, xor_flip=0xFF)
    reads = proto.feed(bad + nedap_packet(NEDAP_DATA, msg_id=2))
    assert [r.vrn for r in reads] == ["AB1234"]
    assert proto.stats.bad == 1


@pytest.mark.parametrize("name", ["framed", "nedap"])
def test_idle_abandons_a_frame_that_never_finished(name: str) -> None:
    proto = make_protocol(name)
    good = proto.encode("AB1234", 0.9, "CAM1", WHEN)
    # a frame start whose end never comes (cable glitch), then silence
    assert proto.feed(good[:9]) == []
    assert proto.idle() == []
    assert [r.vrn for r in proto.feed(good)] == ["AB1234"]


@pytest.mark.parametrize("name", ["framed", "nedap"])
def test_frame_paused_over_idle_is_never_read_by_its_tail(name: str) -> None:
    # a frame whose bytes pause anywhere: its head is abandoned at idle, and its tail has
    # no start of frame (framed) or open code (nedap) to pass for a frame
    good = make_protocol(name).encode("AB1234", 0.9, "CAM1", WHEN)
    end = len(good) - (2 if name == "framed" else 0)  # framed: whole before its CR LF
    for cut in range(1, end):
        proto = make_protocol(name)
        assert proto.feed(good[:cut]) == []
        assert proto.idle() == []
        assert proto.feed(good[cut:]) == [], cut
        assert [r.vrn for r in proto.feed(good)] == ["AB1234"]


def test_delimited_idle_drops_unfinished_noise() -> None:
    proto = DelimitedProtocol()
    assert proto.feed(b"\x00\xff\x1b") == []
    proto.idle()
    assert [r.vrn for r in proto.feed(DELIMITED_LINE)] == ["AB1234"]
    assert proto.stats.bad == 0


def test_delimited_line_torn_by_a_reopen_is_never_read_as_its_tail() -> None:
    """``AB12``, the cable pulled and plugged back (the port opened again, ``reset``),
    then ``34,93,…``: read as plate ``34`` before. The first line after the open counts
    bad when the connection before ended inside a line with text, or after one ``idle()``
    dropped; a clean one's first line is read."""
    for before in ([], ["idle"]):
        proto = DelimitedProtocol()
        assert proto.feed(DELIMITED_LINE[:4]) == []
        if before:
            assert proto.idle() == []
        proto.reset()
        assert proto.feed(DELIMITED_LINE[4:]) == []
        assert proto.stats.bad == 1
        assert [r.vrn for r in proto.feed(DELIMITED_LINE)] == ["AB1234"]
    proto = DelimitedProtocol()
    assert [r.vrn for r in proto.feed(DELIMITED_LINE)] == ["AB1234"]
    proto.reset()
    assert [r.vrn for r in proto.feed(DELIMITED_LINE)] == ["AB1234"]
    proto.feed(b"\x00\xff")  # noise alone before the reopen: the next line is read
    proto.reset()
    assert [r.vrn for r in proto.feed(DELIMITED_LINE)] == ["AB1234"]
    assert proto.stats.bad == 0


def test_delimited_line_paused_over_idle_is_never_read_as_its_tail() -> None:
    """``AB1234`` paused after its ``A`` (a slow device server, a TCP retransmit): the head
    is dropped at idle, and its rest, whole-looking, read ``B1234``, a plate no truck
    showed. Text dropped at idle makes the next line bad; the one after is read."""
    proto = DelimitedProtocol()
    assert proto.feed(DELIMITED_LINE[:1]) == []
    assert proto.idle() == []
    assert proto.idle() == []  # the reader calls it again while the line stays quiet
    assert proto.feed(DELIMITED_LINE[1:]) == []
    assert proto.stats.bad == 1
    assert [r.vrn for r in proto.feed(DELIMITED_LINE)] == ["AB1234"]
    # the rest of an over-long line after a pause: the same
    assert proto.feed(b"X" * 600) == []
    assert proto.idle() == []
    assert proto.feed(b"XXXX" + DELIMITED_LINE[1:]) == []
    assert (proto.stats.good, proto.stats.bad, proto.stats.oversize) == (1, 2, 1)
    assert [r.vrn for r in proto.feed(DELIMITED_LINE)] == ["AB1234"]


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_ten_megabyte_line_without_newline_is_dropped_and_memory_stays_bounded(
    name: str,
) -> None:
    proto = make_protocol(name)
    start = {"delimited": b"AB1234,", "framed": b"\x02AB", "nedap": b"\x89\xab\xcd\xef"}[name]
    chunk = b"A" * 65536
    assert proto.feed(start) == []
    biggest = 0
    for _ in range(160):  # 10 MiB
        assert proto.feed(chunk) == []
        biggest = max(biggest, len(proto._buf))  # type: ignore[attr-defined]
    assert biggest <= 70_000
    reads = proto.feed(b"\n" + EXAMPLES[name])
    assert [r.vrn for r in reads] == ["AB1234"]
    assert proto.stats.oversize >= 1
    assert proto.stats.noise_bytes >= 10 * 1024 * 1024


def test_delimited_configurable_order_and_delimiter() -> None:
    proto = DelimitedProtocol(
        delimiter=";", fields=("camera", "skip", "plate", "confidence"), confidence_scale=1
    )
    (read,) = proto.feed(b"GATE-2;xyz;AB 1234;0.875\n")
    assert (read.vrn, read.camera, read.confidence) == ("AB1234", "GATE-2", 0.875)
    assert proto.encode("AB1234", 0.5, "GATE-2", WHEN) == b"GATE-2;;AB1234;0.500\r\n"


def test_delimited_tab_and_iso_times_with_zone() -> None:
    proto = DelimitedProtocol(delimiter="\t")
    reads = proto.feed(
        b"AB1234\t90\t2026-11-22T08:15:30.250+08:00\tCAM1\n"
        b"AB1234\t90\t20261122081530\tCAM1\n"
        b"AB1234\t90\t2026-11-22 08:15:30Z\tCAM1\n"
    )
    assert len(reads) == 3


def test_delimited_mainland_plate_in_utf8() -> None:
    proto = DelimitedProtocol()
    (read,) = proto.feed("粤Z1234港,88,2026-11-22T08:15:30,CAM1\n".encode())
    assert read.vrn == "粤Z1234港"


@pytest.mark.parametrize("plate", ["粵Z1234港", "粤Z·1234港", "粤Z・1234港"])
def test_delimited_mainland_plate_written_otherwise(plate: str) -> None:
    """The province in its traditional form, a dot between the parts: the plate, not an
    unread (the dot was noise: what came before it was cut off) or a bad line."""
    proto = DelimitedProtocol()
    (read,) = proto.feed(f"{plate},88,2026-11-22T08:15:30,CAM1\n".encode())
    assert read.vrn == "粤Z1234港"
    assert proto.stats.bad == 0


@pytest.mark.parametrize(
    "tail",
    [b"\x03\r\n", b"\x00\r\n", b"\r\x00\n", b"\xff\r\n", b"\xe4\xb8\n", b"\x03" * 600 + b"\r\n"],
)
@pytest.mark.parametrize("step", [1, 7, 4096])
def test_delimited_noise_after_a_line_does_not_erase_it(tail: bytes, step: int) -> None:
    # an ETX or NUL between a read and its LF (the framing of a device set up for STX/ETX)
    proto = DelimitedProtocol()
    data = b"\x02" + DELIMITED_LINE[:-2] + tail + DELIMITED_LINE
    reads = feed_all(proto, [data[i : i + step] for i in range(0, len(data), step)])
    assert [r.vrn for r in reads] == ["AB1234", "AB1234"]
    assert proto.stats.bad == 0
    assert proto.stats.noise_bytes == 1 + len(tail.rstrip(b"\r\n").rstrip(b"\r"))


def test_delimited_line_left_empty_by_its_noise_is_counted_bad() -> None:
    proto = DelimitedProtocol()
    assert proto.feed(DELIMITED_LINE[:-2] + b"\x00 \r\n") == []  # a blank after the noise
    assert proto.stats.bad == 1
    assert proto.feed(b"\x00\x1b\r\n\r\n") == []  # noise alone, an empty line: not lines
    assert proto.stats.bad == 1


@pytest.mark.parametrize("step", [1, 64, 700, 65536])
def test_delimited_noise_burst_in_front_of_a_line_is_not_oversize(step: int) -> None:
    proto = DelimitedProtocol()
    burst = bytes([0x01, 0x81, 0xFE, 0x1B, 0xC0, 0x90]) * 200  # 1200 bytes, more than max_line
    data = burst + DELIMITED_LINE + burst + "粤Z1234港,88,2026-11-22T08:15:30,CAM1\n".encode()
    biggest = 0
    reads: list[ParsedRead] = []
    for i in range(0, len(data), step):
        reads += proto.feed(data[i : i + step])
        biggest = max(biggest, len(proto._buf))
    assert [r.vrn for r in reads] == ["AB1234", "粤Z1234港"]
    assert (proto.stats.oversize, proto.stats.bad) == (0, 0)
    assert proto.stats.noise_bytes == 2 * len(burst)
    assert biggest <= max(step, proto.max_line + 4)
    # the bound still holds for what is left after the noise
    assert proto.feed(burst + b"A" * 600 + b"\n" + DELIMITED_LINE) == proto.feed(DELIMITED_LINE)
    assert proto.stats.oversize == 1


@pytest.mark.parametrize(
    "line",
    [
        b"XA\xffB1234,93,2026-11-22T08:15:30,CAM1\n",  # would read B1234 at 0.93
        b"AB12\x0034,93,2026-11-22T08:15:30,CAM1\r\n",  # would read 34
        b"\x02XA\xffB1234,93,2026-11-22T08:15:30,CAM1\x03\r\n",  # STX/ETX round it too
        b"A\xffB\xfe1234,93,2026-11-22T08:15:30,CAM1\n",
        b" \x00KL9876,93,2026-11-22T08:15:30,CAM1\n",  # a blank is text of the line too
        b"\x1b[2J\x00AB1234,93,2026-11-22T08:15:30,CAM1\n",  # printable noise in front
        b"XA" + b"\xff" * 600 + b"B1234,93,2026-11-22T08:15:30,CAM1\n",  # over max_line
        b"AB12" + b"\x00" * 600 + b"34,93,2026-11-22T08:15:30,CAM1\n",
    ],
)
@pytest.mark.parametrize("step", [1, 7, 4096])
def test_delimited_noise_inside_a_line_is_a_bad_line_not_a_read(line: bytes, step: int) -> None:
    # noise after some text of a line may be inside the read: what follows it looks like a
    # whole read with another plate; the line is lost (bad), the next line is read
    proto = DelimitedProtocol()
    data = line + DELIMITED_LINE
    reads = feed_all(proto, [data[i : i + step] for i in range(0, len(data), step)])
    assert [(r.vrn, r.confidence) for r in reads] == [("AB1234", 0.93)]
    assert (proto.stats.good, proto.stats.unread, proto.stats.bad) == (1, 0, 1)
    assert proto.stats.oversize == 0


def test_delimited_noise_cut_before_an_unfinished_line_does_not_outlive_it() -> None:
    # text then a long burst of noise, cut from the buffer while the line is unfinished:
    # the line is bad; the one after the next LF is read again. After a quiet spell, the
    # next line may be the rest of the unfinished one: bad too, then the one after is read
    proto = DelimitedProtocol()
    assert proto.feed(b"XA" + b"\xff" * 600 + b"B12") == []
    assert proto.feed(b"34,93,2026-11-22T08:15:30,CAM1\n" + DELIMITED_LINE) == [
        DelimitedProtocol().feed(DELIMITED_LINE)[0]
    ]
    assert proto.stats.bad == 1
    assert proto.feed(b"XA" + b"\xff" * 600 + b"B12") == []
    assert proto.idle() == []
    assert proto.feed(b"34,93,2026-11-22T08:15:30,CAM1\n") == []
    assert [r.vrn for r in proto.feed(DELIMITED_LINE)] == ["AB1234"]
    assert (proto.stats.good, proto.stats.bad) == (2, 2)


def test_delimited_printable_garbage_line_is_bad_not_a_read() -> None:
    proto = DelimitedProtocol()
    assert proto.feed(b"hello world\nGET / HTTP/1.1\r\n") == []
    assert proto.stats.bad == 2


@pytest.mark.parametrize(
    "options",
    [
        {"delimiter": ""},
        {"delimiter": "ab"},
        {"delimiter": "A"},
        {"delimiter": " "},
        {"delimiter": "\n"},
        {"fields": ("plate",)},
        {"fields": ("plate", "confidence", "plate")},
        {"fields": ("plate", "confidence", "colour")},
        {"confidence_scale": 0},
        {"max_line": 1},
    ],
)
def test_delimited_bad_options(options: dict[str, object]) -> None:
    with pytest.raises(ProtocolConfigError):
        make_protocol("delimited", **options)


def test_unknown_protocol_and_options() -> None:
    with pytest.raises(UnknownProtocol) as err:
        make_protocol("morse")
    assert err.value.key == "avrs_unknown_protocol"
    with pytest.raises(ProtocolConfigError):
        make_protocol("framed", delimiter=";")
    with pytest.raises(ProtocolConfigError):
        make_protocol("nedap", byteorder="middle")


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_encode_refuses_bad_confidence(name: str) -> None:
    with pytest.raises(ProtocolConfigError):
        make_protocol(name).encode("AB1234", 1.5, "CAM1", WHEN)


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_reset_forgets_a_partial_frame(name: str) -> None:
    proto = make_protocol(name)
    good = proto.encode("AB1234", 0.9, "CAM1", WHEN)
    proto.feed(good[: len(good) // 2])
    proto.reset()
    if name == "delimited":
        # a line cannot tell it is whole: the first after the open may be the rest of the
        # one torn (test_delimited_line_torn_by_a_reopen_is_never_read_as_its_tail)
        assert proto.feed(good) == []
    assert [r.vrn for r in proto.feed(good)] == ["AB1234"]
