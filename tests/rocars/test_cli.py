"""``rocars-edge``: the dispatcher lists only commands it can run."""

from __future__ import annotations

import importlib.util

import pytest

from rocars import cli


@pytest.mark.parametrize("name", sorted(cli.SUBCOMMANDS))
def test_every_listed_command_has_its_module(name: str) -> None:
    module = cli.SUBCOMMANDS[name][0]
    assert importlib.util.find_spec(module) is not None, f"{name}: no module {module}"


def test_sim_is_not_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    """``sim`` named a console module that is not there (ModuleNotFoundError); the virtual
    devices and scenarios it promised are ``rocars-edge up``."""
    assert "sim " not in cli.usage()
    assert cli.main(["sim"]) == 2
    assert "unknown command 'sim'" in capsys.readouterr().err
