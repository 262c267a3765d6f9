"""One widget per screen of the flow model; each only renders the model and forwards input.

``refresh`` re-reads the model and re-labels in the installed language, so a language
switch in the middle of a flow is just another refresh. Widgets a test presses have an
objectName.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QBoxLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk.cargo import FIELDS
from kiosk.flows import BatchOutcome, Kiosk, Purpose, QueryMode, Screen, hk_time, stale_time
from kiosk.qt_forms import MENU_BUTTON_PX, choices, clear_layout, rows_grid, scrolled
from kiosk.qt_text import (
    bundle_rows,
    cargo_rows,
    cp_name,
    direction_name,
    field_label,
    message,
)
from kiosk.qt_widgets import Keyboard, Keypad, Keys, TextField, button, label, restyle
from kiosk.session import Notice
from rocars.ids import ControlPoint, Direction
from rocars.models import Bundle, BundleStatus
from ui_common.i18n import tr

logger = logging.getLogger(__name__)

PrintFn = Callable[[str, list[tuple[str, str]], str], None]


class KioskScreen(QWidget):
    """Base of every screen: a title, the content, and the keys for its text fields."""

    kind = Screen.START

    def __init__(self, model: Kiosk) -> None:
        super().__init__()
        self.model = model
        self.setObjectName(f"screen_{self.kind.value}")
        self.fields: dict[str, TextField] = {}
        self.box = QVBoxLayout(self)
        self.box.setContentsMargins(32, 10, 32, 10)
        self.box.setSpacing(12)
        self.title = label(role="title", name="title")
        self.box.addWidget(self.title)
        self.keypad: Keypad | None = None
        self.keyboard: Keyboard | None = None
        self.keys_stack: QStackedWidget | None = None
        self.build()

    def build(self) -> None:
        raise NotImplementedError

    def refresh(self) -> None:
        raise NotImplementedError

    def shown_layouts(self) -> list[QLayout]:
        """The layouts ``refresh`` fills with the person's data (rows, lists of CCRNs)."""
        return []

    def wipe(self) -> None:
        """The session ended: nothing the person typed or was shown stays in this screen,
        shown or not. ``setText("")``, not ``clear()``: a cleared field can be undone
        (Ctrl+Z, or the context menu's Undo) and give the previous person's text back;
        ``setText`` drops the undo history. Every label is emptied (``refresh`` labels the
        screen again when it is next shown) and the rows and lists taken away."""
        for widget in self.fields.values():
            widget.setText("")
        for shown in self.findChildren(QLabel):
            shown.setText("")
        for layout in self.shown_layouts():
            clear_layout(layout)

    # -- building blocks (in the order they stand on the screen) -------------------------

    def add_hint(self, *, name: str = "") -> QLabel:
        hint = label(role="hint", name=name)
        self.box.addWidget(hint)
        return hint

    def add_menu(self, *buttons: QPushButton) -> None:
        """Big choices in the middle of the free height."""
        self.box.addStretch(1)
        for b in buttons:
            b.setMinimumHeight(MENU_BUTTON_PX)
            self.box.addWidget(b)
        self.box.addStretch(2)

    def add_field_row(
        self,
        name: str,
        kind: str = "digits",
        *,
        secret: bool = False,
        max_length: int = 10,
        field_stretch: int = 1,
    ) -> QLabel:
        """A caption beside a text field; returns the caption for ``refresh`` to label."""
        caption = label()
        line = QHBoxLayout()
        line.addWidget(caption, 1)
        line.addWidget(self.field(name, kind, secret=secret, max_length=max_length), field_stretch)
        self.box.addLayout(line)
        return caption

    def add_go(
        self,
        on_click: Callable[[], None],
        name: str,
        *,
        keypad: bool = True,
        keyboard: bool = False,
    ) -> QPushButton:
        """The screen's primary button, the keys below it, then the free height."""
        go = button(on_click=on_click, role="primary", name=name)
        self.box.addWidget(go)
        self.box.addWidget(self.keys_panel(keypad=keypad, keyboard=keyboard))
        self.box.addStretch(1)
        return go

    def add_grid(self) -> QGridLayout:
        """Rows a ``refresh`` fills (``rows_grid``), with the free height below them."""
        grid = QGridLayout()
        self.box.addLayout(grid)
        self.box.addStretch(1)
        return grid

    def add_list(self, into: QBoxLayout | None = None) -> QVBoxLayout:
        """A scrolling list that takes the free height; ``refresh`` fills it."""
        items = QVBoxLayout()
        (self.box if into is None else into).addWidget(scrolled(items), 1)
        return items

    # -- text fields and their keys ------------------------------------------------------

    def keys_panel(self, *, keypad: bool = True, keyboard: bool = False) -> QWidget:
        """The keypad and/or keyboard, switched to match the focused field."""
        self.keys_stack = QStackedWidget()
        if keypad:
            self.keypad = Keypad()
            self.keys_stack.addWidget(self.keypad)
            self.keypad.typed.connect(self._typed)
        if keyboard:
            self.keyboard = Keyboard()
            self.keys_stack.addWidget(self.keyboard)
            self.keyboard.typed.connect(self._typed)
        holder = QWidget()
        line = QHBoxLayout(holder)
        line.addStretch(1)
        line.addWidget(self.keys_stack, 6 if keyboard else 0)
        line.addStretch(1)
        return holder

    def field(
        self, name: str, kind: str = "digits", *, secret: bool = False, max_length: int = 64
    ) -> TextField:
        widget = TextField(name, kind, secret=secret, max_length=max_length)
        widget.textEdited.connect(lambda text, n=name: self.model.set_input(n, text))
        widget.focused.connect(self._focus)
        self.fields[name] = widget
        return widget

    def _keys_for(self, widget: TextField) -> Keys | None:
        if widget.kind == "digits" and self.keypad is not None:
            return self.keypad
        return self.keyboard or self.keypad

    def _focus(self, widget: TextField) -> None:
        keys = self._keys_for(widget)
        for other in (self.keypad, self.keyboard):
            if other is not None:
                other.target = widget if other is keys else None
        if keys is not None and self.keys_stack is not None:
            self.keys_stack.setCurrentWidget(keys)

    def _typed(self) -> None:
        for keys in (self.keypad, self.keyboard):
            if keys is not None and keys.target is not None:
                self.model.set_input(keys.target.objectName(), keys.target.text())

    def sync_fields(self) -> None:
        """Model to fields: secrets only ever cleared from here, never filled."""
        for name, widget in self.fields.items():
            if name in ("password", "code", "pin"):
                secret = getattr(self.model, name)
                if not secret and widget.text():
                    widget.setText("")  # not clear(): that can be undone
                continue
            value = self.model.input(name)
            if widget.text() != value:
                widget.setText(value)

    def first_field_focus(self) -> None:
        if self.fields:
            first = next(iter(self.fields.values()))
            first.setFocus()
            self._focus(first)

    def showEvent(self, event: object) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)  # type: ignore[arg-type]
        self.first_field_focus()


