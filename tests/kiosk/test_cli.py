"""``rocars-edge kiosk``: options, and a headless start against the real local API."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.cli import main
from rocars.cli import main as rocars_main
from tests.kiosk.conftest import Backend

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


def test_help_without_a_display(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        rocars_main(["kiosk", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "--api" in out
    assert "--media" in out
    assert "--headless" in out


def test_bad_idle_times_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--headless", "--idle-warn", "90", "--idle-reset", "60"]) == 2
    assert "idle" in capsys.readouterr().err


def test_headless_start(
    qapp: object, backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--headless",
            "--api",
            backend.api.url,
            "--media",
            str(tmp_path),
            "--print-dir",
            str(tmp_path / "p"),
        ]
    )
    assert code == 0
    assert "22 screens" in capsys.readouterr().out
