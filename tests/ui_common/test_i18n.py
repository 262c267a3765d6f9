"""Catalogues complete, compiled copies current, and the language switched at run time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from ui_common.errors import TranslationError
from ui_common.i18n import UI_COMMON_CATALOGUE, Translations, fill, tr
from ui_common.languages import Language
from ui_common.linguist import ROOT, compile_ts, extract, problems, read_ts, ts_path

PACKAGES = ["ui_common", "xdb_display", "aiop_panel"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_marked_string_has_a_finished_translation(package: str) -> None:
    assert extract(ROOT / package), f"{package} marks no strings at all"
    assert problems(ROOT / package) == []


def test_problems_finds_an_unfinished_translation(tmp_path: Path) -> None:
    pkg = tmp_path / "demo"
    (pkg / "i18n").mkdir(parents=True)
    (pkg / "x.py").write_text('tr("Ctx", "Hello {name}")\ntranslate_noop("Ctx", "Bye")\n')
    from ui_common.linguist import Entry, write_ts

    for lang in Language:
        write_ts(ts_path(pkg, lang), lang, {("Ctx", "Hello {name}"): Entry("你好 {name}", True)})
    write_ts(
        ts_path(pkg, Language.ZH_CN),
        Language.ZH_CN,
        {("Ctx", "Hello {name}"): Entry("你好", True), ("Ctx", "Bye"): Entry("", False)},
    )
    found = problems(pkg)
    assert any("'Bye'" in line and "zh_TW" in line for line in found)
    assert any("changes placeholders" in line for line in found)
    assert any("'Bye'" in line and "zh_CN" in line for line in found)


@pytest.mark.parametrize("package", PACKAGES)
@pytest.mark.parametrize("language", list(Language))
def test_committed_qm_matches_its_ts(package: str, language: Language, tmp_path: Path) -> None:
    ts = ts_path(ROOT / package, language)
    qm = ts.with_suffix(".qm")
    assert qm.exists(), f"{qm} is missing: run python -m ui_common.linguist compile {package}"
    fresh = tmp_path / qm.name
    compile_ts(ts, fresh)
    assert fresh.read_bytes() == qm.read_bytes(), f"{qm} is stale: recompile it"


@pytest.fixture
def translations(qapp: object) -> Iterator[Translations]:
    t = Translations([UI_COMMON_CATALOGUE], Language.ZH_TW)
    yield t
    t.close()


def test_text_in_any_language_without_switching(translations: Translations) -> None:
    assert translations.text(Language.ZH_TW, "Instruction", "PROCEED") == "放行"
    assert translations.text(Language.ZH_CN, "Instruction", "INSPECTION") == "查验"
    assert translations.text(Language.EN, "Instruction", "INSPECTION") == "INSPECTION"
    assert (
        translations.text(Language.ZH_TW, "Instruction", "Go to inspection bay {bay}", bay="B3")
        == "請駛往 B3 號查驗台"
    )
    assert translations.language is Language.ZH_TW


class Relabels(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.label = tr("Instruction", "STOP")
        self.changes = 0

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.LanguageChange:
            self.changes += 1
            self.label = tr("Instruction", "STOP")
        super().changeEvent(event)


def test_switch_language_relabels_widgets(translations: Translations, qtbot: QtBot) -> None:
    widget = Relabels()
    qtbot.addWidget(widget)
    assert widget.label == "停車"
    with qtbot.waitSignal(translations.language_changed, timeout=2000) as blocker:
        translations.set_language(Language.EN)
    assert blocker.args == ["en"]
    qtbot.waitUntil(lambda: widget.label == "STOP", timeout=2000)
    translations.set_language(Language.ZH_CN)
    qtbot.waitUntil(lambda: widget.label == "停车", timeout=2000)
    assert QCoreApplication.translate("Instruction", "PROCEED") == "放行"
    assert widget.changes >= 2


def test_missing_catalogue_is_an_error(qapp: object, tmp_path: Path) -> None:
    with pytest.raises(TranslationError, match="cannot load"):
        Translations([("nothing", tmp_path)])


def test_broken_placeholder_falls_back_to_source() -> None:
    assert fill("往 {bya} 號", {"bay": "B3"}, "Go to bay {bay}") == "Go to bay B3"
    assert fill("no params", {}, "x") == "no params"


def test_unreadable_ts_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.ts"
    bad.write_text("<TS><context>")
    with pytest.raises(TranslationError):
        read_ts(bad)


def test_language_parse() -> None:
    assert Language.parse("zh-tw") is Language.ZH_TW
    assert Language.parse("EN") is Language.EN
    from ui_common.errors import UnknownLanguage

    with pytest.raises(UnknownLanguage):
        Language.parse("fr")
