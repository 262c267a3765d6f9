"""Change-feed pages to replica rows, fast.

Loading a million bundles through the full ``rocars.models`` path (Python validators per
identifier, a Python time serializer per field) costs ~50 µs a change, a JSON parser
alone 6-9 µs (a dict and a string object per field). The centre writes each change in
one canonical form (``hardware_sim.store``: compact JSON, the models' field order,
identifiers normalised), so a change in exactly that form is checked and cut out of the
page text by one regular expression: canonical identifiers only (10-digit UBR/CCRN, a
normalised HK plate, a normalised Mainland plate), known enums, RFC 3339 times, strings
without escapes. Every bundle that expression accepts is one the full model accepts
unchanged, and the replica stores its JSON text as it came (``body``). Any other change
(cargo, another key order, escapes, whitespace) is decoded on its own and goes through
the full ``rocars.models.Change``, which normalises it; a change that refuses makes the
whole page malformed, and nothing of it is applied. A page whose frame is not the
centre's (``{"changes":[...],"next":"..."}``) goes through ``ChangePage`` whole.

Every change's ``seq`` is read on either path: a page whose seqs do not rise is
malformed, and ``PageRows`` keeps the first and the last for the puller to check against
the cursors (``sync.puller.check_cursor``): the changes of a page come after the cursor it
was asked with and end at the cursor it gives.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from rocars.models import MAX_CCRNS_PER_BUNDLE, Bundle, Change, ChangePage
from sync.errors import MalformedPage

logger = logging.getLogger(__name__)

_HK_VRN = r"[A-HJ-NPR-Z0-9]{1,8}"
_MAINLAND = r"粤Z[A-HJ-NP-Z0-9]{4}[港澳]"
# RFC 3339 with an offset; a day that does not exist (Feb 30) passes here and fails the
# full model when the lane reads it, which fails closed (STOP_SEE_OFFICER). Years
# 1900-2999 only: an offset can move a time across a year's end, and 9999-12-31 with a
# negative one has no UTC (the full model refuses the change, and so must this path).
_TIME = (
    r'"(?:19|2[0-9])[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]'
    r'(?:\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"'
)
_TEXT16 = r'"[^"\\\x00-\x1f]{0,16}"'
#: One bundle change exactly as the centre writes it. Groups: the seq, the key, then the
#: row: the bundle's JSON text, ubr, vrn, second plate (or None), the CCRNs joined by '","',
#: the status.
_BUNDLE_UPSERT = re.compile(
    r'\{"seq":([1-9][0-9]{0,17}),"kind":"bundle","key":"([0-9]{10})","op":"upsert","bundle":('
    rf'\{{"ubr":"([0-9]{{10}})","vrn":"({_HK_VRN})","second_plate":(?:null|"({_MAINLAND})"),'
    r'"cp":"(?:STK|MKT|LMC|SBC|HZM|HZO|HYW)","direction":"(?:import|export)",'
    rf'"ccrns":\["([0-9]{{10}}(?:","[0-9]{{10}}){{0,{MAX_CCRNS_PER_BUNDLE - 1}}})"\],'
    rf'"bundled_at":{_TIME},"earliest_at":{_TIME},"status":"(active|cancelled|used)",'
    rf'"result":"(?:PROCEED|INSPECT)","bay":(?:null|{_TEXT16}),"updated_at":{_TIME}\}}'
    r")\}"
)
_BUNDLE_DELETE = re.compile(
    r'\{"seq":([1-9][0-9]{0,17}),"kind":"bundle","key":"([0-9]{10})","op":"delete"(?:,"bundle":null)?\}'
)
_HEAD = '{"changes":['
_TAIL = re.compile(
    r'\s*\]\s*,\s*"next"\s*:\s*"([^"\\\x00-\x1f]*)"'
    r'(?:\s*,\s*"mark"\s*:\s*"([0-9a-f]{0,64})")?\s*\}\s*'
)
_SPACE = re.compile(r"\s*")
_DECODER = json.JSONDecoder()

#: A replica row of ``bundles`` in the order the fast path cuts it out of the page: the
#: JSON text, ubr, vrn, second plate, the CCRNs as the inside of a JSON list
#: (``a","b``: ``'["' + ccrns + '"]'`` is the list), the status (``active``...).
BundleRow = tuple[str, str, str, str | None, str, str]
CCRN_SEPARATOR = '","'


@dataclass(slots=True)
class PageRows:
    """One page as the replica writes it (the last change of each key wins)."""

    next: str
    changes: int = 0
    #: the mark of the change ``next`` stands on ("" from a centre that gives none)
    mark: str = ""
    #: the seq of the page's first and last change (0 for an empty page)
    first_seq: int = 0
    last_seq: int = 0
    bundles: dict[str, BundleRow] = field(default_factory=dict)
    dropped_ubrs: set[str] = field(default_factory=set)
    cargo: dict[str, str] = field(default_factory=dict)
    dropped_ccrns: set[str] = field(default_factory=set)

    def follows(self, seq: int) -> None:
        """The next change's ``seq``: MalformedPage unless it comes after the last one."""
        if seq <= self.last_seq:
            raise _not_rising(seq, self.last_seq)
        if not self.first_seq:
            self.first_seq = seq
        self.last_seq = seq

    def put_bundle(self, row: BundleRow) -> None:
        self.dropped_ubrs.discard(row[1])
        self.bundles[row[1]] = row

    def drop_bundle(self, ubr: str) -> None:
        self.bundles.pop(ubr, None)
        self.dropped_ubrs.add(ubr)

    def put_cargo(self, ccrn: str, body: str) -> None:
        self.dropped_ccrns.discard(ccrn)
        self.cargo[ccrn] = body

    def drop_cargo(self, ccrn: str) -> None:
        self.cargo.pop(ccrn, None)
        self.dropped_ccrns.add(ccrn)

    def add_change(self, change: Change) -> None:
        """A change validated by the full model."""
        self.follows(change.seq)
        if change.kind == "bundle":
            if change.op == "delete" or change.bundle is None:
                self.drop_bundle(change.key)
            else:
                self.put_bundle(bundle_row(change.bundle))
        elif change.op == "delete" or change.cargo is None:
            self.drop_cargo(change.key)
        else:
            self.put_cargo(change.cargo.ccrn, change.cargo.model_dump_json())


