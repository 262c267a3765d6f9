"""USB sticks under ``--media``: where batch files, certificates and the template are
looked for (udisks mounts a stick at MEDIA/LABEL), a walk that stays bounded, and files
that are links, FIFOs or too many.

A mount point is stood in for by ``os.path.ismount`` saying so for the test's folders.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hardware_sim.certs import DriverCert, create_driver_certs
from kiosk.api import KioskClient
from kiosk.batch import BatchFileError, list_batch_files, read_batch
from kiosk.certs import CertificateError, list_certificates, sign_with_certificate
from kiosk.flows import Kiosk

NOW = datetime(2026, 11, 21, 6, 30, tzinfo=UTC)
HEADER = "packages,package_description,article_description,consignor_name,consignor_address,consignee_name,consignee_address,expected_date,direction\n"  # fmt: skip


@pytest.fixture
def mounted(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], Path]:
    """Makes a folder a mount point, as far as ``os.path.ismount`` says."""
    mounts: set[str] = set()
    real = os.path.ismount

    def ismount(path: Any) -> bool:
        return os.fspath(path) in mounts or real(path)

    monkeypatch.setattr(os.path, "ismount", ismount)

    def mount(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        mounts.add(os.fspath(folder))
        return folder

    return mount


def kiosk_on(media: Path) -> Kiosk:
    model = Kiosk(KioskClient("http://127.0.0.1:9"), media=media, clock=lambda: NOW)
    model.start_shipper()
    return model


def test_a_stick_mounted_under_the_media_folder_is_found(
    tmp_path: Path, mounted: Callable[[Path], Path]
) -> None:
    """``--media /media/rocars-kiosk``, the stick at /media/rocars-kiosk/KINGSTON: its batch
    files and certificates are listed, and the template goes to the stick's root. Before,
    batch files were looked for in the media folder itself (none there), and the template
    written there, where nobody would find it."""
    media = tmp_path / "rocars-kiosk"
    stick = mounted(media / "KINGSTON")
    (stick / "shipments.csv").write_text(HEADER, encoding="utf-8")
    (stick / "certs").mkdir()
    (stick / "certs" / "me.p12").write_bytes(b"x")
    assert list_batch_files(media) == [stick / "shipments.csv"]
    assert list_certificates(media) == [stick / "certs" / "me.p12"]
    model = kiosk_on(media)
    model.batch_start()
    assert model.batch_files == [stick / "shipments.csv"]
    model.batch_template()
    assert model.notice is not None
    assert model.notice.key == "template_saved", model.notice
    assert sorted(p.name for p in stick.iterdir() if p.is_file()) == [
        "rocars_cargo_template.csv",
        "rocars_cargo_template.xlsx",
        "shipments.csv",
    ]
    assert sorted(p.name for p in media.iterdir()) == ["KINGSTON"]  # nothing beside it


def test_two_sticks_and_a_stick_mounted_at_the_media_folder(
    tmp_path: Path, mounted: Callable[[Path], Path]
) -> None:
    media = tmp_path / "media"
    first, second = mounted(media / "A_STICK"), mounted(media / "b_stick")
    (media / "not_a_stick").mkdir()
    (media / "not_a_stick" / "x.csv").write_text(HEADER, encoding="utf-8")
    (second / "y.csv").write_text(HEADER, encoding="utf-8")
    (first / "z.xlsx").write_bytes(b"x")
    assert list_batch_files(media) == [first / "z.xlsx", second / "y.csv"]
    model = kiosk_on(media)
    model.batch_start()
    model.batch_template()
    assert (first / "rocars_cargo_template.csv").is_file()  # the first stick's root
    # an empty stick mounted at the media folder itself (fstab): the template goes there
    only = mounted(tmp_path / "fstab")
    model = kiosk_on(only)
    model.batch_start()
    model.batch_template()
    assert model.notice is not None
    assert model.notice.key == "template_saved"
    assert (only / "rocars_cargo_template.xlsx").is_file()


def test_no_stick_is_said_and_nothing_is_written(tmp_path: Path) -> None:
    """An empty media folder that is no mount point (udisks' folder, no stick in): "no
    USB stick", not a template written to the kiosk's own disk."""
    media = tmp_path / "rocars-kiosk"
    media.mkdir()
    model = kiosk_on(media)
    model.batch_start()
    assert model.batch_files == []
    model.batch_template()
    assert model.notice is not None
    assert model.notice.key == "media_no_stick"
    assert list(media.iterdir()) == []
    model = kiosk_on(tmp_path / "missing")
    model.batch_start()
    model.batch_template()
    assert model.notice is not None
    assert model.notice.key == "media_no_stick"
    assert not (tmp_path / "missing").exists()


@pytest.fixture
def entries_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every directory entry any ``os.scandir`` yields (pathlib's walks use it too)."""
    seen: list[str] = []
    real = os.scandir

    class Counting:
        def __init__(self, it: Any) -> None:
            self.it = it

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self.it.close()

        def __iter__(self) -> Counting:
            return self

        def __next__(self) -> Any:
            entry = next(self.it)
            seen.append(entry.name)
            return entry

        def close(self) -> None:
            self.it.close()

    monkeypatch.setattr(os, "scandir", lambda path=".": Counting(real(path)))
    return seen


def test_a_stick_with_many_files_is_not_read_whole(tmp_path: Path, entries_read: list[str]) -> None:
    """The certificate list is made on the GUI thread: a stick of 100 000 files froze the
    screen while every name was read and sorted. The walk now ends after
    ``kiosk.media.MAX_ENTRIES`` names (5000), and goes ``kiosk.certs.MAX_DEPTH`` (4)
    folders down at most."""
    stick = tmp_path / "stick"
    deep = stick.joinpath(*"abcdefgh")
    deep.mkdir(parents=True)
    (deep / "deep.p12").write_bytes(b"x")
    (stick / "a").joinpath("one.p12").write_bytes(b"x")
    (stick / "top.p12").write_bytes(b"x")
    many = stick / "photos"
    many.mkdir()
    for i in range(8000):
        (many / f"{i:05}.jpg").touch()
    found = list_certificates(stick)
    # the walk's 5000, and the few names of the stick's root looked at for mount points
    assert len(entries_read) <= 5000 + 10, f"{len(entries_read)} names read"
    assert stick / "top.p12" in found
    assert deep / "deep.p12" not in found  # 8 folders down


def test_links_and_fifos_on_a_stick_are_not_listed(tmp_path: Path) -> None:
    """A link may point anywhere on the kiosk (or at a FIFO, a /proc file): not followed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.p12").write_bytes(b"x")
    (outside / "rows.csv").write_text(HEADER, encoding="utf-8")
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "mine.p12").write_bytes(b"x")
    (stick / "mine.csv").write_text(HEADER, encoding="utf-8")
    (stick / "link.p12").symlink_to(outside / "secret.p12")
    (stick / "link.csv").symlink_to(outside / "rows.csv")
    (stick / "folder").symlink_to(outside, target_is_directory=True)
    os.mkfifo(stick / "fifo.p12")
    os.mkfifo(stick / "fifo.csv")
    assert list_certificates(stick) == [stick / "mine.p12"]
    assert list_batch_files(stick) == [stick / "mine.csv"]


def test_macos_shadow_files_and_excel_lock_files_are_not_listed(tmp_path: Path) -> None:
    """A stick that was in a Mac holds ``._rows.csv`` beside ``rows.csv`` (resource data,
    not a CSV), and one whose workbook is open in Excel ``~$rows.xlsx`` (a lock file):
    listed, each was one more wrong file to choose."""
    stick = tmp_path / "stick"
    stick.mkdir()
    for name in ("rows.csv", "rows.xlsx", "me.p12"):
        (stick / name).write_bytes(b"x")
    for name in ("._rows.csv", "._rows.xlsx", "~$rows.xlsx", "._me.p12"):
        (stick / name).write_bytes(b"\x00\x05\x16\x07")
    assert [p.name for p in list_batch_files(stick)] == ["rows.csv", "rows.xlsx"]
    assert [p.name for p in list_certificates(stick)] == ["me.p12"]


def _in_time(work: Callable[[], object], fifo: Path, seconds: float = 5.0) -> object:
    """``work()``'s outcome (its exception, if it raised), failing if it does not end in
    ``seconds`` (then the FIFO is opened for writing and closed, so the work ends)."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(work())
        except Exception as err:  # noqa: BLE001 - the outcome is what is checked
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # a reader waits: this opens
        os.close(fd)
        thread.join(5)
        pytest.fail(f"{fifo.name} held the worker for {seconds} s")
    return outcome[0]


def test_a_fifo_or_a_link_is_not_opened(tmp_path: Path) -> None:
    """A FIFO named like a certificate or a batch file: opening it waited for a writer
    for ever, holding the worker (and the screen's "Please wait"). A link to a real
    certificate is refused too (it may be any file of the kiosk's)."""
    fifo = tmp_path / "cert.p12"
    os.mkfifo(fifo)
    refused = _in_time(lambda: sign_with_certificate(fifo, "1", "bundle", {}, NOW), fifo)
    assert isinstance(refused, CertificateError)
    assert refused.key == "cert_unreadable"
    fifo_csv = tmp_path / "rows.csv"
    os.mkfifo(fifo_csv)
    refused = _in_time(lambda: read_batch(fifo_csv, NOW), fifo_csv)
    assert isinstance(refused, BatchFileError)
    assert refused.key == "batch_unreadable"

    real = create_driver_certs(
        tmp_path / "ca",
        [DriverCert("123456", "A", "246810", "valid")],
        datetime.now(UTC),
        lambda serial: None,
    )["123456"]
    link = tmp_path / "link.p12"
    link.symlink_to(real)
    with pytest.raises(CertificateError) as refused_link:
        sign_with_certificate(link, "246810", "bundle", {}, datetime.now(UTC))
    assert refused_link.value.key == "cert_unreadable"
    sign_with_certificate(real, "246810", "bundle", {}, datetime.now(UTC))  # the file itself
