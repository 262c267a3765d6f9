"""Line protocols of serial LPR devices: streaming parsers that resynchronise after faults.

Each protocol is a small class with a ``name``, a streaming ``feed(bytes)`` that returns
the reads complete so far, an ``idle()`` the reader calls after a quiet spell (it abandons
a partial frame), and an ``encode`` the virtual device uses. Parsers never raise on input:
noise, partial lines, wrong checksums and baud-mismatch garbage are counted in ``stats``
and skipped, and the buffer is bounded (an endless line is dropped and counted once).

- ``delimited``: one configurable delimited ASCII/UTF-8 line per read.
- ``framed``: ``STX body ETX`` + 2 hex digits of the XOR of the body.
- ``nedap``: the "protocolled" RS485 packet of the Nedap ANPR camera
  (open code 0x89ABCDEF, message id, length, data, XOR, close code 0x12345678).

A frame that is whole and well-formed says a vehicle was seen: if its plate cannot be
normalised (``rocars.ids.normalize_plate``) it becomes an *unread* (``vrn == ""``).
Anything else is noise and becomes nothing. See docs/avrs.md for the exact bytes.
"""

from __future__ import annotations

import codecs
import logging
import re
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from avrs_adapter.errors import ProtocolConfigError, UnknownProtocol
from rocars.errors import InvalidIdentifier
from rocars.ids import normalize_plate

logger = logging.getLogger(__name__)

# What a plate field may be before normalisation (anything longer is not a plate).
_MAX_PLATE_FIELD = 32
_CAMERA = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_COMPACT_TIME = re.compile(r"^\d{14}$")
# Characters that never occur in a read's line (its plates are ASCII or 粤Z…港, the
# province maybe 粵 and the parts maybe dotted, 粤Z·1234港; the rest is ASCII): a read's
# text starts after the last of them, so noise glued in front is cut off.
_LINE_NOISE = re.compile(r"[^\t\x20-\x7e\u00b7\u30fb\u4e00-\u9fff]")
_UP_TO_LAST_NOISE = re.compile(r".*[^\t\x20-\x7e\u00b7\u30fb\u4e00-\u9fff]", re.DOTALL)
_NOISE_RUN = re.compile(r"[^\t\x20-\x7e\u00b7\u30fb\u4e00-\u9fff]*")
# Text that may be part of a read when noise follows it on its line. Not CJK ideographs:
# baud-mismatch garbage decodes to some, and one alone can only be the 粤 of a Mainland
# plate, whose rest (``Z1234港``) does not normalise: an unread, never another plate.
_LINE_TEXT = re.compile(r"[\t\x20-\x7e]")
# Plate fields that mean "vehicle seen, plate not read".
_UNREAD_MARKS = frozenset({"", "?", "-", "NOREAD", "NO READ", "UNREAD", "NOT DEFINED", "UNKNOWN"})


@dataclass(frozen=True, slots=True)
class ParsedRead:
    """One read a device reported. ``vrn`` is normalised; empty for a vehicle seen but not read."""

    vrn: str
    raw: str
    confidence: float
    camera: str
    device_time: str


@dataclass(slots=True)
class ParserStats:
    """Counters of one parser (the reader reports them in ``status/avrs``)."""

    good: int = 0  # reads with a plate
    unread: int = 0  # whole frames whose plate could not be read or normalised
    bad: int = 0  # frames or lines rejected: checksum, structure, truncated
    oversize: int = 0  # frames or lines over the size bound, dropped
    duplicates: int = 0  # retransmitted frames (same message id), dropped
    noise_bytes: int = 0  # bytes outside any frame, skipped

    def as_dict(self) -> dict[str, int]:
        return {
            "good": self.good,
            "unread": self.unread,
            "bad": self.bad,
            "oversize": self.oversize,
            "duplicates": self.duplicates,
            "noise_bytes": self.noise_bytes,
        }


class LprProtocol(Protocol):
    """What ``SerialSource`` and the virtual device need from a protocol."""

    name: str
    stats: ParserStats

    def feed(self, data: bytes) -> list[ParsedRead]: ...

    def idle(self) -> list[ParsedRead]: ...

    def reset(self) -> None: ...

    def encode(
        self,
        plate: str,
        confidence: float,
        camera: str,
        when: datetime,
        *,
        corrupt: bool = False,
    ) -> bytes: ...


