"""OCR text to a plate: fold it to the plate grammar, or reject it as junk.

``hk`` (the default): Hong Kong plates, up to 8 letters and digits, never I, O or Q.
The usual form is two letters then one to four digits (``AB 1234``); OCR confusions are
folded by position (``8`` where a letter belongs is ``B``, ``O`` where a digit belongs
is ``0``). Personalised plates (3–8 letters and digits) are accepted when the
recogniser is sure; fragments ("780", "ZL") and text that is not a plate are rejected. ``any``: letters and digits as printed, for foreign plates.

In both, the Mainland cross-boundary plate ``粤Z·A123港`` (or 澳) is recognised and
normalised with ``rocars.ids.normalize_plate``; a dual-plate truck reports its HK plate
as ``vrn`` and the Mainland one among the alternates.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from rocars.errors import InvalidIdentifier
from rocars.ids import _ASCII_UPPER, is_mainland_plate, normalize_plate, normalize_vrn

Grammar = Literal["hk", "any"]
GRAMMARS: tuple[Grammar, ...] = ("hk", "any")
Kind = Literal["hk", "mainland", "foreign"]

# where a letter belongs, a digit the recogniser confused with it
_AS_LETTER = str.maketrans({"8": "B", "5": "S", "2": "Z", "6": "G", "4": "A", "7": "T", "0": "D"})
# where a digit belongs, a letter the recogniser confused with it
_AS_DIGIT = str.maketrans(
    {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "J": "1", "T": "7", "Z": "2",
     "S": "5", "B": "8", "G": "6", "A": "4"}
)  # fmt: skip
_HK_LETTER = re.compile(r"^[A-HJ-NPR-Z]$")
_STANDARD = re.compile(r"^([A-HJ-NPR-Z]{1,2})([1-9][0-9]{0,3})$")
_MAINLAND = re.compile(r"(粤)?\s*Z[\s·.\-•・:]*([A-Z0-9]{4})\s*([港澳])")
_SEPARATORS = re.compile(r"[\s·.\-•・_:]+")
_JUNK = re.compile(r"[^A-Z0-9\s·.\-•・_:]")
# Full-width and half-width forms (Ａ, １, the ideographic space, ･) to the characters they
# stand for; NFKC of these only
_WIDTH = {
    cp: unicodedata.normalize("NFKC", chr(cp))
    for cp in (0x3000, *range(0xFF00, 0xFFF0))
    if unicodedata.decomposition(chr(cp)).startswith(("<wide>", "<narrow>"))
}
SUBSTITUTION_PENALTY = 0.04  # confidence lost per character folded by position
#: confidence lost, on top, by a folded reading of text that is a plate as printed (a
#: personalised plate, ``GAS123``) when the recogniser gave no grouping to prefer the
#: fold: which of the two plates the truck has, the text cannot say (found in review:
#: ``GAS123`` read at 0.998 was published as ``GA5123`` at 0.958, another truck's plate)
AMBIGUOUS_FOLD_PENALTY = 0.25
PERSONALISED_MIN_SCORE = 0.85


@dataclass(frozen=True, slots=True)
class PlateText:
    """A plate read: normalised ``vrn``, the text as read, its kind and confidence 0–1."""

    vrn: str
    raw: str
    kind: Kind
    confidence: float


def _clean(text: str) -> str:
    """Upper case, full-width forms to ASCII, traditional 粵 to 粤. Only ASCII letters are
    upper-cased and only width forms folded: ``str.upper`` and NFKC also make ASCII of
    other letters ("ı" is "I", "ß" is "SS", "ſ" is "s", "ﬁ" is "fi"), which would read a
    plate no truck has."""
    return text.translate(_WIDTH).translate(_ASCII_UPPER).replace("粵", "粤").strip()


def parse_mainland(text: str, score: float = 1.0) -> PlateText | None:
    """A 粤Z····港/澳 plate anywhere in ``text`` (junk around it is ignored)."""
    clean = _clean(text)
    match = _MAINLAND.search(clean)
    if match is None:
        return None
    province, body, suffix = match.groups()
    try:
        vrn = normalize_plate(f"粤Z{body}{suffix}")
    except InvalidIdentifier:
        return None
    # a read that lost the 粤 but kept the 港/澳 is still that plate, with less certainty
    confidence = score if province else score * 0.9
    return PlateText(vrn, text, "mainland", round(max(0.0, min(1.0, confidence)), 4))


def _standard(groups: list[str]) -> tuple[str, int] | None:
    """The best ``L{1,2}D{1,4}`` reading of the characters, and how many were folded.

    None when the recogniser's grouping says otherwise: a first group of three or more
    characters before a second (``GAS 123``, ``7AB 123``) is not two letters and digits
    (split anyway and folded by position, ``GAS 123`` became ``GA5123`` at 0.958: found
    in review); such text can only be a personalised plate."""
    compact = "".join(groups)
    splits = range(1, 3)
    if len(groups) == 2 and len(groups[0]) not in splits:
        # as printed, no character changed, it is one (a space read inside the digits,
        # ``AB12 34``): that plate, whatever the grouping
        return (compact, 0) if _STANDARD.match(compact) else None
    if len(groups) == 2:
        order = [len(groups[0])] + [k for k in splits if k != len(groups[0])]
    else:
        order = [2, 1]
    best: tuple[str, int] | None = None
    for k in order:
        letters, digits = compact[:k], compact[k:]
        if not 1 <= len(digits) <= 4:
            continue
        if not any(c.isalpha() for c in letters) or not any(c.isdigit() for c in digits):
            continue  # a part with no real letter (digit) is a fragment: "780" is not "T80"
        fixed = letters.translate(_AS_LETTER) + digits.translate(_AS_DIGIT)
        if not _STANDARD.match(fixed):
            continue
        changes = sum(a != b for a, b in zip(fixed, compact, strict=True))
        if k == 1:
            changes += 1  # one-letter plates are rare: prefer the two-letter reading
        if best is None or changes < best[1]:
            best = (fixed, changes)
    return best


def parse_hk(text: str, score: float = 1.0) -> PlateText | None:
    """A Hong Kong plate, folded to the grammar; None for junk."""
    clean = _clean(text)
    if not clean or _JUNK.search(clean):
        return None
    groups = [g for g in _SEPARATORS.split(clean) if g]
    compact = "".join(groups)
    if not 2 <= len(compact) <= 8:
        return None
    standard = _standard(groups)
    if standard is not None:
        vrn, changes = standard
        confidence = score - SUBSTITUTION_PENALTY * changes
        if changes and len(groups) != 2 and vrn != _as_printed(compact):
            confidence -= AMBIGUOUS_FOLD_PENALTY  # a plate as printed too: which one?
        return PlateText(vrn, text, "hk", round(max(0.0, min(1.0, confidence)), 4))
    # a personalised plate: only when the recogniser is sure, 3+ characters (two letters
    # alone are far more often half of a split plate) and at least one letter
    if (
        score < PERSONALISED_MIN_SCORE
        or len(compact) < 3
        or not any(_HK_LETTER.match(c) for c in compact)
    ):
        return None
    try:
        vrn = normalize_vrn(compact)
    except InvalidIdentifier:
        return None
    return PlateText(vrn, text, "hk", round(max(0.0, min(1.0, score * 0.95)), 4))


def _as_printed(compact: str) -> str | None:
    """``compact`` as a personalised plate would be read (3+ characters, an HK letter
    among them, the VRN rules' own folding), or None if it cannot be one."""
    if len(compact) < 3 or not any(_HK_LETTER.match(c) for c in compact):
        return None
    try:
        return normalize_vrn(compact)
    except InvalidIdentifier:
        return None


def parse_any(text: str, score: float = 1.0) -> PlateText | None:
    """Letters and digits as printed (2–8 of them), for foreign plates."""
    clean = _clean(text)
    if not clean or _JUNK.search(clean):
        return None
    compact = _SEPARATORS.sub("", clean)
    if not 2 <= len(compact) <= 8 or not compact.isalnum() or not compact.isascii():
        return None
    return PlateText(compact, text, "foreign", round(max(0.0, min(1.0, score)), 4))


def parse(text: str, grammar: Grammar = "hk", score: float = 1.0) -> PlateText | None:
    """One OCR line to a plate under ``grammar`` (Mainland plates in both), or None."""
    if grammar not in GRAMMARS:
        raise ValueError(f"grammar must be one of {GRAMMARS}, got {grammar!r}")
    mainland = parse_mainland(text, score)
    if mainland is not None:
        return mainland
    return parse_hk(text, score) if grammar == "hk" else parse_any(text, score)


def one_char_off(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by one substitution, insertion or deletion."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def torn_from(a: str, b: str) -> bool:
    """True when ``a`` is ``b`` with one run of two or more characters lost (``TT99`` of
    ``TT8899``, ``34`` of ``AB1234``): what a serial frame that lost bytes whose XOR is
    zero reads as (docs/avrs.md, ``framed``)."""
    if len(a) > len(b) - 2 or not a:
        return False
    cut = len(b) - len(a)
    return any(b[:i] + b[i + cut :] == a for i in range(len(a) + 1))


def plates(lines: Iterable[tuple[str, float]], grammar: Grammar = "hk") -> list[PlateText]:
    """Every plate in a set of OCR lines, each vrn once (its best read), best first.

    Plates of a kind one character apart are one plate read two ways (the finder's crop
    and the wider crop of an unsure read disagree): each is rated by its share of the
    group, ``c * c / (c + rivals)``, so the frame says it is unsure (``AB1234`` 0.93 with
    ``AB1284`` 0.70 is 0.53, not 0.93) and the order stays. Two trucks in one frame with
    plates one character apart are rated so too (a STOP, not a release). So is a plate
    and the same with an end character more or less: the tight crop may have clipped
    the plate's edge, or the wider one read a bolt or the frame as one more (``AB123``
    against ``AB1231``); which, the frame cannot say."""
    best: dict[str, PlateText] = {}
    for text, score in lines:
        plate = parse(text, grammar, score)
        if plate is not None and (
            plate.vrn not in best or plate.confidence > best[plate.vrn].confidence
        ):
            best[plate.vrn] = plate
    found = list(best.values())
    weighed = []
    for plate in found:
        rivals = sum(
            p.confidence for p in found if p.kind == plate.kind and one_char_off(p.vrn, plate.vrn)
        )
        if rivals > 0:
            share = plate.confidence / (plate.confidence + rivals)
            plate = replace(plate, confidence=round(plate.confidence * share, 4))
        weighed.append(plate)
    return sorted(weighed, key=lambda p: p.confidence, reverse=True)


def primary_and_alternates(found: list[PlateText]) -> tuple[PlateText | None, list[PlateText]]:
    """The truck's plate (a local one first, else a Mainland one) and the rest, best first."""
    local = [p for p in found if p.kind != "mainland"]
    mainland = [p for p in found if p.kind == "mainland"]
    ordered = sorted(local, key=lambda p: p.confidence, reverse=True) + sorted(
        mainland, key=lambda p: p.confidence, reverse=True
    )
    if not ordered:
        return None, []
    return ordered[0], ordered[1:]


__all__ = [
    "GRAMMARS",
    "Grammar",
    "PlateText",
    "is_mainland_plate",
    "one_char_off",
    "torn_from",
    "parse",
    "parse_any",
    "parse_hk",
    "parse_mainland",
    "plates",
    "primary_and_alternates",
]