@dataclass(frozen=True)
class Ask:
    """What a one-field screen asks for, and the model call its button makes."""

    field: str
    go: str  # the button's objectName
    send: Callable[[Kiosk], None]
    kind: str = "digits"  # "text" types on the keyboard, digits on the keypad
    max_length: int = 10
    secret: bool = False
    purpose: bool = False  # the signing purpose above the field


class AskScreen(KioskScreen):
    """A caption, one text field, the button that sends it and the keys."""

    ask: ClassVar[Ask]

    def build(self) -> None:
        ask = self.ask
        self.what = self.add_hint(name="purpose") if ask.purpose else None
        self.caption = self.add_field_row(
            ask.field, ask.kind, secret=ask.secret, max_length=ask.max_length
        )
        text = ask.kind == "text"
        self.go = self.add_go(lambda: ask.send(self.model), ask.go, keypad=not text, keyboard=text)

    def texts(self) -> tuple[str, str, str]:
        """Title, caption and button text, in the installed language."""
        raise NotImplementedError

    def refresh(self) -> None:
        title, caption, go = self.texts()
        self.title.setText(title)
        if self.what is not None:
            self.what.setText(purpose_text(self.model))
        self.caption.setText(caption)
        self.go.setText(go)
        self.sync_fields()


# -- first screen and menus ---------------------------------------------------------------


class StartScreen(KioskScreen):
    kind = Screen.START

    def build(self) -> None:
        self.welcome = self.add_hint()
        self.driver = button(on_click=self.model.start_driver, role="primary", name="start_driver")
        self.shipper = button(on_click=self.model.start_shipper, name="start_shipper")
        self.query = button(on_click=self.model.start_query, name="start_query")
        self.add_menu(self.driver, self.shipper, self.query)

    def refresh(self) -> None:
        self.title.setText(tr("Start", "Welcome to the ROCARS self-help kiosk"))
        self.welcome.setText(
            tr("Start", "Choose your language at the top right at any time. What do you need?")
        )
        self.driver.setText(tr("Start", "Truck driver: bundle or cancel"))
        self.shipper.setText(tr("Start", "Shipper: submit or amend cargo data"))
        self.query.setText(tr("Start", "Query a bundle, a CCRN or the earliest crossing time"))


class SignInScreen(KioskScreen):
    kind = Screen.SIGN_IN

    def build(self) -> None:
        grid = QGridLayout()
        self.account_label = label()
        self.password_label = label()
        grid.addWidget(self.account_label, 0, 0)
        grid.addWidget(self.field("account", "digits", max_length=6), 0, 1)
        grid.addWidget(self.password_label, 1, 0)
        grid.addWidget(self.field("password", "text", secret=True, max_length=64), 1, 1)
        self.box.addLayout(grid)
        self.go = self.add_go(self.model.sign_in, "sign_in", keyboard=True)

    def refresh(self) -> None:
        self.title.setText(tr("SignIn", "Driver sign-in"))
        self.account_label.setText(tr("SignIn", "Account number (6 digits)"))
        self.password_label.setText(tr("SignIn", "Password"))
        self.go.setText(tr("SignIn", "Sign in"))
        self.sync_fields()