def _split_noise(text: str) -> tuple[str, str, bool]:
    """``text`` as (what may be a read, the noise after it, whether text was cut off).

    Noise at the end (an ETX or NUL before the LF) is split off first: the read starts
    after the last noise character, so a noise character left at the end would cut the
    whole read away. Noise glued in front is then cut off at its last character. When
    text came before that noise, the noise may be inside a read (``XA<FF>B1234,93,…``):
    what follows it is then not a read (the third value is True), it is only safe to take
    after noise alone (leading garbage, resynchronisation).
    """
    if _LINE_NOISE.search(text) is None:
        return text, "", False
    # the trailing run is matched on the reversed text: searching for a run that ends at
    # the end of the text would be quadratic in a long burst of noise
    run = _NOISE_RUN.match(text[::-1])
    size = run.end() if run is not None else 0
    body, tail = text[: len(text) - size], text[len(text) - size :]
    lead = _UP_TO_LAST_NOISE.match(body) if _LINE_NOISE.search(body) else None
    cut_text = False
    if lead is not None:
        cut_text = _LINE_TEXT.search(body, 0, lead.end()) is not None
        body = body[lead.end() :]
    return body, tail, cut_text


def _read_from(
    stats: ParserStats, plate_field: str, confidence: float, camera: str, device_time: str
) -> ParsedRead:
    """A whole, well-formed frame: a read, or an unread when the plate does not normalise."""
    raw = plate_field.strip()
    vrn = ""
    if raw.upper() not in _UNREAD_MARKS and len(raw) <= _MAX_PLATE_FIELD:
        try:
            vrn = normalize_plate(raw)
        except InvalidIdentifier:
            logger.debug("plate %r does not normalise: unread", raw)
    if vrn:
        stats.good += 1
    else:
        stats.unread += 1
    return ParsedRead(vrn, raw[:64], confidence, camera, device_time)


def _confidence(text: str, scale: float) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not 0.0 <= value <= scale:  # also refuses nan
        return None
    return min(1.0, value / scale)


def _valid_time(text: str) -> bool:
    text = text.strip()
    if _COMPACT_TIME.match(text):
        try:
            datetime(
                int(text[0:4]),
                int(text[4:6]),
                int(text[6:8]),
                int(text[8:10]),
                int(text[10:12]),
                int(text[12:14]),
            )
        except ValueError:
            return False
        return True
    if not text or len(text) > 40:
        return False
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _valid_camera(text: str) -> bool:
    return bool(_CAMERA.match(text.strip()))


def _clean_confidence(confidence: float) -> float:
    if not 0.0 <= confidence <= 1.0:
        raise ProtocolConfigError(
            f"confidence must be 0-1, got {confidence!r}", key="avrs_bad_confidence"
        )
    return confidence


# -- delimited ---------------------------------------------------------------------------


