"""Every text the kiosk shows that comes from a key: messages, field names, control points.

The flow model speaks in stable keys (``ccrn_not_found``); these are marked here with
``QT_TRANSLATE_NOOP`` so the Linguist catalogues carry them (context ``Messages``,
``Field``, ``ControlPoint``, ``Direction``), and translated at the moment they are shown.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QCoreApplication

from kiosk.flows import hk_time
from kiosk.session import Notice
from rocars.ids import ControlPoint, Direction
from rocars.models import Bundle, BundleStatus, Cargo, CargoStatus
from ui_common.i18n import tr

logger = logging.getLogger(__name__)


def QT_TRANSLATE_NOOP(context: str, source: str) -> str:  # noqa: N802 (Qt's marker name)
    """Marks ``source`` for the catalogues (ui_common.linguist finds this name); no-op."""
    return source


MESSAGE_KEYS: tuple[str, ...] = (
    # the kiosk's own checks
    QT_TRANSLATE_NOOP("Messages", "account_invalid"),
    QT_TRANSLATE_NOOP("Messages", "password_required"),
    QT_TRANSLATE_NOOP("Messages", "ccrn_invalid"),
    QT_TRANSLATE_NOOP("Messages", "ubr_invalid"),
    QT_TRANSLATE_NOOP("Messages", "vrn_invalid"),
    QT_TRANSLATE_NOOP("Messages", "vrn_again_required"),
    QT_TRANSLATE_NOOP("Messages", "vrn_mismatch"),
    QT_TRANSLATE_NOOP("Messages", "ccrn_duplicate"),
    QT_TRANSLATE_NOOP("Messages", "ccrn_in_another_bundle"),
    QT_TRANSLATE_NOOP("Messages", "ccrn_added"),
    QT_TRANSLATE_NOOP("Messages", "too_many_ccrns"),
    QT_TRANSLATE_NOOP("Messages", "ccrns_empty"),
    QT_TRANSLATE_NOOP("Messages", "cp_required"),
    QT_TRANSLATE_NOOP("Messages", "direction_required"),
    QT_TRANSLATE_NOOP("Messages", "security_code_format"),
    QT_TRANSLATE_NOOP("Messages", "pin_required"),
    QT_TRANSLATE_NOOP("Messages", "pin_wrong"),
    QT_TRANSLATE_NOOP("Messages", "cert_none_found"),
    QT_TRANSLATE_NOOP("Messages", "cert_unreadable"),
    # a .p12 with no PIN: anyone holding the file could sign with it (kiosk.certs)
    QT_TRANSLATE_NOOP("Messages", "cert_no_pin"),
    QT_TRANSLATE_NOOP("Messages", "cert_not_yet_valid"),
    QT_TRANSLATE_NOOP("Messages", "form_has_errors"),
    QT_TRANSLATE_NOOP("Messages", "field_required"),
    QT_TRANSLATE_NOOP("Messages", "field_too_long"),
    QT_TRANSLATE_NOOP("Messages", "field_not_number"),
    QT_TRANSLATE_NOOP("Messages", "field_out_of_range"),
    QT_TRANSLATE_NOOP("Messages", "field_bad_date"),
    QT_TRANSLATE_NOOP("Messages", "field_bad_direction"),
    QT_TRANSLATE_NOOP("Messages", "field_invalid"),
    QT_TRANSLATE_NOOP("Messages", "container_invalid"),
    QT_TRANSLATE_NOOP("Messages", "expected_date_out_of_window"),
    QT_TRANSLATE_NOOP("Messages", "template_saved"),
    QT_TRANSLATE_NOOP("Messages", "media_not_writable"),
    QT_TRANSLATE_NOOP("Messages", "media_no_stick"),
    QT_TRANSLATE_NOOP("Messages", "media_not_answering"),
    QT_TRANSLATE_NOOP("Messages", "batch_unreadable"),
    QT_TRANSLATE_NOOP("Messages", "batch_csv_not_utf8"),
    QT_TRANSLATE_NOOP("Messages", "batch_csv_bad_line"),
    QT_TRANSLATE_NOOP("Messages", "batch_duplicate_header"),
    QT_TRANSLATE_NOOP("Messages", "batch_too_large"),
    QT_TRANSLATE_NOOP("Messages", "batch_too_complex"),
    QT_TRANSLATE_NOOP("Messages", "batch_too_many_rows"),
    QT_TRANSLATE_NOOP("Messages", "batch_empty"),
    QT_TRANSLATE_NOOP("Messages", "batch_bad_header"),
    # the batch's results, saved beside its file on the stick (or not)
    QT_TRANSLATE_NOOP("Messages", "batch_results_saved"),
    QT_TRANSLATE_NOOP("Messages", "batch_results_not_saved"),
    QT_TRANSLATE_NOOP("Messages", "receipt_printed"),
    QT_TRANSLATE_NOOP("Messages", "print_failed"),
    QT_TRANSLATE_NOOP("Messages", "kiosk_offline"),
    QT_TRANSLATE_NOOP("Messages", "kiosk_error"),
    QT_TRANSLATE_NOOP("Messages", "error_unknown"),
    # the local API and the centre
    QT_TRANSLATE_NOOP("Messages", "central_unavailable"),
    QT_TRANSLATE_NOOP("Messages", "central_unavailable_maybe_applied"),
    # ... when it was new cargo data: no CCRN to check with (kiosk.flows)
    QT_TRANSLATE_NOOP("Messages", "cargo_maybe_submitted"),
    QT_TRANSLATE_NOOP("Messages", "validation_error"),
    QT_TRANSLATE_NOOP("Messages", "payload_too_large"),
    QT_TRANSLATE_NOOP("Messages", "credentials_invalid"),
    QT_TRANSLATE_NOOP("Messages", "security_code_invalid"),
    QT_TRANSLATE_NOOP("Messages", "security_code_used"),
    QT_TRANSLATE_NOOP("Messages", "account_locked"),
    QT_TRANSLATE_NOOP("Messages", "too_many_attempts"),
    QT_TRANSLATE_NOOP("Messages", "cert_expired"),
    QT_TRANSLATE_NOOP("Messages", "cert_revoked"),
    QT_TRANSLATE_NOOP("Messages", "cert_untrusted"),
    QT_TRANSLATE_NOOP("Messages", "cert_not_for_signing"),
    QT_TRANSLATE_NOOP("Messages", "cert_signature_invalid"),
    QT_TRANSLATE_NOOP("Messages", "cert_signature_stale"),
    QT_TRANSLATE_NOOP("Messages", "cert_signature_used"),
    QT_TRANSLATE_NOOP("Messages", "cert_account_mismatch"),
    QT_TRANSLATE_NOOP("Messages", "ccrn_not_found"),
    QT_TRANSLATE_NOOP("Messages", "ubr_not_found"),
    # ... and from the control point's copy while the centre is down (kiosk.flows)
    QT_TRANSLATE_NOOP("Messages", "ccrn_not_found_stale"),
    QT_TRANSLATE_NOOP("Messages", "ubr_not_found_stale"),
    QT_TRANSLATE_NOOP("Messages", "ccrn_not_found_never_synced"),
    QT_TRANSLATE_NOOP("Messages", "ubr_not_found_never_synced"),
    QT_TRANSLATE_NOOP("Messages", "cargo_bundled"),
    QT_TRANSLATE_NOOP("Messages", "ccrn_already_bundled"),
    QT_TRANSLATE_NOOP("Messages", "ccrn_not_in_bundle"),
    QT_TRANSLATE_NOOP("Messages", "ccrn_direction_mismatch"),
    QT_TRANSLATE_NOOP("Messages", "ccrn_vrn_mismatch"),
    QT_TRANSLATE_NOOP("Messages", "bundle_not_active"),
    QT_TRANSLATE_NOOP("Messages", "bundle_not_yours"),
    QT_TRANSLATE_NOOP("Messages", "numbers_exhausted"),
    QT_TRANSLATE_NOOP("Messages", "unauthorized"),
)

FIELD_LABELS: dict[str, str] = {
    "packages": QT_TRANSLATE_NOOP("Field", "Number of packages"),
    "package_description": QT_TRANSLATE_NOOP("Field", "Description of packages"),
    "article_description": QT_TRANSLATE_NOOP("Field", "Description of articles"),
    "consignor_name": QT_TRANSLATE_NOOP("Field", "Consignor name"),
    "consignor_address": QT_TRANSLATE_NOOP("Field", "Consignor address"),
    "consignee_name": QT_TRANSLATE_NOOP("Field", "Consignee name"),
    "consignee_address": QT_TRANSLATE_NOOP("Field", "Consignee address"),
    "expected_date": QT_TRANSLATE_NOOP("Field", "Expected date of arrival/departure"),
    "direction": QT_TRANSLATE_NOOP("Field", "Import or export"),
    "vrn": QT_TRANSLATE_NOOP("Field", "Vehicle registration number"),
    "container_no": QT_TRANSLATE_NOOP("Field", "Container number"),
    "licence_no": QT_TRANSLATE_NOOP("Field", "Licence / permit number"),
    "transhipment": QT_TRANSLATE_NOOP("Field", "Transhipment details"),
    "ubr": QT_TRANSLATE_NOOP("Field", "UBR"),
    "ccrn": QT_TRANSLATE_NOOP("Field", "CCRN"),
    "ccrns": QT_TRANSLATE_NOOP("Field", "CCRNs"),
    "cp": QT_TRANSLATE_NOOP("Field", "Control point"),
    "bundled_at": QT_TRANSLATE_NOOP("Field", "Bundling time"),
    "earliest_at": QT_TRANSLATE_NOOP("Field", "Earliest crossing time"),
    "status": QT_TRANSLATE_NOOP("Field", "Status"),
    "account": QT_TRANSLATE_NOOP("Field", "Account number"),
    "password": QT_TRANSLATE_NOOP("Field", "Password"),
    "code": QT_TRANSLATE_NOOP("Field", "Security code"),
    "pin": QT_TRANSLATE_NOOP("Field", "PIN"),
}

CP_NAMES: dict[ControlPoint, str] = {
    ControlPoint.STK: QT_TRANSLATE_NOOP("ControlPoint", "Sha Tau Kok"),
    ControlPoint.MKT: QT_TRANSLATE_NOOP("ControlPoint", "Man Kam To"),
    ControlPoint.LMC: QT_TRANSLATE_NOOP("ControlPoint", "Lok Ma Chau"),
    ControlPoint.SBC: QT_TRANSLATE_NOOP("ControlPoint", "Shenzhen Bay"),
    ControlPoint.HZM: QT_TRANSLATE_NOOP("ControlPoint", "HZMB Hong Kong Port (Mainland)"),
    ControlPoint.HZO: QT_TRANSLATE_NOOP("ControlPoint", "HZMB Hong Kong Port (Macao)"),
    ControlPoint.HYW: QT_TRANSLATE_NOOP("ControlPoint", "Heung Yuen Wai"),
}

DIRECTION_NAMES: dict[Direction, str] = {
    Direction.IMPORT: QT_TRANSLATE_NOOP("Direction", "Import (into Hong Kong)"),
    Direction.EXPORT: QT_TRANSLATE_NOOP("Direction", "Export (out of Hong Kong)"),
}

STATUS_NAMES: dict[str, str] = {
    BundleStatus.ACTIVE.value: QT_TRANSLATE_NOOP("Status", "Active"),
    BundleStatus.CANCELLED.value: QT_TRANSLATE_NOOP("Status", "Cancelled"),
    # not "crossed": nothing said of a used bundle may read as if a truck could cross on it
    BundleStatus.USED.value: QT_TRANSLATE_NOOP("Status", "Used already"),
    CargoStatus.SUBMITTED.value: QT_TRANSLATE_NOOP("Status", "Submitted, not bundled"),
    CargoStatus.BUNDLED.value: QT_TRANSLATE_NOOP("Status", "Bundled"),
}


def message(notice: Notice) -> str:
    """A notice in the installed language; an unknown key still tells the person something."""
    params = dict(notice.params)
    if "field" in params and params["field"] in FIELD_LABELS:
        params["field"] = field_label(params["field"])
    if notice.key not in MESSAGE_KEYS:
        logger.warning("no translation for message key %r", notice.key)
        return tr("Messages", "error_unknown", key=notice.key)
    params.setdefault("key", notice.key)
    text = QCoreApplication.translate("Messages", notice.key)
    try:
        return text.format_map(_Defaulting(params))
    except (ValueError, IndexError):
        logger.warning("translation of %r breaks its placeholders", notice.key)
        return notice.key


class _Defaulting(dict[str, str]):
    """Placeholders the error did not carry show as empty, never as a crash."""

    def __missing__(self, key: str) -> str:
        return ""


def field_label(name: str) -> str:
    source = FIELD_LABELS.get(name)
    return tr("Field", source) if source else name


def cp_name(cp: ControlPoint) -> str:
    return tr("ControlPoint", CP_NAMES[cp])


def direction_name(direction: Direction) -> str:
    return tr("Direction", DIRECTION_NAMES[direction])


def status_name(status: str) -> str:
    source = STATUS_NAMES.get(status)
    return tr("Status", source) if source else status


def bundle_rows(bundle: Bundle) -> list[tuple[str, str]]:
    """What a bundle's result shows, on screen and on the receipt (times in Hong Kong time).

    A cancelled or used bundle has no earliest crossing time to show: it lets no truck
    cross any more, and a time on it would read as if it did."""
    earliest = (
        [(field_label("earliest_at"), f"{hk_time(bundle.earliest_at, up=True)} HKT")]
        if bundle.status == BundleStatus.ACTIVE
        else []
    )
    return [
        (field_label("ubr"), bundle.ubr),
        (field_label("status"), status_name(bundle.status.value)),
        (field_label("bundled_at"), f"{hk_time(bundle.bundled_at)} HKT"),
        *earliest,
        (field_label("vrn"), bundle.vrn),
        (field_label("cp"), cp_name(bundle.cp)),
        (field_label("direction"), direction_name(bundle.direction)),
        (field_label("ccrns"), ", ".join(bundle.ccrns)),
    ]


def cargo_rows(cargo: Cargo) -> list[tuple[str, str]]:
    items = cargo.items
    rows = [
        (field_label("ccrn"), cargo.ccrn),
        (field_label("status"), status_name(cargo.status.value)),
        (field_label("packages"), f"{items.packages} {items.package_description}"),
        (field_label("article_description"), items.article_description),
        (field_label("consignor_name"), items.consignor_name),
        (field_label("consignee_name"), items.consignee_name),
        (field_label("expected_date"), items.expected_date.isoformat()),
        (field_label("direction"), direction_name(items.direction)),
    ]
    if items.vrn:
        rows.append((field_label("vrn"), items.vrn))
    if cargo.ubr:
        rows.append((field_label("ubr"), cargo.ubr))
    return rows
