"""Run-time language switching over Qt Linguist catalogues.

Each app has catalogues ``{name}_{lang}.qm`` (compiled from the ``.ts`` beside them);
``Translations`` loads every one for every language at start-up (a missing file is an
error, not a silent English screen), installs the current language's translators, and
swaps them on ``set_language``: Qt then sends ``QEvent.LanguageChange`` to every
widget, which re-labels itself. ``text`` answers in any language without switching, for
the board that shows all three at once.

Qt's translator list is per process: run one screen app per process (``rocars-edge up``
does), or the language one screen picks would change the others.

Placeholders are ``{name}`` (``str.format``); a translation that breaks them falls back
to the source text rather than crash a screen.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QTranslator, Signal

from ui_common.errors import TranslationError
from ui_common.languages import Language

logger = logging.getLogger(__name__)

#: ui_common's own catalogue (instruction texts, sync marks, fail reasons).
UI_COMMON_CATALOGUE = ("ui_common", Path(__file__).resolve().parent / "i18n")


def fill(text: str, params: dict[str, Any], fallback: str) -> str:
    """``text.format(**params)``; the fallback when a translator broke a placeholder."""
    if not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        logger.warning("translation %r breaks its placeholders; showing the source", text)
        return fallback.format(**params)


class Translations(QObject):
    """The loaded catalogues and the current language.

    Signals:
        language_changed(str): the new language code, after the translators were swapped.
    """

    language_changed = Signal(str)

    def __init__(
        self,
        catalogues: Sequence[tuple[str, Path]],
        language: Language = Language.ZH_TW,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._translators: dict[Language, list[QTranslator]] = {}
        for lang in Language:
            loaded = []
            for name, folder in catalogues:
                translator = QTranslator(self)
                qm = folder / f"{name}_{lang}.qm"
                if not translator.load(str(qm)):
                    raise TranslationError(f"cannot load {qm}", file=str(qm))
                loaded.append(translator)
            self._translators[lang] = loaded
        self._language = language
        self._installed: list[QTranslator] = []
        self._install(language)

    @property
    def language(self) -> Language:
        return self._language

    def set_language(self, language: Language) -> None:
        if language is self._language:
            return
        self._install(language)
        self._language = language
        self.language_changed.emit(str(language))

    def close(self) -> None:
        """Remove the installed translators (tests create several instances)."""
        for translator in self._installed:
            QCoreApplication.removeTranslator(translator)
        self._installed = []

    def text(self, language: Language, context: str, source: str, **params: Any) -> str:
        """``source`` in ``language``, whatever language is installed."""
        for translator in self._translators[language]:
            found = translator.translate(context, source)
            if found:
                return fill(found, params, source)
        return fill(source, params, source)

    def _install(self, language: Language) -> None:
        self.close()
        for translator in self._translators[language]:
            QCoreApplication.installTranslator(translator)
        self._installed = list(self._translators[language])


def translate_noop(context: str, source: str) -> str:
    """Mark ``source`` for the catalogues (``context`` is where it goes); returns it as is."""
    return source


def tr(context: str, source: str, **params: Any) -> str:
    """The installed language's text for a string marked elsewhere with translate_noop."""
    return fill(QCoreApplication.translate(context, source), params, source)