def bundle_row(bundle: Bundle) -> BundleRow:
    """A validated bundle as a replica row (its canonical JSON as the body)."""
    if not bundle.ubr.isascii():  # the model's \d takes any script's digits; rowids do not
        raise MalformedPage(f"bundle {bundle.ubr!r}: a UBR is 10 ASCII digits", ubr=bundle.ubr)
    return (
        bundle.model_dump_json(),
        bundle.ubr,
        bundle.vrn,
        bundle.second_plate,
        CCRN_SEPARATOR.join(bundle.ccrns),
        bundle.status.value,
    )


def bundle_from_body(body: str) -> Bundle:
    """A replica row's JSON text back to a validated bundle."""
    return Bundle.model_validate_json(body)


def rows_from_changes(changes: list[Change], next_cursor: str, mark: str = "") -> PageRows:
    """Rows from validated models (the general path)."""
    rows = PageRows(next=next_cursor, changes=len(changes), mark=mark)
    for change in changes:
        rows.add_change(change)
    return rows


#: The longest cursor: the centre's seq has at most 18 digits (it refuses a longer one).
_CURSOR_DIGITS = 18


def cursor_seq(cursor: str) -> int:
    """Where a cursor stands in the feed, to order two of them.

    The centre's cursor is its last seq as text (docs/central.md; "" or "0" before the
    first change), so it orders as a number: "10" comes after "9", which as text it does
    not. Anything else cannot be ordered, and a page that ends there is malformed.
    """
    if cursor == "":
        return 0
    if len(cursor) > _CURSOR_DIGITS or not (cursor.isascii() and cursor.isdigit()):
        raise MalformedPage(
            f"{cursor[:40]!r} is not a change-feed cursor (the centre's last seq as text)",
            cursor=cursor[:40],
        )
    return int(cursor)


