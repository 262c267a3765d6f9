"""The kiosk's text field and its keys (kiosk/qt_widgets.py)."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from kiosk.qt_widgets import Keys, TextField, button


def test_a_field_holds_its_limit_in_characters_not_utf16_units(qtbot: QtBot) -> None:
    """A name of rare Chinese characters (two UTF-16 units each), as the centre holds it,
    is shown whole; Qt's limit in units cut 40 of them to 35 on the amend form, and an
    edit sent the cut name. The kiosk's keys stop at the limit in characters."""
    field = TextField("cargo.consignee_name", max_length=5)
    qtbot.addWidget(field)
    field.setText("𠝹" * 5)
    assert field.text() == "𠝹" * 5
    keys = Keys()
    qtbot.addWidget(keys)
    keys.target = field
    keys.press("A")
    assert field.text() == "𠝹" * 5  # full: nothing typed
    keys.press("⌫")
    keys.press("A")
    assert field.text() == "𠝹" * 4 + "A"
    keys.press("B")
    assert field.text() == "𠝹" * 4 + "A"


def test_a_button_shows_an_ampersand_as_it_is(qtbot: QtBot) -> None:
    """A batch file or certificate named ``R&D.csv`` on a button: Qt takes ``&`` as the
    mark of a shortcut key, showed ``RD.csv`` and bound Alt+D to it."""
    widget = button("Upload R&D.csv")
    qtbot.addWidget(widget)
    assert widget.shortcut().isEmpty()
    assert widget.text().replace("&&", "&") == "Upload R&D.csv"


def test_the_keyboards_ampersand_key_shows_one_ampersand(qtbot: QtBot) -> None:
    """Escaped twice (the key's own escape, then ``button``'s), the key showed ``&&``."""
    keys = Keys()
    qtbot.addWidget(keys)
    key = keys.key("&")
    qtbot.addWidget(key)
    assert key.text() == "&&"  # Qt shows one "&" for "&&"
    assert key.shortcut().isEmpty()
