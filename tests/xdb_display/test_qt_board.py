"""Every code, every language, both board sizes: painted, fitted, no tofu, right colour.

Writes the screenshots of docs/screenshots/ (xdb_<CODE>_<size>.png, all three languages).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QRect
from pytestqt.qtbot import QtBot

from rocars.messages import InstructionCode, check_bay
from tests.fixtures.displays import make_instruction
from ui_common.app import missing_glyphs, screen_font
from ui_common.i18n import Translations
from ui_common.instruction import FAIL_REASONS, HEADLINES, STYLES
from ui_common.lanewatch import FailReason, Shown, SyncMark
from ui_common.languages import Language
from ui_common.screenshot import colour_share, grab_png
from xdb_display.board import BoardState, LanguageMode, board_state
from xdb_display.qt_app import xdb_translations
from xdb_display.qt_board import BoardWidget

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SIZES = [(1920, 1080), (1280, 720)]
NOW = datetime(2026, 11, 21, 6, 30, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def translations(qapp: object) -> Iterator[Translations]:
    t = xdb_translations()
    yield t
    t.close()


@pytest.fixture
def board(qtbot: QtBot, translations: Translations) -> BoardWidget:
    widget = BoardWidget(translations, "L01")
    qtbot.addWidget(widget)
    return widget


def state_for(
    code: InstructionCode, mode: LanguageMode = LanguageMode.ALL, now: datetime = NOW
) -> BoardState:
    fields: dict[str, object] = {"vrn": "AB1234"}
    if code is InstructionCode.INSPECT:
        fields["bay"] = "B12"
    if code is InstructionCode.TOO_EARLY:
        fields["earliest_at"] = NOW + timedelta(minutes=25)
    instruction = make_instruction(code, 1, **fields)  # type: ignore[arg-type]
    return board_state(Shown(code, instruction, None, SyncMark.CENTRAL_UP), now, mode)


def paint(board: BoardWidget, qtbot: QtBot, state: BoardState, size: tuple[int, int]) -> None:
    board.resize(*size)
    board.set_state(state)
    board.show()
    before = board.paint_count
    board.repaint()
    qtbot.waitUntil(lambda: board.paint_count > before, timeout=3000)


def check_drawn(board: BoardWidget) -> None:
    """Nothing clipped, nothing outside the board, no empty boxes for any glyph."""
    area = QRect(0, 0, board.width(), board.height())
    assert board.drawn
    for drawn in board.drawn:
        assert not drawn.clipped, f"{drawn.text!r} needs {drawn.needed} in {drawn.box}"
        assert area.contains(drawn.box), f"{drawn.text!r} box {drawn.box} is off the board"
        assert missing_glyphs(drawn.text, drawn.font) == [], f"tofu in {drawn.text!r}"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("code", list(InstructionCode))
def test_every_code_all_languages(
    board: BoardWidget,
    qtbot: QtBot,
    translations: Translations,
    code: InstructionCode,
    size: tuple[int, int],
) -> None:
    paint(board, qtbot, state_for(code), size)
    check_drawn(board)
    texts = [d.text for d in board.drawn]
    for lang in Language:
        headline = translations.text(lang, "Instruction", HEADLINES[code])
        assert headline in texts, f"{lang} headline {headline!r} not on the board"
    # the big words are big: a headline is at least 1/14 of the board's height
    heads = [
        d
        for d in board.drawn
        if d.text in {translations.text(lg, "Instruction", HEADLINES[code]) for lg in Language}
    ]
    assert min(d.font.pixelSize() for d in heads) >= size[1] // 14
    if code is InstructionCode.INSPECT:
        assert "B12" in texts
    if code is InstructionCode.TOO_EARLY:
        assert "14:56" in texts
    assert "14:30:15" in texts
    image = grab_png(board, SHOTS / f"xdb_{code}_{size[0]}x{size[1]}.png")
    assert (image.width(), image.height()) == size
    assert colour_share(image, STYLES[code].background) > 0.35


@pytest.mark.parametrize("code", list(InstructionCode))
def test_cycle_mode_each_language_alone(
    board: BoardWidget, qtbot: QtBot, translations: Translations, code: InstructionCode
) -> None:
    seen: set[Language] = set()
    for i in range(3):
        state = state_for(code, LanguageMode.CYCLE, NOW + timedelta(seconds=4 * i + 1))
        assert len(state.languages) == 1
        lang = state.languages[0]
        seen.add(lang)
        paint(board, qtbot, state, (1280, 720))
        check_drawn(board)
        texts = [d.text for d in board.drawn]
        assert translations.text(lang, "Instruction", HEADLINES[code]) in texts
        others = {
            translations.text(o, "Instruction", HEADLINES[code]) for o in Language if o is not lang
        }
        assert not others & set(texts) - {translations.text(lang, "Instruction", HEADLINES[code])}
        grab_png(board, SHOTS / f"xdb_{code}_cycle_{lang}_1280x720.png")
    assert seen == set(Language)


@pytest.mark.parametrize("reason", list(FailReason))
def test_fail_closed_board_says_why(
    board: BoardWidget, qtbot: QtBot, translations: Translations, reason: FailReason
) -> None:
    state = board_state(
        Shown(InstructionCode.STOP_SEE_OFFICER, None, reason, SyncMark.CONTROLLER_LOST), NOW
    )
    paint(board, qtbot, state, (1280, 720))
    check_drawn(board)
    joined = " ".join(d.text for d in board.drawn)
    assert "AB1234" not in joined
    assert "停車" in joined
    assert "STOP" in joined
    assert "停车" in joined
    for lang in Language:  # the engineer at the lane reads why, in every language
        assert translations.text(lang, "Instruction", FAIL_REASONS[reason]) in joined
    if reason in (FailReason.NO_HEARTBEAT, FailReason.INSTRUCTION_UNREADABLE):
        grab_png(board, SHOTS / f"xdb_STOP_{reason}_1280x720.png")


def test_each_fail_reason_has_its_own_words() -> None:
    # an unreadable instruction is not a wait that ends by itself: it must not read as one
    assert len(set(FAIL_REASONS.values())) == len(FailReason)


def bay_characters() -> str:
    """Every character ``check_bay`` lets stand in a bay (after an ASCII letter, for the
    accents that need one), from the whole of Unicode's first three planes."""
    allowed = []
    for code in range(0x20, 0x30000):
        try:
            check_bay("a" + chr(code))
        except ValueError:
            continue
        allowed.append(chr(code))
    return "".join(allowed)


