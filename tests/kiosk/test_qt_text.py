"""Translations: complete, compiled, and every message key the kiosk can show is in them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiosk.batch import MAX_ROWS, BatchFileError, read_batch
from kiosk.qt_app import CATALOGUE
from kiosk.qt_text import MESSAGE_KEYS, message
from kiosk.session import Notice
from tests.kiosk.batch_files import write_formatted_xlsx
from ui_common.i18n import Translations
from ui_common.languages import Language
from ui_common.linguist import ROOT, compile_ts, extract, problems, ts_path

KIOSK = ROOT / "kiosk"
#: What the centre and the local API answer a kiosk with (docs/central.md, sync/local_api.py).
API_KEYS = {
    "central_unavailable", "validation_error", "payload_too_large", "credentials_invalid",
    "security_code_invalid", "security_code_used", "account_locked", "too_many_attempts", "cert_expired", "cert_revoked", "cert_untrusted", "cert_not_for_signing",
    "cert_signature_invalid", "cert_signature_stale", "cert_signature_used", "cert_account_mismatch", "ccrn_not_found",
    "ubr_not_found", "cargo_bundled", "ccrn_already_bundled", "ccrn_not_in_bundle",
    "ccrn_direction_mismatch", "ccrn_vrn_mismatch", "bundle_not_active", "bundle_not_yours",
    "expected_date_out_of_window", "ccrn_invalid", "ubr_invalid", "vrn_invalid",
}  # fmt: skip


def test_every_string_has_a_finished_translation_in_all_three() -> None:
    assert len(extract(KIOSK)) > 150
    assert problems(KIOSK) == []


@pytest.mark.parametrize("language", list(Language))
def test_committed_qm_is_current(language: Language, tmp_path: Path) -> None:
    ts = ts_path(KIOSK, language)
    fresh = tmp_path / "fresh.qm"
    compile_ts(ts, fresh)
    assert fresh.read_bytes() == ts.with_suffix(".qm").read_bytes()


def test_every_key_the_kiosk_raises_is_translated() -> None:
    raised: set[str] = set(API_KEYS)
    for path in KIOSK.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        raised |= set(re.findall(r'_tell\(\s*"([a-z_]+)"', text))
        raised |= set(re.findall(r'key="([a-z_]+)"', text))
        raised |= set(re.findall(r'Notice\(\s*"([a-z_]+)"', text))
    assert raised - set(MESSAGE_KEYS) == set()


def test_messages_fill_placeholders_and_unknown_keys_still_say_something(qapp: object) -> None:
    translations = Translations([CATALOGUE], Language.EN)
    try:
        assert message(Notice("ccrn_not_found", {"ccrn": "1001041258"})) == (
            "CCRN 1001041258 is not known to ROCARS. Please check the number."
        )
        assert "{" not in message(Notice("account_locked"))  # a missing value stays empty
        assert "brand_new_key" in message(Notice("brand_new_key"))
        translations.set_language(Language.ZH_CN)
        assert message(Notice("cert_revoked")) == "此证书已被撤销，不能使用。"
    finally:
        translations.close()


def test_a_key_translation_must_keep_the_english_placeholders(tmp_path: Path) -> None:
    from ui_common.linguist import Entry, write_ts

    pkg = tmp_path / "demo"
    (pkg / "i18n").mkdir(parents=True)
    (pkg / "x.py").write_text('QT_TRANSLATE_NOOP("Messages", "ccrn_not_found")\n')
    texts = {
        Language.EN: "CCRN {ccrn} is not known",
        Language.ZH_TW: "沒有 CCRN {ccrn}",
        Language.ZH_CN: "没有 CCRN",  # lost its placeholder
    }
    for lang, text in texts.items():
        write_ts(ts_path(pkg, lang), lang, {("Messages", "ccrn_not_found"): Entry(text, True)})
    found = problems(pkg)
    assert len(found) == 1
    assert "zh_CN" in found[0]
    assert "changes placeholders" in found[0]


def test_a_write_that_may_have_been_done_is_told_to_check_first(qapp: object) -> None:
    """503 central_unavailable with maybe_applied: not "try again later" (a second CCRN)."""
    translations = Translations([CATALOGUE], Language.EN)
    try:
        for lang in Language:
            translations.set_language(lang)
            maybe = message(Notice("central_unavailable_maybe_applied"))
            assert maybe != message(Notice("central_unavailable")), lang
            assert maybe != "central_unavailable_maybe_applied", lang
        translations.set_language(Language.EN)
        maybe = message(Notice("central_unavailable_maybe_applied"))
        assert "may already be done" in maybe
        assert "try again later" not in maybe
    finally:
        translations.close()


def test_a_number_the_copy_does_not_know_says_the_centre_is_down(qapp: object) -> None:
    """A 404 from the control point's copy (the centre down) is not "check the number"."""
    cases = [
        ("ubr_not_found", "ubr", "9999999999"),
        ("ccrn_not_found", "ccrn", "1999999999"),
    ]
    translations = Translations([CATALOGUE], Language.EN)
    try:
        for lang in Language:
            translations.set_language(lang)
            for key, name, number in cases:
                plain = message(Notice(key, {name: number}))
                stale = message(Notice(f"{key}_stale", {name: number, "time": "2026-11-21 14:30"}))
                never = message(Notice(f"{key}_never_synced", {name: number}))
                for text in (stale, never):
                    assert number in text, (lang, text)
                    assert text not in (plain, f"{key}_stale", f"{key}_never_synced"), lang
                assert "2026-11-21 14:30" in stale, lang
        translations.set_language(Language.EN)
        stale = message(Notice("ubr_not_found_stale", {"ubr": "9999999999", "time": "14:30"}))
        assert "cannot be reached" in stale
        assert "check the number" not in stale
        translations.set_language(Language.ZH_TW)
        stale = message(Notice("ccrn_not_found_stale", {"ccrn": "1999999999", "time": "14:30"}))
        assert "香港時間 14:30" in stale
        assert "未能連接" in stale
    finally:
        translations.close()


def test_a_file_too_complex_is_told_what_to_do_not_that_it_is_too_large(
    qapp: object, tmp_path: Path
) -> None:
    """A small .xlsx past a count bound, as the kiosk reads it: its own message in each
    language, with the row limit filled in, not the byte limit it is well within."""
    write_formatted_xlsx(tmp_path / "wide.xlsx", [])
    with pytest.raises(BatchFileError) as refused:
        read_batch(tmp_path / "wide.xlsx", datetime(2026, 11, 21, 20, 0, tzinfo=UTC))
    notice = Notice.from_error(refused.value)
    translations = Translations([CATALOGUE], Language.EN)
    try:
        for lang in Language:
            translations.set_language(lang)
            text = message(notice)
            too_large = message(Notice("batch_too_large", {"max_kb": "1024"}))
            assert text not in ("batch_too_complex", too_large), lang
            assert str(MAX_ROWS) in text, (lang, text)
            assert "CSV UTF-8" in text, (lang, text)
            assert not re.search(r"[{}]|KB|1024", text), (lang, text)
        translations.set_language(Language.EN)
        assert message(notice) == (
            "The file holds more cells, text or formatting than a batch can have (at most"
            " 200 cargo rows). Copy just the cargo rows into a new file, without other sheets"
            " or formatting, or save that sheet as CSV UTF-8, then try again. Nothing was"
            " submitted."
        )
    finally:
        translations.close()
