"""The three languages every screen offers (plain: the view-models use it without Qt)."""

from __future__ import annotations

from enum import StrEnum

from ui_common.errors import UnknownLanguage


class Language(StrEnum):
    """Traditional Chinese (the default at a Hong Kong booth), English, Simplified Chinese."""

    ZH_TW = "zh_TW"
    EN = "en"
    ZH_CN = "zh_CN"

    @property
    def button_label(self) -> str:
        """What the language button says, in its own language (never translated)."""
        return _BUTTON[self]

    @classmethod
    def parse(cls, value: object) -> Language:
        text = str(value).strip().replace("-", "_")
        for lang in cls:
            if lang.value.lower() == text.lower():
                return lang
        raise UnknownLanguage(f"unknown language {value!r}", value=str(value))


_BUTTON = {Language.ZH_TW: "繁", Language.EN: "EN", Language.ZH_CN: "简"}

#: Order in which the board shows or cycles the languages.
ALL_LANGUAGES: tuple[Language, ...] = (Language.ZH_TW, Language.EN, Language.ZH_CN)