class DriverMenuScreen(KioskScreen):
    kind = Screen.DRIVER_MENU

    def build(self) -> None:
        self.who = self.add_hint()
        self.bundle = button(on_click=self.model.driver_bundle, role="primary", name="menu_bundle")
        self.cancel = button(on_click=self.model.driver_cancel, name="menu_cancel")
        self.query = button(on_click=self.model.start_query, name="menu_query")
        self.add_menu(self.bundle, self.cancel, self.query)

    def refresh(self) -> None:
        self.title.setText(tr("DriverMenu", "What would you like to do?"))
        self.who.setText(
            tr("DriverMenu", "Signed in as account {account}", account=self.model.account)
        )
        self.bundle.setText(tr("DriverMenu", "Bundle CCRNs with my vehicle"))
        self.cancel.setText(tr("DriverMenu", "Cancel a bundle, or one CCRN of it"))
        self.query.setText(tr("DriverMenu", "Query a bundle or the earliest crossing time"))


class ShipperMenuScreen(KioskScreen):
    kind = Screen.SHIPPER_MENU

    def build(self) -> None:
        self.submit = button(on_click=self.model.new_cargo, role="primary", name="menu_submit")
        self.amend = button(on_click=self.model.amend_start, name="menu_amend")
        self.batch = button(on_click=self.model.batch_start, name="menu_batch")
        self.add_menu(self.submit, self.amend, self.batch)

    def refresh(self) -> None:
        self.title.setText(tr("ShipperMenu", "Cargo data"))
        self.submit.setText(tr("ShipperMenu", "Submit cargo data and get a CCRN"))
        self.amend.setText(tr("ShipperMenu", "Amend cargo data (until it is bundled)"))
        self.batch.setText(tr("ShipperMenu", "Batch upload from a USB stick"))


# -- bundling -----------------------------------------------------------------------------


class BundleCcrnsScreen(KioskScreen):
    kind = Screen.BUNDLE_CCRNS

    def build(self) -> None:
        body = QHBoxLayout()
        left = QVBoxLayout()
        self.hint = label(role="hint")
        left.addWidget(self.hint)
        line = QHBoxLayout()
        line.addWidget(self.field("ccrn", "digits", max_length=10), 3)
        self.add = button(on_click=self.model.add_ccrn, role="primary", name="add_ccrn")
        line.addWidget(self.add, 1)
        left.addLayout(line)
        left.addWidget(self.keys_panel())
        body.addLayout(left, 1)
        right = QVBoxLayout()
        self.list_title = label(role="hint")
        right.addWidget(self.list_title)
        self.list_box = self.add_list(right)
        self.next = button(on_click=self.model.ccrns_next, role="primary", name="ccrns_next")
        right.addWidget(self.next)
        body.addLayout(right, 1)
        self.box.addLayout(body, 1)

    def refresh(self) -> None:
        self.title.setText(tr("BundleCcrns", "Bundle: the CCRNs on this truck"))
        self.hint.setText(tr("BundleCcrns", "Type a 10-digit CCRN and press Add."))
        self.add.setText(tr("BundleCcrns", "Add"))
        self.list_title.setText(
            tr("BundleCcrns", "CCRNs to bundle: {count}", count=len(self.model.ccrns))
        )
        self.next.setText(tr("BundleCcrns", "Next: vehicle and control point"))
        clear_layout(self.list_box)
        for ccrn in self.model.ccrns:
            row = QHBoxLayout()
            row.addWidget(label(ccrn, role="value"), 3)
            row.addWidget(
                button(
                    tr("BundleCcrns", "Remove"),
                    partial(self.model.remove_ccrn, ccrn),
                    role="danger",
                    name=f"remove_{ccrn}",
                ),
                1,
            )
            self.list_box.addLayout(row)
        self.list_box.addStretch(1)
        self.sync_fields()

    def shown_layouts(self) -> list[QLayout]:
        return [self.list_box]


