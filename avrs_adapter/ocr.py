"""RapidOCR (PP-OCR det + rec on onnxruntime) with the settings measured for plates.

One engine per process, loaded on first use (starting the adapter on a serial reader
never loads the models). The models are the ones inside the rapidocr wheel, passed by
path, so RapidOCR never tries to download anything; if they are missing the engine
fails loudly with ``OcrModelMissing`` instead of fetching at run time.

Measured (docs/avrs-camera.md): ``use_cls=False``, ``Det.limit_type="max"`` with
``limit_side_len`` 320 on a plate crop reads clean plates at ~55 ms; the defaults
(limit ``min`` 736 + the angle classifier) cost 1.4–2.6 s per image.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from avrs_adapter.errors import AvrsError

logger = logging.getLogger(__name__)

DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
CROP_SIDE = 320  # Det.limit_side_len for a plate crop
FRAME_SIDE = 640  # for a whole frame (stills where the finder found nothing)


class OcrError(AvrsError):
    """The OCR engine cannot run."""

    key = "avrs_ocr_error"


class OcrModelMissing(OcrError):
    """The det/rec models are not in the installed rapidocr wheel (nothing is downloaded)."""

    key = "avrs_ocr_model_missing"


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of text: what was read, the recogniser's score 0–1, its box (4 × (x, y))."""

    text: str
    score: float
    box: tuple[tuple[float, float], ...]


def model_dir() -> Path:
    """The ``models`` folder inside the installed rapidocr package."""
    spec = find_spec("rapidocr")
    if spec is None or spec.origin is None:
        raise OcrModelMissing("rapidocr is not installed", path="rapidocr")
    return Path(spec.origin).parent / "models"


def model_paths() -> tuple[Path, Path]:
    """The det and rec model files; ``OcrModelMissing`` if either is absent or empty."""
    folder = model_dir()
    paths = (folder / DET_MODEL, folder / REC_MODEL)
    for path in paths:
        if not path.is_file() or path.stat().st_size < 1024:
            raise OcrModelMissing(
                f"OCR model {path} is missing from the rapidocr wheel; reinstall rapidocr "
                "(the adapter never downloads models at run time)",
                path=str(path),
            )
    return paths


class OcrEngine:
    """A RapidOCR engine with fixed, offline settings. Thread-safe (one call at a time)."""

    def __init__(self, *, threads: int | None = None, det_side: int = CROP_SIDE) -> None:
        try:
            from rapidocr import RapidOCR  # heavy import: only when OCR is really used
        except ImportError as err:  # rapidocr or onnxruntime absent, or a library broken
            raise OcrError(
                f"cannot load the OCR engine: {err}", key="avrs_ocr_unavailable"
            ) from err

        det, rec = model_paths()
        threads = threads if threads is not None else _env_threads()
        params: dict[str, Any] = {
            "Global.use_cls": False,
            "Global.log_level": "warning",
            "Global.model_root_dir": str(det.parent),
            "Det.model_path": str(det),
            "Det.limit_type": "max",
            "Det.limit_side_len": det_side,
            "Rec.model_path": str(rec),
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1 if threads > 0 else -1,
        }
        try:
            # typed Any: RapidOCR's own annotations are partial (untyped loaders, unions)
            ocr: Any = RapidOCR(params=params)
            # load both sessions now so a broken model fails here, not on the first truck
            ocr._load_det_model()
            rec_model = ocr._load_rec_model()
        except Exception as err:  # noqa: BLE001 (see below)
            # onnxruntime's own errors (InvalidProtobuf for a corrupt model, NoSuchFile,
            # Fail) derive from Exception alone, and RapidOCR adds its own: whatever the
            # loader raises, the engine cannot run, and the adapter must say so (exit 2)
            # rather than die with a traceback
            raise OcrError(f"cannot start RapidOCR: {type(err).__name__}: {err}") from err
        if not rec_model.session.have_key():
            # without the character list inside the model RapidOCR would fetch a dict file
            raise OcrModelMissing(f"{rec} has no character list", path=str(rec))
        self._ocr = ocr
        self.det_side = det_side
        self._lock = threading.Lock()
        logger.info(
            "RapidOCR ready (det side %d, threads %s) from %s", det_side, threads, det.parent
        )

    def read(self, image: NDArray[np.uint8], *, det_side: int | None = None) -> list[TextLine]:
        """Detect and recognise the text lines in ``image`` (BGR)."""
        if image.size == 0 or min(image.shape[:2]) < 4:
            return []
        with self._lock:
            det = self._ocr._load_det_model()
            side = det_side or self.det_side
            det.limit_side_len = side  # read by the detector's pre-processing on each call
            result = self._ocr(image)
        txts = getattr(result, "txts", None)
        if not txts:
            return []
        boxes = result.boxes
        scores = result.scores
        return [
            TextLine(
                str(text),
                float(score),
                tuple((float(x), float(y)) for x, y in np.asarray(box).reshape(-1, 2)),
            )
            for text, score, box in zip(txts, scores, boxes, strict=False)
        ]

    def recognise(self, lines: list[NDArray[np.uint8]]) -> list[tuple[str, float]]:
        """Recognise already-cropped single text lines, in one batch: text and score each."""
        from rapidocr.ch_ppocr_rec import TextRecInput

        keep = [img for img in lines if img.size and min(img.shape[:2]) >= 4]
        if not keep:
            return [("", 0.0) for _ in lines]
        with self._lock:
            result = self._ocr._load_rec_model()(TextRecInput(img=keep))
        texts = iter(zip(result.txts or (), result.scores or (), strict=False))
        return [
            next(texts, ("", 0.0)) if img.size and min(img.shape[:2]) >= 4 else ("", 0.0)
            for img in lines
        ]


def _env_threads() -> int:
    """``ROCARS_OCR_THREADS`` (onnxruntime intra-op threads), default -1: onnxruntime decides."""
    value = os.environ.get("ROCARS_OCR_THREADS", "-1")
    try:
        return int(value)
    except ValueError:
        logger.warning("ROCARS_OCR_THREADS=%r is not a number; using the default", value)
        return -1


_engine: OcrEngine | None = None
_engine_lock = threading.Lock()


def engine() -> OcrEngine:
    """The process's OCR engine, created on first use."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = OcrEngine()
    return _engine
