"""The OCR engine's loading: whatever fails, an ``OcrError`` the adapter reports (exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from avrs_adapter import ocr
from avrs_adapter.ocr import OcrEngine, OcrError


def test_a_corrupt_model_is_an_ocr_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime says InvalidProtobuf, an Exception but no RuntimeError: it used to
    escape as a traceback from the adapter's start."""
    det, rec = tmp_path / ocr.DET_MODEL, tmp_path / ocr.REC_MODEL
    det.write_bytes(b"\x00not a model" * 200)
    rec.write_bytes(b"\x00not a model" * 200)
    monkeypatch.setattr(ocr, "model_paths", lambda: (det, rec))
    with pytest.raises(OcrError) as err:
        OcrEngine(threads=1)
    assert err.value.key == "avrs_ocr_error"
    assert "cannot start RapidOCR" in str(err.value)
    assert type(err.value.__cause__).__name__ in str(err.value)


def test_rapidocr_that_cannot_be_imported_is_an_ocr_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "rapidocr", None)  # import raises ImportError
    with pytest.raises(OcrError) as err:
        OcrEngine(threads=1)
    assert err.value.key == "avrs_ocr_unavailable"