class DelimitedProtocol:
    """One read per line: ``plate,confidence,time,camera`` then LF (CR before it is ignored).

    ``delimiter`` and the field order (``fields``, names from ``plate``, ``confidence``,
    ``time``, ``camera``, ``skip``) are configurable; a line must have exactly that many
    fields. ``confidence_scale`` is what the device means by full confidence (100 for a
    percentage, 1 for a fraction). Control bytes and invalid UTF-8 cannot be in a line:
    noise at its end is dropped and its text starts after the last of them, so binary noise
    before a read is cut off; only the text left counts against ``max_line``. A line with
    noise after some of its text is bad, never a read: the noise may be inside the read.
    A partial line still unfinished at ``idle()`` is dropped; when it had text, the line
    after it is bad too (it may be its rest).
    """

    name: str = "delimited"
    FIELD_NAMES: ClassVar[frozenset[str]] = frozenset(
        {"plate", "confidence", "time", "camera", "skip"}
    )

    def __init__(
        self,
        *,
        delimiter: str = ",",
        fields: tuple[str, ...] | list[str] = ("plate", "confidence", "time", "camera"),
        confidence_scale: float = 100.0,
        max_line: int = 512,
    ) -> None:
        if (
            len(delimiter) != 1
            or delimiter in "\r\n "
            or (delimiter != "\t" and _LINE_NOISE.match(delimiter))
            or delimiter.isalnum()
        ):
            raise ProtocolConfigError(
                f"delimiter must be one printable non-alphanumeric character (not space) "
                f"or TAB, got {delimiter!r}",
                key="avrs_bad_delimiter",
                delimiter=delimiter,
            )
        names = tuple(fields)
        unknown = [f for f in names if f not in self.FIELD_NAMES]
        required = {"plate", "confidence"}
        real = [f for f in names if f != "skip"]
        if unknown or not required <= set(names) or len(real) != len(set(real)):
            raise ProtocolConfigError(
                f"fields must name plate and confidence once each (and optionally time, "
                f"camera, skip), got {names!r}",
                key="avrs_bad_fields",
                fields=",".join(names),
            )
        if not 0 < confidence_scale <= 10_000:
            raise ProtocolConfigError(
                f"confidence_scale must be > 0, got {confidence_scale!r}",
                key="avrs_bad_confidence_scale",
            )
        if not 16 <= max_line <= 65_536:
            raise ProtocolConfigError(f"max_line must be 16-65536, got {max_line!r}")
        self.delimiter = delimiter
        self.fields = names
        self.confidence_scale = float(confidence_scale)
        self.max_line = max_line
        self.stats = ParserStats()
        self._buf = bytearray()
        self._discarding = False
        # text of the unfinished line came before noise that ``_trim_unfinished`` cut off,
        # or ``idle()`` dropped a line with text: the next line may be the rest of a line
        self._cut_text = False

    def reset(self) -> None:
        """A new connection. An unfinished line with text is dropped as at ``idle()``, and
        the first line after the open counts bad: it may be the rest of that line (``AB12``,
        the cable out and in, ``34,93,…`` read as ``34``); a mark ``idle()`` left stays."""
        self.idle()

    def feed(self, data: bytes) -> list[ParsedRead]:
        out: list[ParsedRead] = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                rest = data[start:]
                if self._discarding:
                    self.stats.noise_bytes += len(rest)
                else:
                    self._buf += rest
                    # only what may still be a read counts against the bound: a burst of
                    # binary noise in front of a line is cut off, not taken for the line
                    if len(self._buf) > self.max_line and self._trim_unfinished() > self.max_line:
                        self._drop_oversize()
                break
            piece = data[start:nl]
            start = nl + 1
            if self._discarding:
                # the tail of an over-long line: the next line is a fresh start
                self.stats.noise_bytes += len(piece)
                self._discarding = False
                continue
            line = bytes(self._buf) + piece
            self._buf.clear()
            read = self._line(line, cut_text=self._cut_text)
            self._cut_text = False
            if read is not None:
                out.append(read)
        return out

    def idle(self) -> list[ParsedRead]:
        if self._buf or self._discarding:
            logger.debug("dropping %d bytes of an unfinished line", len(self._buf))
            # text of a line that paused (a slow device server, a TCP retransmit): what
            # comes next may be the rest of it, and taken as a whole line ``A`` + a pause +
            # ``B1234,93,…`` reads ``B1234``. That line counts bad, never a read. Noise
            # alone is leading garbage, which the next line may follow.
            text = self._buf.decode("utf-8", errors="replace")
            if self._discarding or _LINE_TEXT.search(text) is not None:
                self._cut_text = True
            self.stats.noise_bytes += len(self._buf)
            self._buf.clear()
        self._discarding = False
        return []

    def _drop_oversize(self) -> None:
        logger.warning("dropping a line over %d bytes with no newline", self.max_line)
        self.stats.oversize += 1
        self.stats.noise_bytes += len(self._buf)
        self._buf.clear()
        self._discarding = True
        self._cut_text = False

    def _trim_unfinished(self) -> int:
        """Cut the binary noise out of the unfinished line in the buffer; returns the size
        of what may still be a read. Noise after that text is kept as one byte: when the
        LF comes next it ends the read, when more text comes it starts a new one."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = decoder.decode(bytes(self._buf))  # a character split between reads waits
        pending = decoder.getstate()[0]
        body, tail, cut_text = _split_noise(text)
        self._cut_text = self._cut_text or cut_text
        kept = body.encode("utf-8")
        trimmed = kept + (b"\x00" if body and tail else b"") + pending
        self.stats.noise_bytes += len(self._buf) - len(trimmed)
        self._buf[:] = trimmed
        return len(kept)

    def _line(self, line: bytes, *, cut_text: bool = False) -> ParsedRead | None:
        line = line.rstrip(b"\r")
        text = line.decode("utf-8", errors="replace")
        # binary noise glued in front of a read, or after it: only the text between counts
        body, _, cut = _split_noise(text)
        # what is left has no noise: it is the same bytes as in the line
        size = len(line) if len(body) == len(text) else len(body.encode("utf-8"))
        self.stats.noise_bytes += len(line) - size
        if size > self.max_line:
            self.stats.oversize += 1
            self.stats.noise_bytes += size
            return None
        if cut or cut_text:
            # noise after text of this line: it may be inside the read (``AB12<NUL>34,…``),
            # and what follows it a fragment that looks whole; so may the rest of a line
            # whose text ``idle()`` dropped. A lost line, never a read
            self.stats.bad += 1
            logger.debug("line with noise or a pause after some of its text: %r", text)
            return None
        if not body.strip():
            if _LINE_NOISE.sub("", text).strip():
                # text the noise cut left nothing of: a lost line must show in the counters
                self.stats.bad += 1
                logger.debug("line with nothing left after its noise: %r", text)
            return None
        text = body
        parts = text.split(self.delimiter)
        if len(parts) != len(self.fields):
            self.stats.bad += 1
            logger.debug("line with %d fields, want %d: %r", len(parts), len(self.fields), text)
            return None
        values = dict(zip(self.fields, parts, strict=True))
        confidence = _confidence(values["confidence"], self.confidence_scale)
        device_time = values.get("time", "").strip()
        camera = values.get("camera", "").strip()
        if (
            confidence is None
            or ("time" in values and not _valid_time(device_time))
            or ("camera" in values and not _valid_camera(camera))
        ):
            self.stats.bad += 1
            logger.debug("malformed line: %r", text)
            return None
        return _read_from(self.stats, values["plate"], confidence, camera, device_time)

    def encode(
        self,
        plate: str,
        confidence: float,
        camera: str,
        when: datetime,
        *,
        corrupt: bool = False,
    ) -> bytes:
        value = _clean_confidence(confidence) * self.confidence_scale
        conf_text = f"{value:.0f}" if self.confidence_scale >= 10 else f"{value:.3f}"
        if corrupt:
            conf_text = conf_text + "x"  # a line damaged in transit: not a number any more
        values = {
            "plate": plate,
            "confidence": conf_text,
            "time": when.strftime("%Y-%m-%dT%H:%M:%S"),
            "camera": camera,
            "skip": "",
        }
        line = self.delimiter.join(values[f] for f in self.fields)
        return line.encode("utf-8") + b"\r\n"


# -- framed ------------------------------------------------------------------------------

STX = 0x02
ETX = 0x03
_HEX2 = re.compile(rb"[0-9A-Fa-f]{2}")


def xor8(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


class FramedProtocol:
    """``STX plate|confidence|time|camera ETX HH``.

    The body is UTF-8 with ``|`` between the fields: the plate (empty when the vehicle was
    seen but not read), the confidence as an integer 0-100, the device time as
    ``YYYYMMDDhhmmss``, the camera id. ``HH`` is the XOR of every body byte (between STX
    and ETX, both excluded) as two hex digits. Bytes between frames (CR LF, noise) are
    skipped; an STX inside a frame starts a new frame (the first was truncated).
    """

    name: str = "framed"

    def __init__(self, *, max_body: int = 256) -> None:
        if not 16 <= max_body <= 65_536:
            raise ProtocolConfigError(f"max_body must be 16-65536, got {max_body!r}")
        self.max_body = max_body
        self.stats = ParserStats()
        self._buf = bytearray()

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[ParsedRead]:
        self._buf += data
        return self._drain()

    def idle(self) -> list[ParsedRead]:
        if self._buf:
            # a frame that never finished: drop its STX and look again at what followed
            self.stats.bad += 1
            del self._buf[:1]
            return self._drain()
        return []

    def _drain(self) -> list[ParsedRead]:
        out: list[ParsedRead] = []
        buf = self._buf
        while buf:
            start = buf.find(STX)
            if start < 0:
                self.stats.noise_bytes += len(buf)
                buf.clear()
                break
            if start:
                self.stats.noise_bytes += start
                del buf[:start]
            end = buf.find(ETX, 1)
            restart = buf.find(STX, 1)
            if restart != -1 and (end == -1 or restart < end):
                self.stats.bad += 1  # truncated frame: a new one began
                del buf[:restart]
                continue
            if end == -1:
                if len(buf) - 1 > self.max_body:
                    logger.warning("dropping a frame over %d bytes with no ETX", self.max_body)
                    self.stats.oversize += 1
                    self.stats.noise_bytes += len(buf)
                    buf.clear()
                break
            if end - 1 > self.max_body:
                self.stats.oversize += 1
                self.stats.noise_bytes += end + 1
                del buf[: end + 1]
                continue
            if len(buf) < end + 3:
                break  # the checksum has not arrived yet
            check = bytes(buf[end + 1 : end + 3])
            if STX in check:
                self.stats.bad += 1
                del buf[: end + 1 + check.index(STX)]
                continue
            body = bytes(buf[1:end])
            del buf[: end + 3]
            read = self._frame(body, check)
            if read is not None:
                out.append(read)
        return out

    def _frame(self, body: bytes, check: bytes) -> ParsedRead | None:
        # two hex digits and nothing else: int(..., 16) also takes " 6", "+6" and "6 ",
        # bytes of a damaged frame that then pass for its checksum
        expected = int(check, 16) if _HEX2.fullmatch(check) else -1
        if expected != xor8(body):
            self.stats.bad += 1
            logger.debug("frame checksum %r does not match body %r", check, body)
            return None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            self.stats.bad += 1
            return None
        parts = text.split("|")
        if len(parts) != 4:
            self.stats.bad += 1
            return None
        plate, conf_text, device_time, camera = parts
        confidence = _confidence(conf_text, 100.0) if conf_text.strip().isdigit() else None
        if (
            confidence is None
            or not _COMPACT_TIME.match(device_time)
            or not _valid_time(device_time)
            or not _valid_camera(camera)
        ):
            self.stats.bad += 1
            return None
        return _read_from(self.stats, plate, confidence, camera, device_time)

    def encode(
        self,
        plate: str,
        confidence: float,
        camera: str,
        when: datetime,
        *,
        corrupt: bool = False,
    ) -> bytes:
        conf = round(_clean_confidence(confidence) * 100)
        body = f"{plate}|{conf}|{when.strftime('%Y%m%d%H%M%S')}|{camera}".encode()
        check = xor8(body) ^ (0x5A if corrupt else 0)
        return bytes([STX]) + body + bytes([ETX]) + f"{check:02X}".encode() + b"\r\n"


# -- Nedap ANPR "protocolled" ------------------------------------------------------------

NEDAP_OPEN = 0x89ABCDEF
NEDAP_CLOSE = 0x12345678


class NedapProtocol:
    """The Nedap ANPR camera's RS485 "PROTOCOLLED" message format.

    ``89 AB CD EF | ID (4) | LEN (4) | DATA (LEN) | XOR (1) | 12 34 56 78``: the integers
    are unsigned 32-bit, big-endian unless ``byteorder="little"`` (the manual does not say);
    XOR is the XOR of every byte before it, open code included. DATA is the camera's RAW
    message, configured in its Events/Actions "Message" field as
    ``%PLATE_STRING;%OCRSCORE;%DATE;%TIME;%NETBIOSNAME`` (e.g.
    ``AB1234;87;2026-11-22;08-15-30;NEDAP_ANPR1``); an empty plate is an unread. A packet
    repeating the previous message ID is the camera's retry and is dropped. The adapter
    sends no acknowledge: set "Wait ACK" to NO on the camera.
    """

    name: str = "nedap"
    HEADER = 12
    TRAILER = 5

    def __init__(self, *, byteorder: str = "big", max_data: int = 1024) -> None:
        if byteorder not in ("big", "little"):
            raise ProtocolConfigError(
                f"byteorder must be big or little, got {byteorder!r}", key="avrs_bad_byteorder"
            )
        if not 16 <= max_data <= 65_536:
            raise ProtocolConfigError(f"max_data must be 16-65536, got {max_data!r}")
        self.byteorder = byteorder
        self.max_data = max_data
        self._int = struct.Struct(">I" if byteorder == "big" else "<I")
        self._open = self._int.pack(NEDAP_OPEN)
        self._close = self._int.pack(NEDAP_CLOSE)
        self.stats = ParserStats()
        self._buf = bytearray()
        self._last_id: int | None = None
        self._tx_id = 0

    def reset(self) -> None:
        self._buf.clear()
        self._last_id = None

    def feed(self, data: bytes) -> list[ParsedRead]:
        self._buf += data
        return self._drain()

    def idle(self) -> list[ParsedRead]:
        if self._buf:
            self.stats.bad += 1
            self._skip()
            return self._drain()
        return []

    def _skip(self) -> None:
        """Give up the packet at the front: look again from the byte after its open code."""
        self.stats.noise_bytes += 1
        del self._buf[:1]

    def _drain(self) -> list[ParsedRead]:
        out: list[ParsedRead] = []
        buf = self._buf
        while buf:
            start = buf.find(self._open)
            if start < 0:
                # keep a tail that may be the start of an open code
                keep = _prefix_tail(bytes(buf[-3:]), self._open)
                self.stats.noise_bytes += len(buf) - keep
                del buf[: len(buf) - keep]
                break
            if start:
                self.stats.noise_bytes += start
                del buf[:start]
            if len(buf) < self.HEADER:
                break
            (msg_id,) = self._int.unpack_from(buf, 4)
            (length,) = self._int.unpack_from(buf, 8)
            if length > self.max_data:
                self.stats.oversize += 1
                logger.debug("nedap packet length %d over %d: resync", length, self.max_data)
                self._skip()
                continue
            total = self.HEADER + length + self.TRAILER
            if len(buf) < total:
                break
            packet = bytes(buf[:total])
            if packet[-4:] != self._close or xor8(packet[:-5]) != packet[-5]:
                self.stats.bad += 1
                logger.debug("nedap packet %d: bad XOR or close code", msg_id)
                self._skip()
                continue
            del buf[:total]
            if msg_id == self._last_id:
                self.stats.duplicates += 1
                continue
            self._last_id = msg_id
            read = self._data(packet[self.HEADER : self.HEADER + length])
            if read is not None:
                out.append(read)
        return out

    def _data(self, data: bytes) -> ParsedRead | None:
        try:
            text = data.rstrip(b"\x00\r\n").decode("utf-8")
        except UnicodeDecodeError:
            self.stats.bad += 1
            return None
        parts = text.split(";")
        if len(parts) != 5:
            self.stats.bad += 1
            return None
        plate, score, date, clock, camera = parts
        confidence = _confidence(score, 100.0) if score.strip().isdigit() else None
        device_time = f"{date}T{clock.replace('-', ':')}"
        if confidence is None or not _valid_time(device_time) or not _valid_camera(camera):
            self.stats.bad += 1
            return None
        return _read_from(self.stats, plate, confidence, camera, device_time)

    def encode(
        self,
        plate: str,
        confidence: float,
        camera: str,
        when: datetime,
        *,
        corrupt: bool = False,
    ) -> bytes:
        self._tx_id = self._tx_id % 0xFFFFFFFF + 1
        score = round(_clean_confidence(confidence) * 100)
        data = (
            f"{plate};{score};{when.strftime('%Y-%m-%d')};{when.strftime('%H-%M-%S')};{camera}"
        ).encode()
        head = self._open + self._int.pack(self._tx_id) + self._int.pack(len(data)) + data
        check = xor8(head) ^ (0x5A if corrupt else 0)
        return head + bytes([check]) + self._close


def _prefix_tail(tail: bytes, code: bytes) -> int:
    """Length of the longest end of ``tail`` that begins ``code``."""
    for size in range(min(len(tail), len(code) - 1), 0, -1):
        if code.startswith(tail[-size:]):
            return size
    return 0


PROTOCOLS: dict[str, type[DelimitedProtocol] | type[FramedProtocol] | type[NedapProtocol]] = {
    DelimitedProtocol.name: DelimitedProtocol,
    FramedProtocol.name: FramedProtocol,
    NedapProtocol.name: NedapProtocol,
}


def make_protocol(name: str, **options: Any) -> LprProtocol:
    """A fresh parser for ``name`` (``delimited``, ``framed``, ``nedap``) with its options."""
    cls = PROTOCOLS.get(name)
    if cls is None:
        raise UnknownProtocol(
            f"unknown LPR protocol {name!r}; known: {', '.join(sorted(PROTOCOLS))}",
            name=name,
            known=sorted(PROTOCOLS),
        )
    try:
        return cls(**options)
    except TypeError as err:
        raise ProtocolConfigError(
            f"bad options for protocol {name!r}: {err}", key="avrs_bad_protocol_options"
        ) from err