def test_every_character_a_bay_may_hold_is_in_the_board_fonts(qapp: object) -> None:
    """The bay rule is the displays' promise: no character it lets through is drawn as
    an empty box, in any language's font."""
    characters = bay_characters()
    assert {"B", "1", "-", " ", "查", "驗", "區", "（", "\u0301"} <= set(characters)
    for language in Language:
        font = screen_font(language, 100)
        assert missing_glyphs(characters, font) == [], language


def test_warm_up_paints_every_code_offscreen(board: BoardWidget, qtbot: QtBot) -> None:
    state = state_for(InstructionCode.PROCEED)
    paint(board, qtbot, state, (1280, 720))
    expected = len(board.warm_states())
    assert expected == len(InstructionCode) + len(FailReason) + 3
    shown = [(d.text, d.box) for d in board.drawn]
    assert any("PROCEED" in text for text, _ in shown), shown
    qtbot.waitUntil(lambda: board.warmed >= expected, timeout=20000)
    assert board.state == state  # warming never touches what is shown ...
    # ... nor the record of what was painted on the glass
    assert [(d.text, d.box) for d in board.drawn] == shown


def test_long_plate_and_small_board_still_fit(board: BoardWidget, qtbot: QtBot) -> None:
    state = state_for(InstructionCode.WRONG_CONTROL_POINT)
    paint(board, qtbot, state, (800, 450))
    check_drawn(board)
