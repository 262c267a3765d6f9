"""``rocars-edge avrs read``: plates read from generated stills, bad files reported."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from avrs_adapter import stills
from hardware_sim import plate_dataset
from hardware_sim.synthetic_camera import Truck, compose
from rocars import cli


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[plate_dataset.Label]]:
    folder = tmp_path_factory.mktemp("stills")
    labels = plate_dataset.generate(folder, clean=3, hard=3, seed=11, cross_boundary=0.6)
    return folder, labels


def lines(capsys: pytest.CaptureFixture[str]) -> list[list[str]]:
    return [line.split("\t") for line in capsys.readouterr().out.splitlines()]


def test_reads_the_plates_of_generated_stills(
    dataset: tuple[Path, list[plate_dataset.Label]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, labels = dataset
    files = [str(folder / label.file) for label in labels]
    assert stills.main([*files, "--alternates"]) == 0
    out = lines(capsys)
    assert [row[0] for row in out] == files
    assert [row[1] for row in out] == [label.vrn for label in labels]
    for row, label in zip(out, labels, strict=True):
        assert 0.5 <= float(row[2]) <= 1.0
        if label.mainland and label.set == "clean":
            assert label.mainland in row[3]
    assert any(label.mainland and label.set == "clean" for label in labels)  # the check ran


def test_unreadable_files_get_an_error_line_and_exit_1(
    dataset: tuple[Path, list[plate_dataset.Label]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, labels = dataset
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    missing = tmp_path / "missing.png"
    good = folder / labels[0].file
    argv = [str(empty), str(text), str(missing), str(tmp_path), str(good)]
    assert stills.main(["read", *argv]) == 1
    out = lines(capsys)
    assert [row[0] for row in out] == argv
    assert [row[1] for row in out[:4]] == ["", "", "", ""]
    for row, key in zip(
        out,
        ["image_empty", "image_undecodable", "image_not_found", "image_not_a_file"],
        strict=False,
    ):
        assert row[2].startswith(f"error: {key}")
    assert out[4][1] == labels[0].vrn  # a bad file does not stop the others


def test_no_plate_gives_an_empty_plate_and_exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    black = tmp_path / "black.png"
    cv2.imwrite(str(black), np.zeros((360, 640, 3), np.uint8))
    lane = tmp_path / "lane.png"
    cv2.imwrite(str(lane), compose(None, size=(640, 360)))
    assert stills.main([str(black), str(lane)]) == 0
    assert lines(capsys) == [[str(black), "", "0.00"], [str(lane), "", "0.00"]]


def test_grammar_any_keeps_foreign_letters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "foreign.png"
    cv2.imwrite(str(path), compose(Truck("WOLF 99"), size=(960, 540), plate_width=220))
    assert stills.main([str(path), "--grammar", "any"]) == 0
    assert stills.main([str(path)]) == 0
    out = lines(capsys)
    assert [row[1] for row in out] == ["WOLF99", "W0LF99"]


def test_rocars_edge_avrs_read_dispatches_here(
    dataset: tuple[Path, list[plate_dataset.Label]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, labels = dataset
    assert cli.main(["avrs", "read", str(folder / labels[1].file)]) == 0
    assert lines(capsys)[0][1] == labels[1].vrn
    assert stills.main(["--grammar", "klingon", "x.png"]) == 2
