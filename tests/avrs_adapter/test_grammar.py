from __future__ import annotations

import numpy as np
import pytest

from avrs_adapter.grammar import PlateText, parse, plates, primary_and_alternates
from avrs_adapter.ocr import TextLine
from avrs_adapter.plate_finder import Candidate
from avrs_adapter.plate_reader import read_plates


@pytest.mark.parametrize(
    ("text", "vrn"),
    [
        ("AB 1234", "AB1234"),
        ("ab-1234", "AB1234"),
        ("ＡＢ１２３", "AB123"),  # full-width forms
        ("XC8", "XC8"),
        ("8C 123", "BC123"),  # a digit where a letter belongs
        ("AB 12O4", "AB1204"),  # O where a digit belongs is 0
        ("KM 5B78", "KM5878"),
        ("AB12345", "AB12345"),  # no standard form: a personalised plate, folded
        ("AO 123", "A0123"),  # the design: a read O is 0
    ],
)
def test_hk_plates_fold_to_the_grammar(text: str, vrn: str) -> None:
    plate = parse(text, "hk", 0.95)
    assert plate is not None
    assert (plate.vrn, plate.kind, plate.raw) == (vrn, "hk", text)


@pytest.mark.parametrize(
    ("text", "vrn", "trusted"),
    [
        # the recogniser's grouping says personalised: not split and folded into a
        # standard plate (GAS 123 was published as GA5123 at 0.958: found in review)
        ("GAS 123", "GAS123", True),
        ("BUS 1", "BUS1", True),
        ("7AB 123", "7AB123", True),
        # a space read inside the digits: the standard plate as printed, nothing folded
        ("AB12 34", "AB1234", True),
        # no grouping, a plate as printed and another folded: not trusted either way
        ("GAS123", "GA5123", False),
        ("2A1ZSB", "ZA1258", False),
        # grouping that agrees with the fold, or a fold the VRN rules make anyway
        ("8C 123", "BC123", True),
        ("AB12O4", "AB1204", True),
        ("AB1234", "AB1234", True),
    ],
)
def test_a_fold_never_makes_a_sure_read_of_another_plate(
    text: str, vrn: str, trusted: bool
) -> None:
    plate = parse(text, "hk", 0.99)
    assert plate is not None
    assert plate.vrn == vrn
    assert (plate.confidence >= 0.8) is trusted  # the lanes' default threshold


@pytest.mark.parametrize(
    "text",
    ["", "E", "L", "780", "ZL", "HKL0GISTICS", "三口", "AB 1234 5678", "AB#12", "电2-6Z58港"],
)
def test_junk_and_fragments_are_rejected(text: str) -> None:
    assert parse(text, "hk", 0.99) is None


@pytest.mark.parametrize("text", ["ſT1234", "ıK1234", "KßE12", "ﬁ1234", "ＡＢ1ſ4"])
def test_letters_that_only_look_like_ascii_are_junk(text: str) -> None:
    # str.upper() and NFKC made plate letters of them: ST1234, 1K1234, KSSE12, F11234
    for grammar in ("hk", "any"):
        assert parse(text, grammar, 0.99) is None, grammar
    assert parse("ａｂ　１２３", "hk", 0.95) == PlateText("AB123", "ａｂ　１２３", "hk", 0.95)


def test_folding_costs_confidence_and_personalised_needs_a_sure_read() -> None:
    exact = parse("BC 123", "hk", 0.95)
    folded = parse("8C 123", "hk", 0.95)
    assert exact is not None
    assert folded is not None
    assert folded.confidence < exact.confidence
    assert parse("AB12345", "hk", 0.6) is None  # not standard, not sure: junk


@pytest.mark.parametrize(
    ("text", "vrn", "confidence"),
    [
        ("粤Z·F023港", "粤ZF023港", 0.9),
        ("粵Z-F023澳", "粤ZF023澳", 0.9),  # traditional 粵
        ("三粤Z·KKPV港", "粤ZKKPV港", 0.9),  # grille read as 三 before it
        ("粤ZF02O港", "粤ZF020港", 0.9),  # O folded to 0
        ("Z·F023港", "粤ZF023港", 0.81),  # the 粤 lost: less sure
    ],
)
def test_mainland_cross_boundary_plates(text: str, vrn: str, confidence: float) -> None:
    for grammar in ("hk", "any"):
        plate = parse(text, grammar, 0.9)
        assert plate == PlateText(vrn, text, "mainland", confidence)


def test_any_grammar_keeps_letters_as_printed() -> None:
    assert parse("WOLF 99", "any", 0.9) == PlateText("WOLF99", "WOLF 99", "foreign", 0.9)
    hk = parse("WOLF 99", "hk", 0.9)
    assert hk is not None
    assert hk.vrn == "W0LF99"
    assert parse("TOOLONG123", "any", 0.9) is None
    assert parse("粤", "any", 0.9) is None


def test_unknown_grammar_is_an_error() -> None:
    with pytest.raises(ValueError, match="grammar"):
        parse("AB 1234", "klingon")  # type: ignore[arg-type]