class BundleDetailsScreen(KioskScreen):
    kind = Screen.BUNDLE_DETAILS

    def build(self) -> None:
        # the plate typed twice, side by side (one row: the screen has no height to spare)
        self.vrn_label = label()
        self.vrn_again_label = label()
        self.vrn_again_label.setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        line = QHBoxLayout()
        line.addWidget(self.vrn_label, 3)
        line.addWidget(self.field("vrn", "text", max_length=10), 3)
        line.addWidget(self.vrn_again_label, 2)
        line.addWidget(self.field("vrn_again", "text", max_length=10), 3)
        self.box.addLayout(line)
        #: the notice the second plate field last took the focus for
        self.focused_for: Notice | None = None
        self.cp_label = self.add_hint()
        grid = QGridLayout()
        self.cp_buttons = choices(ControlPoint, self.model.set_cp, lambda cp: f"cp_{cp.value}")
        for i, b in enumerate(self.cp_buttons.values()):
            b.setStyleSheet("font-size: 24px; padding: 2px 8px;")
            grid.addWidget(b, i // 4, i % 4)
        self.box.addLayout(grid)
        line2 = QHBoxLayout()
        self.dir_buttons = choices(Direction, self.model.set_direction, lambda d: f"dir_{d.value}")
        for b in self.dir_buttons.values():
            line2.addWidget(b)
        line2.addSpacing(40)
        self.next = button(on_click=self.model.details_next, role="primary", name="details_next")
        line2.addWidget(self.next)
        self.box.addLayout(line2)
        self.box.addWidget(self.keys_panel(keypad=False, keyboard=True))
        self.box.addStretch(1)

    def refresh(self) -> None:
        self.title.setText(tr("BundleDetails", "Bundle: vehicle, control point, direction"))
        self.vrn_label.setText(tr("BundleDetails", "Vehicle registration number"))
        self.vrn_again_label.setText(tr("BundleDetails", "Type it again"))
        self.cp_label.setText(tr("BundleDetails", "Control point you will cross at:"))
        for cp, b in self.cp_buttons.items():
            b.setText(f"{cp.ivrs_key}  {cp_name(cp)}")
            b.setChecked(self.model.cp == cp)
        for d, b in self.dir_buttons.items():
            b.setText(direction_name(d))
            b.setChecked(self.model.direction == d)
        self.next.setText(tr("BundleDetails", "Next: review"))
        self.sync_fields()
        notice = self.model.notice
        if (
            notice is not None
            and notice is not self.focused_for
            and notice.key in ("vrn_mismatch", "vrn_again_required")
        ):
            # once per such notice: the keys go to the box to type in, but a person who
            # then taps the first box to mend it is not pulled back at every key
            self.focused_for = notice
            again = self.fields["vrn_again"]
            again.setFocus()
            self._focus(again)


class BundleReviewScreen(KioskScreen):
    kind = Screen.BUNDLE_REVIEW

    def build(self) -> None:
        self.grid = self.add_grid()
        self.confirm = button(
            on_click=self.model.review_confirm, role="primary", name="review_confirm"
        )
        self.box.addWidget(self.confirm)

    def refresh(self) -> None:
        m = self.model
        self.title.setText(tr("BundleReview", "Bundle: please check"))
        rows = [
            (field_label("vrn"), m.input("vrn")),
            (field_label("cp"), cp_name(m.cp) if m.cp else ""),
            (field_label("direction"), direction_name(m.direction) if m.direction else ""),
            (field_label("ccrns"), "\n".join(m.ccrns)),
        ]
        rows_grid(rows, self.grid)
        self.confirm.setText(tr("BundleReview", "Correct: sign and bundle"))

    def shown_layouts(self) -> list[QLayout]:
        return [self.grid]


# -- signing ------------------------------------------------------------------------------


def purpose_text(model: Kiosk) -> str:
    if model.purpose == Purpose.BUNDLE:
        return tr(
            "Sign",
            "Signing: bundle {count} CCRN(s) with {vrn}",
            count=len(model.ccrns),
            vrn=model.input("vrn"),
        )
    ubr = model.cancel_bundle.ubr if model.cancel_bundle else ""
    if model.purpose == Purpose.CANCEL_ALL:
        return tr("Sign", "Signing: cancel the whole bundle {ubr}", ubr=ubr)
    return tr(
        "Sign",
        "Signing: take CCRN {ccrn} out of bundle {ubr}",
        ccrn=model.cancel_ccrn or "",
        ubr=ubr,
    )


class SignMethodScreen(KioskScreen):
    kind = Screen.SIGN_METHOD

    def build(self) -> None:
        self.what = self.add_hint(name="purpose")
        self.code = button(on_click=self.model.choose_code, role="primary", name="sign_with_code")
        self.cert = button(on_click=self.model.choose_certificate, name="sign_with_cert")
        self.add_menu(self.code, self.cert)

    def refresh(self) -> None:
        self.title.setText(tr("SignMethod", "How will you sign?"))
        self.what.setText(purpose_text(self.model))
        self.code.setText(tr("SignMethod", "Security code from my token"))
        self.cert.setText(tr("SignMethod", "Digital certificate on a USB stick (e-Cert / ID-Cert)"))


class SignCodeScreen(AskScreen):
    kind = Screen.SIGN_CODE
    ask = Ask("code", "submit_code", Kiosk.submit_code, secret=True, max_length=6, purpose=True)

    def texts(self) -> tuple[str, str, str]:
        return (
            tr("SignCode", "Enter the security code"),
            tr("SignCode", "6-digit code shown on your token now"),
            tr("SignCode", "Sign"),
        )


class SignCertScreen(KioskScreen):
    kind = Screen.SIGN_CERT

    def build(self) -> None:
        self.hint = self.add_hint()
        self.list_box = QVBoxLayout()
        self.box.addLayout(self.list_box)
        self.box.addStretch(1)

    def refresh(self) -> None:
        self.title.setText(tr("SignCert", "Choose your certificate"))
        self.hint.setText(tr("SignCert", "Certificate files found on the USB stick:"))
        clear_layout(self.list_box)
        for path in self.model.certificates:
            self.list_box.addWidget(
                button(
                    path.name,
                    partial(self.model.pick_certificate, path),
                    name=f"cert_{path.stem}",
                )
            )

    def shown_layouts(self) -> list[QLayout]:
        return [self.list_box]


class SignPinScreen(AskScreen):
    kind = Screen.SIGN_PIN
    ask = Ask("pin", "submit_pin", Kiosk.submit_pin, "text", 32, secret=True, purpose=True)

    def texts(self) -> tuple[str, str, str]:
        name = self.model.certificate.name if self.model.certificate else ""
        return (
            tr("SignPin", "Enter the PIN of your certificate"),
            tr("SignPin", "PIN of {file}", file=name),
            tr("SignPin", "Sign"),
        )


# -- results ------------------------------------------------------------------------------


class ResultScreen(KioskScreen):
    """Base of the screens that can print what they show."""

    grid: QGridLayout  # the result's rows, made by ``build``

    def __init__(self, model: Kiosk, print_receipt: PrintFn) -> None:
        self.print_receipt = print_receipt
        super().__init__(model)

    def result_rows(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def receipt_rows(self) -> list[tuple[str, str]]:
        """What the receipt prints: the rows on screen (and what else the screen says)."""
        return self.result_rows()

    def shown_layouts(self) -> list[QLayout]:
        return [self.grid]

    def receipt_title(self) -> str:
        return self.title.text()

    def receipt_name(self) -> str:
        raise NotImplementedError

    def add_print_row(self) -> None:
        line = QHBoxLayout()
        self.print = button(
            on_click=lambda: self.print_receipt(
                self.receipt_title(), self.receipt_rows(), self.receipt_name()
            ),
            name="print",
        )
        self.done = button(on_click=self.model.finish, role="primary", name="done")
        line.addWidget(self.print)
        line.addWidget(self.done)
        self.box.addLayout(line)

    def label_print_row(self) -> None:
        self.print.setText(tr("Result", "Print receipt"))
        self.done.setText(tr("Result", "Finish"))

    def show_rows(self, title: str, *, big_first: bool = True) -> None:
        """The title, the result's rows and the print row, in the installed language."""
        self.title.setText(title)
        rows_grid(self.result_rows(), self.grid, big_first=big_first)
        self.label_print_row()


class BundleShownScreen(ResultScreen):
    """A bundle as the centre answered (bundled, or after a cancellation)."""

    receipt_prefix = "bundle"

    def build(self) -> None:
        self.grid = self.add_grid()
        self.add_print_row()

    def result_rows(self) -> list[tuple[str, str]]:
        return bundle_rows(self.model.result) if self.model.result else []

    def receipt_name(self) -> str:
        return f"{self.receipt_prefix}_{self.model.result.ubr if self.model.result else ''}"


class BundleResultScreen(BundleShownScreen):
    kind = Screen.BUNDLE_RESULT

    def refresh(self) -> None:
        self.show_rows(tr("BundleResult", "Bundled. Keep your UBR."))


class CancelResultScreen(BundleShownScreen):
    kind = Screen.CANCEL_RESULT
    receipt_prefix = "cancel"

    def refresh(self) -> None:
        if self.model.cancel_ccrn:
            title = tr(
                "CancelResult", "CCRN {ccrn} taken out of the bundle", ccrn=self.model.cancel_ccrn
            )
        else:
            title = tr("CancelResult", "The bundle is cancelled")
        self.show_rows(title)


# -- cancel -------------------------------------------------------------------------------


class CancelUbrScreen(AskScreen):
    kind = Screen.CANCEL_UBR
    ask = Ask("ubr", "find_bundle", Kiosk.cancel_lookup)

    def texts(self) -> tuple[str, str, str]:
        return (
            tr("CancelUbr", "Cancel: which bundle?"),
            tr("CancelUbr", "UBR (10 digits)"),
            tr("CancelUbr", "Find the bundle"),
        )


class CancelChooseScreen(KioskScreen):
    kind = Screen.CANCEL_CHOOSE

    def build(self) -> None:
        self.grid = QGridLayout()
        self.box.addLayout(self.grid)
        self.hint = self.add_hint()
        self.list_box = QGridLayout()
        self.box.addLayout(self.list_box)
        self.box.addStretch(1)
        self.all = button(on_click=self.model.cancel_all, role="danger", name="cancel_all")
        self.box.addWidget(self.all)

    def refresh(self) -> None:
        bundle = self.model.cancel_bundle
        self.title.setText(tr("CancelChoose", "Cancel: the whole bundle or one CCRN?"))
        rows = (
            [
                (field_label("ubr"), bundle.ubr),
                (field_label("vrn"), bundle.vrn),
                (field_label("cp"), cp_name(bundle.cp)),
            ]
            if bundle
            else []
        )
        rows_grid(rows, self.grid)
        self.hint.setText(tr("CancelChoose", "Take one CCRN out:"))
        clear_layout(self.list_box)
        for i, ccrn in enumerate(bundle.ccrns if bundle else []):
            self.list_box.addWidget(
                button(
                    tr("CancelChoose", "Cancel CCRN {ccrn}", ccrn=ccrn),
                    partial(self.model.cancel_one, ccrn),
                    name=f"cancel_{ccrn}",
                ),
                i // 2,
                i % 2,
            )
        self.all.setText(tr("CancelChoose", "Cancel the whole bundle"))

    def shown_layouts(self) -> list[QLayout]:
        return [self.grid, self.list_box]


# -- queries ------------------------------------------------------------------------------


def stale_banner(since: str) -> str:
    """What a screen says of an answer from the control point's copy (the centre down)."""
    return tr(
        "QueryResult",
        "The centre cannot be reached: this answer comes from the control point's copy as of {time} HKT and may be out of date.",
        time=stale_time(since),
    )


class QueryScreen(KioskScreen):
    kind = Screen.QUERY

    def build(self) -> None:
        line = QHBoxLayout()
        self.modes = choices(QueryMode, self.model.set_query_mode, lambda m: f"query_{m.value}")
        for b in self.modes.values():
            line.addWidget(b)
        self.box.addLayout(line)
        self.key_label = self.add_field_row("query")
        self.go = self.add_go(self.model.run_query, "run_query")

    def refresh(self) -> None:
        self.title.setText(tr("Query", "Query"))
        names = {
            QueryMode.UBR: tr("Query", "By UBR"),
            QueryMode.CCRN: tr("Query", "By CCRN"),
            QueryMode.EARLIEST: tr("Query", "Earliest crossing time"),
        }
        for mode, b in self.modes.items():
            b.setText(names[mode])
            b.setChecked(self.model.query_mode == mode)
        self.key_label.setText(
            tr("Query", "CCRN (10 digits)")
            if self.model.query_mode == QueryMode.CCRN
            else tr("Query", "UBR (10 digits)")
        )
        self.go.setText(tr("Query", "Search"))
        self.sync_fields()


class QueryResultScreen(ResultScreen):
    kind = Screen.QUERY_RESULT

    def build(self) -> None:
        self.stale = label(name="stale")
        self.box.addWidget(self.stale)
        self.headline = label(role="big", name="headline")
        self.box.addWidget(self.headline)
        self.grid = QGridLayout()
        self.box.addWidget(scrolled(self.grid), 1)
        self.add_print_row()

    def result_rows(self) -> list[tuple[str, str]]:
        m = self.model
        rows: list[tuple[str, str]] = []
        if m.query_cargo is not None:
            rows += cargo_rows(m.query_cargo)
        for bundle in m.query_bundles:
            rows += bundle_rows(bundle)
        if m.query_cargo is not None and not m.query_bundles:
            rows.append((field_label("ubr"), tr("QueryResult", "not bundled yet")))
        return rows

    def receipt_rows(self) -> list[tuple[str, str]]:
        """The rows, and first, for an answer from the control point's copy, the copy's
        time: the screen's banner says so, and the receipt must not look newer."""
        since = self.model.stale_since
        if not since:
            return self.result_rows()
        copy = (
            tr("QueryResult", "Answered from"),
            tr(
                "QueryResult",
                "The control point's copy as of {time} HKT: may be out of date",
                time=stale_time(since),
            ),
        )
        return [copy, *self.result_rows()]

    def receipt_name(self) -> str:
        return f"query_{self.model.query_key}"

    def earliest_text(self, bundle: Bundle) -> str:
        """The headline of an earliest-time query. A cancelled or used bundle lets no truck
        cross: it says so, with no time (before, it said "You may cross now" once its time
        had come, and only a small status row said otherwise)."""
        if bundle.status == BundleStatus.CANCELLED:
            return tr("QueryResult", "This bundle is cancelled: the truck cannot use it.")
        if bundle.status != BundleStatus.ACTIVE:
            return tr(
                "QueryResult", "This bundle has been used already: the truck cannot use it again."
            )
        if self.model.may_cross_now(bundle):
            when = hk_time(bundle.earliest_at)
            return tr("QueryResult", "You may cross now (from {time} HKT)", time=when)
        return tr("QueryResult", "Not before {time} HKT", time=hk_time(bundle.earliest_at, up=True))

    def refresh(self) -> None:
        m = self.model
        if m.stale_since:
            self.stale.setText(stale_banner(m.stale_since))
            self.stale.show()
        else:
            self.stale.hide()
        self.headline.setVisible(m.query_mode == QueryMode.EARLIEST and bool(m.query_bundles))
        if m.query_bundles:
            bundle = m.query_bundles[0]
            self.headline.setText(self.earliest_text(bundle))
            self.headline.setProperty("status", bundle.status.value)
            restyle(self.headline)
        self.show_rows(tr("QueryResult", "Result for {key}", key=m.query_key), big_first=False)


# -- shipper ------------------------------------------------------------------------------


class CargoFormScreen(KioskScreen):
    kind = Screen.CARGO_FORM

    def build(self) -> None:
        grid = QGridLayout()
        grid.setHorizontalSpacing(40)
        grid.setVerticalSpacing(6)
        self.labels: dict[str, QLabel] = {}
        self.errors: dict[str, QLabel] = {}
        half = (len(FIELDS) + 1) // 2
        for i, spec in enumerate(FIELDS):
            cell = QVBoxLayout()
            cell.setSpacing(2)
            name_label = label(role="hint")
            self.labels[spec.name] = name_label
            cell.addWidget(name_label)
            if spec.name == "expected_date":
                line = QHBoxLayout()
                line.addWidget(
                    button("◀", lambda: self.model.step_date(-1), role="key", name="date_prev")
                )
                self.date = label(role="value", name="expected_date")
                self.date.setAlignment(Qt.AlignmentFlag.AlignCenter)
                line.addWidget(self.date, 3)
                line.addWidget(
                    button("▶", lambda: self.model.step_date(1), role="key", name="date_next")
                )
                cell.addLayout(line)
            elif spec.name == "direction":
                line = QHBoxLayout()
                self.dir_buttons = choices(
                    Direction, self._set_direction, lambda d: f"cargo_dir_{d.value}"
                )
                for b in self.dir_buttons.values():
                    line.addWidget(b)
                cell.addLayout(line)
            else:
                kind = "digits" if spec.kind == "int" else "text"
                cell.addWidget(self.field(f"cargo.{spec.name}", kind, max_length=spec.max_length))
            error = label(role="fielderror", name=f"error_{spec.name}")
            error.hide()
            self.errors[spec.name] = error
            cell.addWidget(error)
            grid.addLayout(cell, i % half, 0 if i < half else 1)
        # an amendment filled from the control point's copy: it may be older than the
        # centre's data, which the amendment would replace whole
        self.stale = label(name="stale")
        self.stale.hide()
        self.box.addWidget(self.stale)
        self.form_scroll = scrolled(grid)
        self.box.addWidget(self.form_scroll, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.keys_panel(keypad=False, keyboard=True), 3)
        self.submit = button(on_click=self.model.cargo_submit, role="primary", name="cargo_submit")
        self.submit.setMinimumHeight(160)
        bottom.addWidget(self.submit, 1)
        self.box.addLayout(bottom)

    def _focus(self, widget: TextField) -> None:
        super()._focus(widget)
        self.form_scroll.ensureWidgetVisible(widget, 50, 80)

    def _set_direction(self, direction: Direction) -> None:
        self.model.set_cargo_direction(direction)

    def refresh(self) -> None:
        m = self.model
        if m.amend_ccrn:
            self.title.setText(
                tr("CargoForm", "Amend cargo data of CCRN {ccrn}", ccrn=m.amend_ccrn)
            )
        else:
            self.title.setText(tr("CargoForm", "Submit cargo data (* = required)"))
        since = m.amend_stale_since if m.amend_ccrn else None
        if since:
            self.stale.setText(
                tr(
                    "CargoForm",
                    "Filled from the control point's copy as of {time} HKT (the centre cannot be reached): it may be out of date. Check every field before submitting.",
                    time=stale_time(since),
                )
            )
        self.stale.setVisible(bool(since))
        for spec in FIELDS:
            text = field_label(spec.name)
            self.labels[spec.name].setText(f"{text} *" if spec.required else text)
            error = m.cargo_errors.get(spec.name)
            self.errors[spec.name].setText(
                message(Notice(error.key, error.params)) if error else ""
            )
            self.errors[spec.name].setVisible(error is not None)
            widget = self.fields.get(f"cargo.{spec.name}")
            if widget is not None:
                widget.set_error(error is not None)
        self.date.setText(m.cargo_values.get("expected_date", ""))
        for d, b in self.dir_buttons.items():
            b.setText(direction_name(d))
            b.setChecked(m.cargo_values.get("direction") == d.value)
        self.submit.setText(
            tr("CargoForm", "Submit the amendment") if m.amend_ccrn else tr("CargoForm", "Submit")
        )
        self.sync_fields()


class CargoResultScreen(ResultScreen):
    kind = Screen.CARGO_RESULT

    def build(self) -> None:
        self.grid = self.add_grid()
        self.another = button(on_click=self.model.new_cargo, name="cargo_another")
        self.box.addWidget(self.another)
        self.add_print_row()

    def result_rows(self) -> list[tuple[str, str]]:
        return cargo_rows(self.model.cargo_result) if self.model.cargo_result else []

    def receipt_name(self) -> str:
        return f"cargo_{self.model.cargo_result.ccrn if self.model.cargo_result else ''}"

    def refresh(self) -> None:
        self.another.setText(tr("CargoResult", "Submit more cargo data"))
        if self.model.cargo_amended:
            self.show_rows(tr("CargoResult", "Cargo data amended"))
        else:
            self.show_rows(tr("CargoResult", "Cargo data submitted. Your CCRN:"))


class AmendCcrnScreen(AskScreen):
    kind = Screen.AMEND_CCRN
    ask = Ask("amend_ccrn", "find_cargo", Kiosk.amend_lookup)

    def texts(self) -> tuple[str, str, str]:
        return (
            tr("AmendCcrn", "Amend: which cargo data?"),
            tr("AmendCcrn", "CCRN (10 digits)"),
            tr("AmendCcrn", "Find the cargo data"),
        )


class BatchScreen(KioskScreen):
    kind = Screen.BATCH

    def build(self) -> None:
        self.hint = self.add_hint()
        self.template = button(on_click=self.model.batch_template, name="batch_template")
        self.box.addWidget(self.template)
        self.files_title = self.add_hint()
        self.list_box = self.add_list()

    def refresh(self) -> None:
        self.title.setText(tr("Batch", "Batch upload from a USB stick"))
        self.hint.setText(
            tr(
                "Batch",
                "Fill in the template (xlsx or CSV, one row per consignment, at most 200 rows), put it on the USB stick and choose it below. Rows with errors are listed and not sent; the other rows get their CCRNs.",
            )
        )
        self.template.setText(tr("Batch", "Save a blank template to the USB stick"))
        self.files_title.setText(
            tr("Batch", "Files on the USB stick:")
            if self.model.batch_files
            else tr("Batch", "No .xlsx or .csv file on the USB stick.")
        )
        clear_layout(self.list_box)
        for path in self.model.batch_files:
            self.list_box.addWidget(
                button(
                    tr("Batch", "Upload {file}", file=path.name),
                    partial(self.model.batch_upload, path),
                    name=f"upload_{path.name}",
                )
            )
        self.list_box.addStretch(1)

    def shown_layouts(self) -> list[QLayout]:
        return [self.list_box]


class BatchResultScreen(KioskScreen):
    kind = Screen.BATCH_RESULT

    def build(self) -> None:
        self.summary = self.add_hint(name="batch_summary")
        # the batch stopped at a row the control point system did not answer
        self.stopped = label(role="fielderror", name="batch_stopped")
        self.stopped.hide()
        self.box.addWidget(self.stopped)
        self.list_box = self.add_list()
        self.done = button(on_click=self.model.finish, role="primary", name="done")
        self.box.addWidget(self.done)

    def shown_layouts(self) -> list[QLayout]:
        return [self.list_box]

    def refresh(self) -> None:
        m = self.model
        ok, bad, maybe = m.batch_counts
        name = m.batch_file.name if m.batch_file else ""
        self.title.setText(tr("BatchResult", "Batch upload: {file}", file=name))
        if maybe:
            summary = tr(
                "BatchResult",
                "{ok} row(s) submitted, {bad} row(s) not submitted, may have been saved: {maybe}.",
                ok=ok,
                bad=bad,
                maybe=maybe,
            )
        else:
            summary = tr(
                "BatchResult", "{ok} row(s) submitted, {bad} row(s) not submitted.", ok=ok, bad=bad
            )
        self.summary.setText(summary)
        stopped_at = m.batch_stopped_at
        if stopped_at is not None:
            self.stopped.setText(
                tr(
                    "BatchResult",
                    "Sending stopped at row {row}: the control point system could not be reached or did not answer, so the rows after it were not sent. Choose the same file again before you finish: rows already saved keep their CCRN and are not saved twice.",
                    row=stopped_at,
                )
            )
        self.stopped.setVisible(stopped_at is not None)
        clear_layout(self.list_box)
        for outcome in m.batch_outcomes:
            self.list_box.addWidget(
                label(
                    self.row_text(outcome),
                    role="" if outcome.ccrn else "fielderror",
                    name=f"batch_row_{outcome.row}",
                )
            )
        self.list_box.addStretch(1)
        self.done.setText(tr("Result", "Finish"))

    @staticmethod
    def row_text(outcome: BatchOutcome) -> str:
        if outcome.ccrn:
            return tr("BatchResult", "Row {row}: CCRN {ccrn}", row=outcome.row, ccrn=outcome.ccrn)
        if outcome.maybe_saved:
            return tr(
                "BatchResult",
                "Row {row}: may have been saved, but no CCRN came back. Sent again in this session, it gets its CCRN, not a second one.",
                row=outcome.row,
            )
        if outcome.unsent and not outcome.errors:
            return tr("BatchResult", "Row {row}: not sent (sending had stopped)", row=outcome.row)
        reasons = [
            f"{field_label(e.field)}: {message(Notice(e.key, e.params)).rstrip('.。')}"
            for e in outcome.errors
        ]
        if outcome.notice is not None:
            reasons.append(message(outcome.notice).rstrip(".。"))
        return tr(
            "BatchResult",
            "Row {row}: not submitted: {reasons}",
            row=outcome.row,
            reasons=" · ".join(reasons),
        )


SCREEN_CLASSES: tuple[type[KioskScreen], ...] = (
    StartScreen,
    SignInScreen,
    DriverMenuScreen,
    ShipperMenuScreen,
    BundleCcrnsScreen,
    BundleDetailsScreen,
    BundleReviewScreen,
    SignMethodScreen,
    SignCodeScreen,
    SignCertScreen,
    SignPinScreen,
    CancelUbrScreen,
    CancelChooseScreen,
    QueryScreen,
    CargoFormScreen,
    AmendCcrnScreen,
    BatchScreen,
    BatchResultScreen,
)
RESULT_CLASSES: tuple[type[ResultScreen], ...] = (
    BundleResultScreen,
    CancelResultScreen,
    QueryResultScreen,
    CargoResultScreen,
)
