"""One frame to the plates in it: finder candidates, OCR on their crops, the plate grammar.

Shared by the live camera (``camera.py``), ``rocars-edge avrs read`` (``stills.py``) and
the benchmark, so they all measure the same thing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from avrs_adapter import grammar as plate_grammar
from avrs_adapter.grammar import Grammar, PlateText
from avrs_adapter.ocr import FRAME_SIDE, OcrEngine
from avrs_adapter.plate_finder import Candidate, Frame, crop, find_plates


@dataclass(frozen=True, slots=True)
class FrameRead:
    """What one frame gave: plates best first, the candidates tried, and what it cost."""

    plates: list[PlateText] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    ocr_lines: list[tuple[str, float]] = field(default_factory=list)
    finder_ms: float = 0.0
    ocr_ms: float = 0.0
    used_fallback: bool = False


def is_blank(frame: Frame) -> bool:
    """An empty, black or uniform frame (a dead sensor, a lens cap): nothing to read."""
    if frame.size == 0 or frame.ndim not in (2, 3) or min(frame.shape[:2]) < 8:
        return True
    sample = frame[::8, ::8]
    return float(sample.std()) < 2.0


#: how much better than the crop's unsure reading a sure wider read must be to replace it
CLEARLY_BETTER = 0.15


def _sure(lines: list[tuple[str, float]], grammar: Grammar, level: float) -> bool:
    """One of ``lines`` is a plate (not a Mainland one) read at ``level`` or better."""
    for text, score in lines:
        plate = plate_grammar.parse(text, grammar, score)
        if plate is not None and plate.kind != "mainland" and plate.confidence >= level:
            return True
    return False


def read_plates(
    frame: Frame,
    engine: OcrEngine,
    *,
    grammar: Grammar = "hk",
    max_candidates: int = 3,
    roi: tuple[int, int, int, int] | None = None,
    fallback: bool = False,
    candidates: list[Candidate] | None = None,
    recheck_below: float = 0.9,
) -> FrameRead:
    """Plates in ``frame``. ``fallback`` runs the OCR detector on the whole frame when the
    finder's candidates give no plate (stills: slower, finds what the finder missed)."""
    if is_blank(frame):
        return FrameRead()
    t0 = time.perf_counter()
    if candidates is None:
        candidates = find_plates(frame, max_candidates=max_candidates, roi=roi)
    t1 = time.perf_counter()
    lines: list[tuple[str, float]] = []
    if candidates:
        first = engine.recognise([crop(frame, c) for c in candidates])
        wider: list[tuple[str, float]] = []
        # an unsure read of something plate-like: look again with the OCR detector on a
        # wider crop, which finds the exact text line (measured: fixes most blurred plates)
        for candidate, (text, score) in zip(candidates, first, strict=True):
            plate = plate_grammar.parse(text, grammar, score)
            if sum(ch.isalnum() for ch in text) >= 3 and (
                plate is None or plate.confidence < recheck_below
            ):
                wide = crop(frame, candidate, margin=0.25, height=96)
                again = [(line.text, line.score) for line in engine.read(wide)]
                wider += again
                crop_read = plate.confidence if plate else 0.0
                if _sure(again, grammar, max(recheck_below, crop_read + CLEARLY_BETTER)):
                    # read surely the wider way, and clearly better than the crop: that is
                    # the plate, and the blurred crop's reading would rate it down as a
                    # rival (AB1284 0.70 against AB1234 0.97: plates() weighs plates one
                    # character apart). A crop read nearly as well stays a rival: AB1234
                    # 0.89 against a wider AB1284 0.91 is a frame that cannot say
                    continue
            lines.append((text, score))
        lines += wider
    found = plate_grammar.plates(lines, grammar)
    used_fallback = False
    if fallback and not any(p.kind != "mainland" for p in found):
        more = [(line.text, line.score) for line in engine.read(frame, det_side=FRAME_SIDE)]
        lines += more
        found = plate_grammar.plates(lines, grammar)
        used_fallback = True
    t2 = time.perf_counter()
    return FrameRead(
        plates=found,
        candidates=candidates,
        ocr_lines=lines,
        finder_ms=(t1 - t0) * 1000,
        ocr_ms=(t2 - t1) * 1000,
        used_fallback=used_fallback,
    )
