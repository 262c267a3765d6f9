"""One widget per screen of the flow model; each only renders the model and forwards input.

``refresh`` re-reads the model and re-labels in the installed language, so a language
switch in the middle of a flow is just another refresh. Widgets a test presses have an
objectName.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk.cargo import FIELDS
from kiosk.flows import Kiosk, Purpose, QueryMode, Screen, hk_time
from kiosk.qt_text import (
    bundle_rows,
    cargo_rows,
    cp_name,
    direction_name,
    field_label,
    message,
)
from kiosk.qt_widgets import Keyboard, Keypad, Keys, TextField, button, label
from kiosk.session import Notice
from rocars.ids import ControlPoint, Direction
from rocars.models import Bundle
from rocars.timeutil import parse_rfc3339
from ui_common.i18n import tr

logger = logging.getLogger(__name__)

PrintFn = Callable[[str, list[tuple[str, str]], str], None]


def clear_layout(layout: QLayout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        if item is None:
            break
        widget = item.widget()
        if widget is not None:
            widget.setParent(None)
            widget.deleteLater()
        elif item.layout() is not None:
            inner = item.layout()
            assert inner is not None
            clear_layout(inner)


def rows_grid(rows: list[tuple[str, str]], grid: QGridLayout, *, big_first: bool = False) -> None:
    clear_layout(grid)
    for i, (name, value) in enumerate(rows):
        key = label(name, role="hint")
        key.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        shown = label(value, role="big" if big_first and i == 0 else "", name=f"row_{i}")
        shown.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        grid.addWidget(key, i, 0)
        grid.addWidget(shown, i, 1)
    grid.setColumnStretch(1, 1)
    for row in range(grid.rowCount()):
        grid.setRowStretch(row, 0)
    grid.setRowStretch(len(rows), 1)


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
                    widget.clear()
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


# -- first screen and menus ---------------------------------------------------------------


class StartScreen(KioskScreen):
    kind = Screen.START

    def build(self) -> None:
        self.welcome = label(role="hint")
        self.box.addWidget(self.welcome)
        self.box.addStretch(1)
        self.driver = button(on_click=self.model.start_driver, role="primary", name="start_driver")
        self.shipper = button(on_click=self.model.start_shipper, name="start_shipper")
        self.query = button(on_click=self.model.start_query, name="start_query")
        for b in (self.driver, self.shipper, self.query):
            b.setMinimumHeight(150)
            self.box.addWidget(b)
        self.box.addStretch(2)

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
        self.go = button(on_click=self.model.sign_in, role="primary", name="sign_in")
        self.box.addWidget(self.go)
        self.box.addWidget(self.keys_panel(keypad=True, keyboard=True))
        self.box.addStretch(1)

    def refresh(self) -> None:
        self.title.setText(tr("SignIn", "Driver sign-in"))
        self.account_label.setText(tr("SignIn", "Account number (6 digits)"))
        self.password_label.setText(tr("SignIn", "Password"))
        self.go.setText(tr("SignIn", "Sign in"))
        self.sync_fields()


class DriverMenuScreen(KioskScreen):
    kind = Screen.DRIVER_MENU

    def build(self) -> None:
        self.who = label(role="hint")
        self.box.addWidget(self.who)
        self.box.addStretch(1)
        self.bundle = button(on_click=self.model.driver_bundle, role="primary", name="menu_bundle")
        self.cancel = button(on_click=self.model.driver_cancel, name="menu_cancel")
        self.query = button(on_click=self.model.start_query, name="menu_query")
        for b in (self.bundle, self.cancel, self.query):
            b.setMinimumHeight(150)
            self.box.addWidget(b)
        self.box.addStretch(2)

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
        self.box.addStretch(1)
        self.submit = button(on_click=self.model.new_cargo, role="primary", name="menu_submit")
        self.amend = button(on_click=self.model.amend_start, name="menu_amend")
        self.batch = button(on_click=self.model.batch_start, name="menu_batch")
        for b in (self.submit, self.amend, self.batch):
            b.setMinimumHeight(150)
            self.box.addWidget(b)
        self.box.addStretch(2)

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
        self.list_box = QVBoxLayout()
        holder = QWidget()
        holder.setLayout(self.list_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        right.addWidget(scroll, 1)
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


class BundleDetailsScreen(KioskScreen):
    kind = Screen.BUNDLE_DETAILS

    def build(self) -> None:
        line = QHBoxLayout()
        self.vrn_label = label()
        line.addWidget(self.vrn_label, 1)
        line.addWidget(self.field("vrn", "text", max_length=10), 2)
        self.box.addLayout(line)
        self.cp_label = label(role="hint")
        self.box.addWidget(self.cp_label)
        grid = QGridLayout()
        self.cp_buttons: dict[ControlPoint, QPushButton] = {}
        for i, cp in enumerate(ControlPoint):
            b = button(
                on_click=partial(self.model.set_cp, cp), checkable=True, name=f"cp_{cp.value}"
            )
            b.setStyleSheet("font-size: 24px; padding: 2px 8px;")
            self.cp_buttons[cp] = b
            grid.addWidget(b, i // 4, i % 4)
        self.box.addLayout(grid)
        line2 = QHBoxLayout()
        self.dir_buttons: dict[Direction, QPushButton] = {}
        for d in Direction:
            b = button(
                on_click=partial(self.model.set_direction, d),
                checkable=True,
                name=f"dir_{d.value}",
            )
            self.dir_buttons[d] = b
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
        self.cp_label.setText(tr("BundleDetails", "Control point you will cross at:"))
        for cp, b in self.cp_buttons.items():
            b.setText(f"{cp.ivrs_key}  {cp_name(cp)}")
            b.setChecked(self.model.cp == cp)
        for d, b in self.dir_buttons.items():
            b.setText(direction_name(d))
            b.setChecked(self.model.direction == d)
        self.next.setText(tr("BundleDetails", "Next: review"))
        self.sync_fields()


class BundleReviewScreen(KioskScreen):
    kind = Screen.BUNDLE_REVIEW

    def build(self) -> None:
        self.grid = QGridLayout()
        self.box.addLayout(self.grid)
        self.box.addStretch(1)
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
        self.what = label(role="hint", name="purpose")
        self.box.addWidget(self.what)
        self.box.addStretch(1)
        self.code = button(on_click=self.model.choose_code, role="primary", name="sign_with_code")
        self.cert = button(on_click=self.model.choose_certificate, name="sign_with_cert")
        for b in (self.code, self.cert):
            b.setMinimumHeight(150)
            self.box.addWidget(b)
        self.box.addStretch(2)

    def refresh(self) -> None:
        self.title.setText(tr("SignMethod", "How will you sign?"))
        self.what.setText(purpose_text(self.model))
        self.code.setText(tr("SignMethod", "Security code from my token"))
        self.cert.setText(tr("SignMethod", "Digital certificate on a USB stick (e-Cert / ID-Cert)"))


class SignCodeScreen(KioskScreen):
    kind = Screen.SIGN_CODE

    def build(self) -> None:
        self.what = label(role="hint", name="purpose")
        self.box.addWidget(self.what)
        line = QHBoxLayout()
        self.code_label = label()
        line.addWidget(self.code_label, 1)
        line.addWidget(self.field("code", "digits", secret=True, max_length=6), 1)
        self.box.addLayout(line)
        self.go = button(on_click=self.model.submit_code, role="primary", name="submit_code")
        self.box.addWidget(self.go)
        self.box.addWidget(self.keys_panel())
        self.box.addStretch(1)

    def refresh(self) -> None:
        self.title.setText(tr("SignCode", "Enter the security code"))
        self.what.setText(purpose_text(self.model))
        self.code_label.setText(tr("SignCode", "6-digit code shown on your token now"))
        self.go.setText(tr("SignCode", "Sign"))
        self.sync_fields()


class SignCertScreen(KioskScreen):
    kind = Screen.SIGN_CERT

    def build(self) -> None:
        self.hint = label(role="hint")
        self.box.addWidget(self.hint)
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


class SignPinScreen(KioskScreen):
    kind = Screen.SIGN_PIN

    def build(self) -> None:
        self.what = label(role="hint", name="purpose")
        self.box.addWidget(self.what)
        line = QHBoxLayout()
        self.pin_label = label()
        line.addWidget(self.pin_label, 1)
        line.addWidget(self.field("pin", "text", secret=True, max_length=32), 1)
        self.box.addLayout(line)
        self.go = button(on_click=self.model.submit_pin, role="primary", name="submit_pin")
        self.box.addWidget(self.go)
        self.box.addWidget(self.keys_panel(keypad=False, keyboard=True))
        self.box.addStretch(1)

    def refresh(self) -> None:
        self.title.setText(tr("SignPin", "Enter the PIN of your certificate"))
        self.what.setText(purpose_text(self.model))
        name = self.model.certificate.name if self.model.certificate else ""
        self.pin_label.setText(tr("SignPin", "PIN of {file}", file=name))
        self.go.setText(tr("SignPin", "Sign"))
        self.sync_fields()


# -- results ------------------------------------------------------------------------------


class ResultScreen(KioskScreen):
    """Base of the screens that can print what they show."""

    def __init__(self, model: Kiosk, print_receipt: PrintFn) -> None:
        self.print_receipt = print_receipt
        super().__init__(model)

    def result_rows(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def receipt_title(self) -> str:
        return self.title.text()

    def receipt_name(self) -> str:
        raise NotImplementedError

    def add_print_row(self) -> None:
        line = QHBoxLayout()
        self.print = button(
            on_click=lambda: self.print_receipt(
                self.receipt_title(), self.result_rows(), self.receipt_name()
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


class BundleResultScreen(ResultScreen):
    kind = Screen.BUNDLE_RESULT

    def build(self) -> None:
        self.grid = QGridLayout()
        self.box.addLayout(self.grid)
        self.box.addStretch(1)
        self.add_print_row()

    def result_rows(self) -> list[tuple[str, str]]:
        return bundle_rows(self.model.result) if self.model.result else []

    def receipt_name(self) -> str:
        return f"bundle_{self.model.result.ubr if self.model.result else ''}"

    def refresh(self) -> None:
        self.title.setText(tr("BundleResult", "Bundled. Keep your UBR."))
        rows_grid(self.result_rows(), self.grid, big_first=True)
        self.label_print_row()


class CancelResultScreen(ResultScreen):
    kind = Screen.CANCEL_RESULT

    def build(self) -> None:
        self.grid = QGridLayout()
        self.box.addLayout(self.grid)
        self.box.addStretch(1)
        self.add_print_row()

    def result_rows(self) -> list[tuple[str, str]]:
        return bundle_rows(self.model.result) if self.model.result else []

    def receipt_name(self) -> str:
        return f"cancel_{self.model.result.ubr if self.model.result else ''}"

    def refresh(self) -> None:
        if self.model.cancel_ccrn:
            self.title.setText(
                tr(
                    "CancelResult",
                    "CCRN {ccrn} taken out of the bundle",
                    ccrn=self.model.cancel_ccrn,
                )
            )
        else:
            self.title.setText(tr("CancelResult", "The bundle is cancelled"))
        rows_grid(self.result_rows(), self.grid, big_first=True)
        self.label_print_row()


# -- cancel -------------------------------------------------------------------------------


class CancelUbrScreen(KioskScreen):
    kind = Screen.CANCEL_UBR

    def build(self) -> None:
        line = QHBoxLayout()
        self.ubr_label = label()
        line.addWidget(self.ubr_label, 1)
        line.addWidget(self.field("ubr", "digits", max_length=10), 1)
        self.box.addLayout(line)
        self.go = button(on_click=self.model.cancel_lookup, role="primary", name="find_bundle")
        self.box.addWidget(self.go)
        self.box.addWidget(self.keys_panel())
        self.box.addStretch(1)

    def refresh(self) -> None:
        self.title.setText(tr("CancelUbr", "Cancel: which bundle?"))
        self.ubr_label.setText(tr("CancelUbr", "UBR (10 digits)"))
        self.go.setText(tr("CancelUbr", "Find the bundle"))
        self.sync_fields()


class CancelChooseScreen(KioskScreen):
    kind = Screen.CANCEL_CHOOSE

    def build(self) -> None:
        self.grid = QGridLayout()
        self.box.addLayout(self.grid)
        self.hint = label(role="hint")
        self.box.addWidget(self.hint)
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


# -- queries ------------------------------------------------------------------------------


class QueryScreen(KioskScreen):
    kind = Screen.QUERY

    def build(self) -> None:
        line = QHBoxLayout()
        self.modes: dict[QueryMode, QPushButton] = {}
        for mode in QueryMode:
            b = button(
                on_click=partial(self.model.set_query_mode, mode),
                checkable=True,
                name=f"query_{mode.value}",
            )
            self.modes[mode] = b
            line.addWidget(b)
        self.box.addLayout(line)
        row = QHBoxLayout()
        self.key_label = label()
        row.addWidget(self.key_label, 1)
        row.addWidget(self.field("query", "digits", max_length=10), 1)
        self.box.addLayout(row)
        self.go = button(on_click=self.model.run_query, role="primary", name="run_query")
        self.box.addWidget(self.go)
        self.box.addWidget(self.keys_panel())
        self.box.addStretch(1)

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
        self.stale.setObjectName("stale")
        self.box.addWidget(self.stale)
        self.headline = label(role="big", name="headline")
        self.box.addWidget(self.headline)
        self.grid = QGridLayout()
        holder = QWidget()
        holder.setLayout(self.grid)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        self.box.addWidget(scroll, 1)
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

    def receipt_name(self) -> str:
        return f"query_{self.model.query_key}"

    def earliest_text(self, bundle: Bundle) -> str:
        when = hk_time(bundle.earliest_at)
        if self.model.may_cross_now(bundle):
            return tr("QueryResult", "You may cross now (from {time} HKT)", time=when)
        return tr("QueryResult", "Not before {time} HKT", time=when)

    def refresh(self) -> None:
        m = self.model
        self.title.setText(tr("QueryResult", "Result for {key}", key=m.query_key))
        if m.stale_since:
            self.stale.setText(
                tr(
                    "QueryResult",
                    "The centre cannot be reached: this answer comes from the control point's copy as of {time} HKT and may be out of date.",
                    time=_stale_time(m.stale_since),
                )
            )
            self.stale.show()
        else:
            self.stale.hide()
        self.headline.setVisible(m.query_mode == QueryMode.EARLIEST and bool(m.query_bundles))
        if m.query_bundles:
            self.headline.setText(self.earliest_text(m.query_bundles[0]))
        rows_grid(self.result_rows(), self.grid)
        self.label_print_row()


def _stale_time(since: str) -> str:
    try:
        return hk_time(parse_rfc3339(since))
    except ValueError:
        return since


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
                self.dir_buttons: dict[Direction, QPushButton] = {}
                for d in Direction:
                    b = button(
                        on_click=partial(self._set_direction, d),
                        checkable=True,
                        name=f"cargo_dir_{d.value}",
                    )
                    self.dir_buttons[d] = b
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
        holder = QWidget()
        holder.setLayout(grid)
        self.form_scroll = QScrollArea()
        self.form_scroll.setWidgetResizable(True)
        self.form_scroll.setWidget(holder)
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
        self.model.set_input("cargo.direction", direction.value)
        self.model.cargo_errors.pop("direction", None)
        self.refresh()

    def refresh(self) -> None:
        m = self.model
        if m.amend_ccrn:
            self.title.setText(
                tr("CargoForm", "Amend cargo data of CCRN {ccrn}", ccrn=m.amend_ccrn)
            )
        else:
            self.title.setText(tr("CargoForm", "Submit cargo data (* = required)"))
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
        self.grid = QGridLayout()
        self.box.addLayout(self.grid)
        self.box.addStretch(1)
        self.another = button(on_click=self.model.new_cargo, name="cargo_another")
        self.box.addWidget(self.another)
        self.add_print_row()

    def result_rows(self) -> list[tuple[str, str]]:
        return cargo_rows(self.model.cargo_result) if self.model.cargo_result else []

    def receipt_name(self) -> str:
        return f"cargo_{self.model.cargo_result.ccrn if self.model.cargo_result else ''}"

    def refresh(self) -> None:
        if self.model.cargo_amended:
            self.title.setText(tr("CargoResult", "Cargo data amended"))
        else:
            self.title.setText(tr("CargoResult", "Cargo data submitted. Your CCRN:"))
        rows_grid(self.result_rows(), self.grid, big_first=True)
        self.another.setText(tr("CargoResult", "Submit more cargo data"))
        self.label_print_row()


class AmendCcrnScreen(KioskScreen):
    kind = Screen.AMEND_CCRN

    def build(self) -> None:
        line = QHBoxLayout()
        self.ccrn_label = label()
        line.addWidget(self.ccrn_label, 1)
        line.addWidget(self.field("amend_ccrn", "digits", max_length=10), 1)
        self.box.addLayout(line)
        self.go = button(on_click=self.model.amend_lookup, role="primary", name="find_cargo")
        self.box.addWidget(self.go)
        self.box.addWidget(self.keys_panel())
        self.box.addStretch(1)

    def refresh(self) -> None:
        self.title.setText(tr("AmendCcrn", "Amend: which cargo data?"))
        self.ccrn_label.setText(tr("AmendCcrn", "CCRN (10 digits)"))
        self.go.setText(tr("AmendCcrn", "Find the cargo data"))
        self.sync_fields()


class BatchScreen(KioskScreen):
    kind = Screen.BATCH

    def build(self) -> None:
        self.hint = label(role="hint")
        self.box.addWidget(self.hint)
        self.template = button(on_click=self.model.batch_template, name="batch_template")
        self.box.addWidget(self.template)
        self.files_title = label(role="hint")
        self.box.addWidget(self.files_title)
        self.list_box = QVBoxLayout()
        holder = QWidget()
        holder.setLayout(self.list_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        self.box.addWidget(scroll, 1)

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


class BatchResultScreen(KioskScreen):
    kind = Screen.BATCH_RESULT

    def build(self) -> None:
        self.summary = label(role="hint", name="batch_summary")
        self.box.addWidget(self.summary)
        self.list_box = QVBoxLayout()
        holder = QWidget()
        holder.setLayout(self.list_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        self.box.addWidget(scroll, 1)
        self.done = button(on_click=self.model.finish, role="primary", name="done")
        self.box.addWidget(self.done)

    def refresh(self) -> None:
        ok, bad = self.model.batch_counts
        name = self.model.batch_file.name if self.model.batch_file else ""
        self.title.setText(tr("BatchResult", "Batch upload: {file}", file=name))
        self.summary.setText(
            tr("BatchResult", "{ok} row(s) submitted, {bad} row(s) not submitted.", ok=ok, bad=bad)
        )
        clear_layout(self.list_box)
        for outcome in self.model.batch_outcomes:
            if outcome.ccrn:
                text = tr(
                    "BatchResult", "Row {row}: CCRN {ccrn}", row=outcome.row, ccrn=outcome.ccrn
                )
                role = ""
            else:
                reasons = [
                    f"{field_label(e.field)}: {message(Notice(e.key, e.params)).rstrip('.。')}"
                    for e in outcome.errors
                ]
                if outcome.notice is not None:
                    reasons.append(message(outcome.notice).rstrip(".。"))
                text = tr(
                    "BatchResult",
                    "Row {row}: not submitted: {reasons}",
                    row=outcome.row,
                    reasons=" · ".join(reasons),
                )
                role = "fielderror"
            line = label(text, role=role, name=f"batch_row_{outcome.row}")
            self.list_box.addWidget(line)
        self.list_box.addStretch(1)
        self.done.setText(tr("Result", "Finish"))


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