def parse_page(raw: bytes) -> PageRows:
    """A ``GET /v1/changes`` body to rows; MalformedPage if it does not validate."""
    try:
        return _parse_page(raw)
    except (ValueError, RecursionError) as err:
        # what validation itself does not catch: JSON nested past the recursion limit, a
        # time without an offset that cannot be written back (PydanticSerializationError
        # is a ValueError): a hostile page is a malformed page, never a dead puller
        raise MalformedPage(f"change page cannot be read: {str(err)[:200]}") from err


def _parse_page(raw: bytes) -> PageRows:
    try:
        text = raw.decode()
    except UnicodeDecodeError as err:
        raise MalformedPage(f"change page is not UTF-8: {err}") from err
    if not text.startswith(_HEAD):
        return _slow_page(raw)
    rows = PageRows(next="")
    upsert, delete, decode = _BUNDLE_UPSERT.match, _BUNDLE_DELETE.match, _DECODER.raw_decode
    bundles, dropped = rows.bundles, rows.dropped_ubrs
    pos, count, last = len(_HEAD), 0, 0
    pos = _skip_space(text, pos)
    if text.startswith("]", pos):
        tail = _TAIL.fullmatch(text, pos)
    else:
        while True:
            m = upsert(text, pos)
            if m is not None:  # the hot path: no object but the row's strings
                found = m.groups()
                row: BundleRow = found[2:]  # type: ignore[assignment]
                if (at := int(found[0])) <= last:
                    raise _not_rising(at, last)
                if found[1] != row[1]:
                    raise MalformedPage(
                        f"change {at}: key {found[1]} is not the bundle's own ({row[1]})"
                    )
                last = at
                if dropped:
                    dropped.discard(row[1])
                bundles[row[1]] = row
                pos = m.end()
            elif (m := delete(text, pos)) is not None:
                if (at := int(m.group(1))) <= last:
                    raise _not_rising(at, last)
                last = at
                rows.drop_bundle(m.group(2))
                pos = m.end()
            else:
                rows.last_seq = last
                pos = _one_change(rows, text, pos, decode)
                last = rows.last_seq
            if not rows.first_seq:
                rows.first_seq = last
            count += 1
            if text.startswith(",", pos):
                pos += 1
                continue
            tail = _TAIL.fullmatch(text, pos)
            break
    if tail is None:
        return _slow_page(raw)  # not the centre's frame: the general path says what is wrong
    rows.next = tail.group(1)
    rows.mark = tail.group(2) or ""
    rows.changes = count
    rows.last_seq = last
    return rows


def _not_rising(seq: int, last: int) -> MalformedPage:
    return MalformedPage(
        f"change seq {seq} follows seq {last} in one page: the seqs of a page rise; not applied",
        seq=seq,
    )


def _one_change(rows: PageRows, text: str, pos: int, decode: Any) -> int:
    """A change not in the canonical form: decoded and checked by the full model."""
    try:
        obj, after = decode(text, _skip_space(text, pos))
    except ValueError as err:
        raise MalformedPage(f"change page is not JSON: {err}") from err
    try:
        change = Change.model_validate(obj)
    except ValidationError as err:
        raise MalformedPage(f"change page does not validate: {_problems(err)}") from err
    rows.add_change(change)
    return _skip_space(text, after)


def _skip_space(text: str, pos: int) -> int:
    m = _SPACE.match(text, pos)
    return pos if m is None else m.end()


def _problems(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:5])


def _slow_page(raw: bytes) -> PageRows:
    try:
        page = ChangePage.model_validate_json(raw)
    except ValidationError as err:
        raise MalformedPage(f"change page does not validate: {_problems(err)}") from err
    return rows_from_changes(page.changes, page.next, page.mark)
