"""``rocars-edge central`` options: tokens, the accounts table, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware_sim.central import parse_tokens
from hardware_sim.cli import accounts_table, build_parser, config_from_args, main
from hardware_sim.demo import generate_demo
from hardware_sim.store import CentralError
from rocars.brokertls import site_tls
from tests.hardware_sim.test_demo import NOW


def test_tokens_from_flags_or_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_tokens(["SBC=a", "lmc=b,4=c"]) == {"a": "SBC", "b": "LMC", "c": "SBC"}
    with pytest.raises(CentralError, match="CP=TOKEN"):
        parse_tokens(["SBC"])
    monkeypatch.setenv("ROCARS_CENTRAL_TOKENS", "SBC=tok1,LMC=tok2")
    args = build_parser().parse_args(["--data", str(tmp_path)])
    assert config_from_args(args).token_map() == {"tok1": "SBC", "tok2": "LMC"}
    args = build_parser().parse_args(["--data", str(tmp_path), "--token", "HYW=x"])
    assert config_from_args(args).token_map() == {"x": "HYW"}
    monkeypatch.delenv("ROCARS_CENTRAL_TOKENS")
    args = build_parser().parse_args(["--data", str(tmp_path), "--cp", "LMC"])
    assert config_from_args(args).token_map() == {"dev-central-token": "LMC"}


def test_bad_options_exit_2_and_touch_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["--cp", "XYZ"], ["--token", "nope"], ["--inspect-share", "2"]):
        assert main(["--data", str(tmp_path / "d"), *argv]) == 2
        assert not (tmp_path / "d").exists()
    assert "cp_invalid" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("tokens", "said"),
    [
        ("SBC=tok1,hunter2-secret", "token entry 2 must be CP=TOKEN: it has no '='"),
        ("SBC=tok1,,LMC=", "token entry 3 must be CP=TOKEN: its token is empty"),
        ("hunter2-secret=SBC", "token entry 1 must be CP=TOKEN: its CP is not a control point"),
    ],
    ids=["no-equals", "empty-token", "the-wrong-way-round"],
)
def test_a_bad_token_entry_is_named_by_its_number_never_echoed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tokens: str,
    said: str,
) -> None:
    """ROCARS_CENTRAL_TOKENS holds tokens: a mistake in it must not put one on the
    terminal or in the journal."""
    monkeypatch.setenv("ROCARS_CENTRAL_TOKENS", tokens)
    assert main(["--data", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert said in err
    assert "hunter2" not in err
    assert "tok1" not in err
    assert not (tmp_path / "d").exists()


def test_accounts_table_lists_every_driver() -> None:
    demo = generate_demo(7, "SBC", "import", NOW)
    rows = [{**a.__dict__} for a in demo.accounts]
    table = accounts_table(rows).splitlines()
    assert len(table) == 2 + len(rows)
    for row, line in zip(rows, table[2:], strict=True):
        assert line.startswith(row["account"])
        assert row["password"] in line
        assert row["totp_secret"] in line


def test_the_test_clock_is_off_unless_asked_for(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--data", str(tmp_path)])
    assert config_from_args(args).test_clock is False
    args = build_parser().parse_args(["--data", str(tmp_path), "--test-clock"])
    assert config_from_args(args).test_clock is True


def test_tls_files_that_do_not_go_together_exit_2_and_touch_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pki = tmp_path / "pki"
    site_tls(pki, "centre", ["127.0.0.1"], leaf=("centre.crt", "centre.key"))
    data = ["--data", str(tmp_path / "d")]
    assert main([*data, "--tls-cert", str(pki / "centre.crt")]) == 2
    assert "--tls-cert and --tls-key go together" in capsys.readouterr().err
    assert (
        main([*data, "--tls-cert", str(pki / "centre.crt"), "--tls-key", str(pki / "ca.key")]) == 2
    )
    assert "is not the key of the certificate in" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_a_data_path_that_is_a_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "a-file"
    file.write_text("x")
    assert main(["--data", str(file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rocars-edge central: --data")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_a_port_out_of_range_exits_2(
    port: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--data", str(tmp_path / "d"), "--port", port])
    assert exited.value.code == 2
    assert "not a TCP port" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_an_unknown_log_level_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROCARS_LOG_LEVEL", "verbose")
    assert main(["--data", str(tmp_path / "d")]) == 2
    assert "ROCARS_LOG_LEVEL=verbose is not a log level" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("option", ["--seed", "--clean", "--hard"])
def test_plate_dataset_refuses_a_negative_number(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m hardware_sim.plate_dataset OUT --seed -1``: numpy's seeds are never
    negative; an argparse error, not numpy's traceback."""
    from hardware_sim import plate_dataset

    with pytest.raises(SystemExit) as exited:
        plate_dataset.main([str(tmp_path / "out"), "--clean", "1", "--hard", "0", option, "-1"])
    assert exited.value.code == 2
    assert "0 or more" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
