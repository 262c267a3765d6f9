"""One simulated centre and one local API for the kiosk tests; a fresh kiosk window per test."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from hardware_sim.launch import CentralProcess
from kiosk.api import KioskClient
from kiosk.flows import Call, Kiosk
from kiosk.qt_app import CATALOGUE, KioskWindow
from kiosk.session import IdleClock
from rocars.timeutil import HK_TZ, utc_now
from tests.fixtures.local_api import LocalApi, serve_local_api, stop_local_api
from tests.kiosk.fixed_centre import cargo_items
from tests.kiosk.hang_up import HangUpCentre
from tests.kiosk.kit import KioskUi
from ui_common.i18n import Translations
from ui_common.languages import Language


def held_kiosk(media: Path, pending: list[Call], now: datetime | None = None) -> Kiosk:
    """A kiosk whose background calls wait in ``pending`` (no centre behind it)."""
    return Kiosk(
        KioskClient("http://127.0.0.1:9"),
        media=media,
        executor=pending.append,
        clock=utc_now if now is None else (lambda: now),
    )


@dataclass
class Backend:
    central: CentralProcess
    api: LocalApi
    accounts: list[dict[str, Any]]

    def account(self, case: str, index: int = 0) -> dict[str, Any]:
        found = [a for a in self.accounts if a["cert_case"] == case and not a["immediate"]]
        return found[index]

    def code(self, account: dict[str, Any]) -> str:
        """A code of the driver's token the centre has not seen (a code works once)."""
        return self.central.security_code(account)

    def new_cargo(self, **changes: Any) -> str:
        """A fresh CCRN (submitted straight to the centre), for a test to bundle."""
        tomorrow = utc_now().astimezone(HK_TZ).date() + timedelta(days=1)
        items = cargo_items(**{"expected_date": tomorrow, **changes})
        return self.api.client.submit_cargo(items).ccrn


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    data = tmp_path_factory.mktemp("kiosk-backend")
    central = CentralProcess(
        data / "central", seed=7, cp="SBC", direction="import", test_clock=True
    )
    central.start()
    api = serve_local_api(central, data / "sync")
    accounts = api.client._call("GET", "/sim/accounts")["accounts"]
    yield Backend(central, api, accounts)
    stop_local_api(api)
    central.stop()


@pytest.fixture
def hang_up_centre() -> Iterator[HangUpCentre]:
    """A centre (or a local API) on loopback that is silent, slow or hangs up."""
    centre = HangUpCentre()
    yield centre
    if centre.thread.is_alive():
        centre.gone()


@pytest.fixture
def media(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    return folder


def copy_cert(backend: Backend, account: dict[str, Any], media: Path) -> Path:
    target = media / Path(account["cert_path"]).name
    shutil.copyfile(account["cert_path"], target)
    return target


@contextmanager
def open_kiosk(
    qtbot: QtBot,
    client: KioskClient,
    media: Path,
    print_dir: Path,
    clock: Callable[[], datetime] = utc_now,
) -> Iterator[KioskUi]:
    """A kiosk window (1920x1080, shown) on ``client``; closed again on the way out."""
    translations = Translations([CATALOGUE], Language.ZH_TW)
    model = Kiosk(client, media=media, idle=IdleClock(warn_after=60, reset_after=90), clock=clock)
    window = KioskWindow(model, translations, print_dir=print_dir, tick_ms=50)
    qtbot.addWidget(window)
    window.resize(1920, 1080)
    window.show()
    qtbot.waitExposed(window)
    yield KioskUi(window, model, qtbot)
    window.close()
    translations.close()
    client.close()


@pytest.fixture
def kiosk(qtbot: QtBot, backend: Backend, media: Path, tmp_path: Path) -> Iterator[KioskUi]:
    if not backend.api.up:  # a test that took the centre down failed before it came back
        backend.api.central_back()
    client = KioskClient(backend.api.url)
    with open_kiosk(qtbot, client, media, tmp_path / "print") as ui:
        yield ui