def test_dual_plate_truck_reports_hk_first_and_mainland_as_alternate() -> None:
    found = plates([("粤Z·F023港", 0.99), ("AB 1234", 0.9), ("AB 1234", 0.97), ("三口", 0.8)])
    assert [p.vrn for p in found] == ["粤ZF023港", "AB1234"]  # best first, each once
    assert found[1].confidence == 0.97
    primary, others = primary_and_alternates(found)
    assert primary is not None
    assert primary.vrn == "AB1234"
    assert [p.vrn for p in others] == ["粤ZF023港"]
    only_mainland, rest = primary_and_alternates(plates([("粤Z·F023港", 0.9)]))
    assert only_mainland is not None
    assert only_mainland.kind == "mainland"
    assert rest == []
    assert primary_and_alternates([]) == (None, [])


def test_a_space_read_inside_the_digits_keeps_the_full_score() -> None:
    """Nothing folded, a standard plate as printed: its full score, and a read at 0.84
    is still one (the personalised way it was 0.95 of it, and under 0.85 none)."""
    assert parse("AB12 34", "hk", 0.99) == PlateText("AB1234", "AB12 34", "hk", 0.99)
    assert parse("AB1 234", "hk", 0.84) == PlateText("AB1234", "AB1 234", "hk", 0.84)


def test_one_plate_read_two_ways_in_a_frame_is_unsure() -> None:
    """The finder's crop read AB1234 at 0.93, the wider crop AB1284 at 0.70: the frame
    disagrees with itself, and each plate is rated by its share of the two (before, the
    read went out at 0.93, a release on AB1234's bundle for the truck AB1284). The order
    stays; another kind (the Mainland plate) and plates further apart are not rivals."""
    found = plates([("AB 1234", 0.93), ("AB 1284", 0.70), ("粤Z·1234港", 0.9), ("KL 9876", 0.9)])
    rated = {p.vrn: p.confidence for p in found}
    assert rated == {
        "AB1234": round(0.93 * 0.93 / 1.63, 4),
        "AB1284": round(0.70 * 0.70 / 1.63, 4),
        "粤Z1234港": 0.9,
        "KL9876": 0.9,
    }
    primary, _ = primary_and_alternates(found)
    assert primary is not None
    assert primary.vrn == "KL9876"
    primary, others = primary_and_alternates(plates([("AB 1234", 0.93), ("AB 1284", 0.70)]))
    assert primary is not None
    assert (primary.vrn, primary.confidence < 0.8) == ("AB1234", True)
    assert [p.vrn for p in others] == ["AB1284"]
    # a letter lost is a rival too; the same plate read twice is not
    assert plates([("AB 1234", 0.9), ("A 1234", 0.9)])[0].confidence == 0.45
    assert plates([("AB 1234", 0.9), ("AB1234", 0.8)])[0].confidence == 0.9


def test_a_plate_and_the_same_with_an_end_character_more_are_rivals() -> None:
    """``AB123`` and ``AB1231`` in one frame: the tight crop clipped the plate's edge, or
    the wider crop read a bolt as one more character; the frame cannot say which (taken
    as no rivals, the bolt's reading went out sure, the re-review of 2026-12-08)."""
    found = {p.vrn: p.confidence for p in plates([("AB123", 0.88), ("AB1231", 0.92)])}
    assert found == {
        "AB123": round(0.88 * 0.88 / 1.8, 4),
        "AB1231": round(0.92 * 0.92 / 1.8, 4),
    }


class _Engine:
    """The OCR engine's two calls, answering as told (which lines the reader weighs is
    the question here, not what the OCR reads: tests/avrs_adapter/test_stills.py reads
    real stills with the real engine)."""

    def __init__(self, crop: tuple[str, float], wide: list[tuple[str, float]]) -> None:
        self.crop, self.wide = crop, wide

    def recognise(self, lines: list[object]) -> list[tuple[str, float]]:
        return [self.crop for _ in lines]

    def read(self, image: object, *, det_side: int | None = None) -> list[TextLine]:
        return [TextLine(text, score, ()) for text, score in self.wide]


@pytest.mark.parametrize(
    ("crop", "wide", "want"),
    [
        # the wider crop read it surely: it replaces the blurred crop's reading
        (("AB1284", 0.70), [("AB 1234", 0.97)], ("AB1234", 0.97)),
        # both unsure and one character apart: each rated by its share
        (("AB1284", 0.70), [("AB 1234", 0.85)], ("AB1234", round(0.85 * 0.85 / 1.55, 4))),
        # sure the wider way but not clearly better than the crop: a frame that cannot say
        (("AB1234", 0.89), [("AB 1284", 0.91)], ("AB1284", round(0.91 * 0.91 / 1.8, 4))),
    ],
)
def test_an_unsure_crop_read_surely_the_wider_way_is_that_plate(
    crop: tuple[str, float], wide: list[tuple[str, float]], want: tuple[str, float]
) -> None:
    frame = np.random.default_rng(1).integers(0, 255, (200, 400, 3), dtype=np.uint8)
    candidate = Candidate(center=(200.0, 100.0), size=(120.0, 30.0), angle=0.0, score=1.0)
    read = read_plates(frame, _Engine(crop, wide), candidates=[candidate])  # type: ignore[arg-type]
    primary, _ = primary_and_alternates(read.plates)
    assert primary is not None
    assert (primary.vrn, primary.confidence) == want
