"""Where the plates might be in a frame: cheap candidates, so OCR runs on a few crops only.

A plate is a compact block of dense vertical strokes (the characters) with a plate's
aspect ratio, whatever its colours (dark on white/yellow HK plates, white on black
Mainland plates). The finder works on a downscaled grey frame: horizontal Sobel
gradient, Otsu threshold, a horizontal closing that merges the characters into one
blob, then contours filtered by size, aspect and fill. About 3–6 ms at 720p on one core;
the choice against RapidOCR's own detector and OpenCV cascades is measured in
docs/avrs-camera.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

Frame = NDArray[Any]  # a BGR uint8 image; OpenCV's stubs type images loosely

WORK_WIDTH = 640  # the finder's working width; plates must be >= ~80 px wide in a 1280 frame


@dataclass(frozen=True, slots=True)
class Candidate:
    """A region that may hold a plate, in frame pixels: the rotated rectangle and a score."""

    center: tuple[float, float]
    size: tuple[float, float]  # width, height along the plate's own axes
    angle: float  # degrees, as cv2.minAreaRect gives it, normalised to (-45, 45]
    score: float

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The axis-aligned bounding box (x, y, w, h)."""
        pts = cv2.boxPoints((self.center, self.size, self.angle))
        x, y, w, h = cv2.boundingRect(pts.astype(np.float32))
        return int(x), int(y), int(w), int(h)


def _normalise(
    rect: tuple[tuple[float, float], tuple[float, float], float],
) -> tuple[tuple[float, float], tuple[float, float], float]:
    (cx, cy), (w, h), angle = rect
    if w < h:
        w, h, angle = h, w, angle - 90 if angle > 0 else angle + 90
    if angle > 45:
        angle -= 90
        w, h = h, w
    elif angle <= -45:
        angle += 90
        w, h = h, w
    if w < h:
        w, h = h, w
    return (cx, cy), (w, h), angle


def find_plates(
    frame: Frame,
    *,
    max_candidates: int = 4,
    roi: tuple[int, int, int, int] | None = None,
    min_width: int = 50,
    edge_margin: int = 1,
) -> list[Candidate]:
    """Plate candidates in ``frame`` (BGR or grey), best first; ``roi`` limits the search."""
    if frame.size == 0 or frame.ndim not in (2, 3):
        return []
    x0, y0 = 0, 0
    if roi is not None:
        x0, y0, rw, rh = roi
        frame = frame[y0 : y0 + rh, x0 : x0 + rw]
        if frame.size == 0:
            return []
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    height, width = gray.shape[:2]
    scale = min(1.0, WORK_WIDTH / width)
    small = (
        cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if scale < 1
        else gray
    )
    if float(small.std()) < 4.0:  # a flat (black, grey) frame: nothing to find
        return []
    grad = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 1, 0, ksize=3))
    _, binary = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    kw = max(9, round(small.shape[1] / 45)) | 1
    closed = cv2.morphologyEx(
        binary, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (kw, 3))
    )
    opened = cv2.morphologyEx(
        closed, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
    )
    contours, _ = cv2.findContours(opened, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    blobs: list[NDArray[Any]] = [c for c in contours if cv2.contourArea(c) >= 30]
    found: list[Candidate] = []
    sh, sw = small.shape[:2]
    for contour, area, is_part in _merge_neighbours(blobs):
        if area < 60:
            continue
        (cx, cy), (w, h), angle = _normalise(_rect(contour))
        if h < 6 or w < min_width * scale:
            continue
        aspect = w / h
        if not 1.6 <= aspect <= 8.0:
            continue
        x, y, bw, bh = cv2.boundingRect(contour)
        if (
            x <= edge_margin
            or y <= edge_margin
            or x + bw >= sw - edge_margin
            or y + bh >= sh - edge_margin
        ):
            continue  # cut by the frame edge: a partial plate reads as a wrong one
        fill = area / (w * h)
        if fill < 0.45:
            continue
        # density of strokes inside the box: characters give many edges, a plain panel few
        density = float(binary[y : y + bh, x : x + bw].mean()) / 255.0
        if density < 0.12:
            continue
        aspect_fit = 1.0 - min(1.0, abs(aspect - 4.0) / 4.0)
        score = (fill * 0.4 + min(density, 0.6) + aspect_fit * 0.4) * (0.6 if is_part else 1.0)
        found.append(
            Candidate(
                center=(cx / scale + x0, cy / scale + y0),
                size=(w / scale, h / scale),
                angle=float(angle),
                score=round(score, 3),
            )
        )
    found.sort(key=lambda c: c.score, reverse=True)
    return found[:max_candidates]


def _rect(points: NDArray[Any]) -> tuple[tuple[float, float], tuple[float, float], float]:
    (cx, cy), (w, h), angle = cv2.minAreaRect(points)
    return (float(cx), float(cy)), (float(w), float(h)), float(angle)


def _bounds(points: NDArray[Any]) -> tuple[int, int, int, int]:
    x, y, w, h = cv2.boundingRect(points)
    return int(x), int(y), int(w), int(h)


def _merge_neighbours(
    contours: Sequence[NDArray[Any]],
) -> list[tuple[NDArray[Any], float, bool]]:
    """Join blobs side by side at the same height: a wide gap (``AB  1234``) splits a plate
    into its letters and its digits, which alone read as a different plate.

    Returns (points, area, is_part): the joined blobs, and the parts on their own too
    (marked, so they rank lower: a wrong join must not hide a plate).
    """
    items = sorted(((_bounds(c), c) for c in contours), key=lambda item: item[0][0])
    merged: list[tuple[tuple[int, int, int, int], list[NDArray[Any]]]] = []
    for (x, y, w, h), contour in items:
        for i in range(len(merged) - 1, -1, -1):
            (mx, my, mw, mh), parts = merged[i]
            overlap = min(y + h, my + mh) - max(y, my)
            gap = x - (mx + mw)
            if (
                overlap >= 0.6 * min(h, mh)
                and 0.6 <= h / mh <= 1.6
                and -2 <= gap <= 1.2 * max(h, mh)
            ):
                parts.append(contour)
                merged[i] = (_bounds(np.concatenate(parts)), parts)
                break
        else:
            merged.append(((x, y, w, h), [contour]))
    out: list[tuple[NDArray[Any], float, bool]] = []
    for _, parts in merged:
        area = float(sum(cv2.contourArea(p) for p in parts))
        out.append((np.concatenate(parts), area, False))
        if len(parts) > 1:
            out += [(p, float(cv2.contourArea(p)), True) for p in parts]
    return out


def crop(frame: Frame, candidate: Candidate, *, margin: float = 0.12, height: int = 64) -> Frame:
    """The candidate straightened into an upright strip ``height`` px high, with a margin."""
    (cx, cy), (w, h), angle = candidate.center, candidate.size, candidate.angle
    w_m, h_m = w * (1 + 2 * margin), h * (1 + 4 * margin)
    out_w = max(8, round(height * w_m / max(h_m, 1.0)))
    rect = ((cx, cy), (w_m, h_m), angle)
    src = cv2.boxPoints(rect).astype(np.float32)
    # boxPoints order: bottom-left, top-left, top-right, bottom-right (for our angle range)
    src = _order(src)
    dst = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, height - 1], [0, height - 1]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    out: Frame = cv2.warpPerspective(
        frame, m, (out_w, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return out


def _order(pts: NDArray[np.float32]) -> NDArray[np.float32]:
    """Top-left, top-right, bottom-right, bottom-left."""
    s = pts.sum(axis=1)
    d = np.diff(pts, axis=1).ravel()
    return np.array(
        [pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]], np.float32
    )
