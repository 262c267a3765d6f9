"""The synthetic AVRS camera: Hong Kong trucks with their plates, as video or a live MJPEG feed.

Plates follow the real grammar (``AB 1234``: two letters without I, O or Q, then up to
four digits; white front / yellow rear plates in a bold sans) and cross-boundary trucks
also carry the black Mainland plate ``粤Z·A123港``. Frames get the conditions a booth
camera sees: blur, glare, night, an off-axis view. Used by the camera tests, the plate
benchmark and ``rocars-edge up`` when no real camera is configured.

Served live as MJPEG over HTTP (``MjpegServer``, ``LiveCamera``), which carries no
timestamps, or as RTSP with RTP/JPEG (``RtspCamera``), whose frames carry the time they
were taken, as an IP camera's do; its link can be made to stall or to be too slow.

Fonts come from the Debian packages fonts-dejavu-core and fonts-noto-cjk (or
fonts-wqy-microhei); a missing font is a clear ``SyntheticCameraError``, never tofu.
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, Self

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from hardware_sim.errors import SimError

logger = logging.getLogger(__name__)

Frame = NDArray[Any]  # a BGR uint8 image; OpenCV's stubs type images loosely
View = Literal["front", "rear"]

HK_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O, Q
MAINLAND_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"  # no I, O
YELLOW_BGR = (0, 200, 250)
WHITE_BGR = (245, 245, 245)


class SyntheticCameraError(SimError):
    """The synthetic camera cannot render or serve (a font missing, a bad output path)."""

    key = "sim_camera"


# -- fonts ------------------------------------------------------------------------------


def _fc_match(pattern: str) -> tuple[str, int]:
    try:
        out = subprocess.run(
            ["fc-match", "-f", "%{file}|%{index}", pattern],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise SyntheticCameraError(
            f"fc-match failed for {pattern!r}: {err}", key="sim_font_missing", font=pattern
        ) from err
    path, _, index = out.partition("|")
    return path, int(index or 0)


def _has_glyph(font: ImageFont.FreeTypeFont, char: str) -> bool:
    """False when ``char`` would render as the font's .notdef box (tofu)."""
    tofu = np.asarray(font.getmask("\U0010fffd"))
    glyph = np.asarray(font.getmask(char))
    return glyph.size > 0 and (glyph.shape != tofu.shape or not np.array_equal(glyph, tofu))


@functools.cache
def latin_font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans Bold (fonts-dejavu-core): the plate characters."""
    path, index = _fc_match("DejaVu Sans:style=Bold")
    if "DejaVu" not in path:
        raise SyntheticCameraError(
            f"DejaVu Sans Bold not found (fc-match gave {path!r}): install fonts-dejavu-core",
            key="sim_font_missing",
            font="DejaVu Sans Bold",
        )
    return ImageFont.truetype(path, size, index=index)


@functools.cache
def cjk_font(size: int) -> ImageFont.FreeTypeFont:
    """Noto Sans CJK SC Bold or WenQuanYi Micro Hei: the 粤 and 港/澳 of a Mainland plate."""
    for pattern in ("Noto Sans CJK SC:style=Bold", "WenQuanYi Micro Hei"):
        path, index = _fc_match(pattern)
        if not Path(path).is_file():
            continue
        font = ImageFont.truetype(path, size, index=index)
        if all(_has_glyph(font, c) for c in "粤港澳"):
            return font
    raise SyntheticCameraError(
        "no font with 粤/港/澳: install fonts-noto-cjk or fonts-wqy-microhei",
        key="sim_font_missing",
        font="Noto Sans CJK",
    )


# -- plates -----------------------------------------------------------------------------


def random_hk_plate(rng: np.random.Generator) -> str:
    """A plate as printed, e.g. ``AB 1234`` (the VRN is the same without the space)."""
    letters = "".join(rng.choice(list(HK_LETTERS), size=2))
    digits = str(int(rng.integers(1, 10)))
    digits += "".join(str(int(d)) for d in rng.integers(0, 10, size=int(rng.integers(0, 4))))
    return f"{letters} {digits}"


def random_mainland_plate(rng: np.random.Generator) -> str:
    """A cross-boundary plate as printed, e.g. ``粤Z·F023港`` (VRN ``粤ZF023港``)."""
    body = "".join(rng.choice(list(MAINLAND_CHARS), size=4))
    return f"粤Z·{body}{rng.choice(['港', '澳'])}"


def plate_vrn(printed: str) -> str:
    """The normalised VRN of a printed plate (what the reader should report)."""
    return printed.replace(" ", "").replace("·", "")


def render_hk_plate(printed: str, view: View, width: int = 520) -> Frame:
    """A HK plate (520 × 114 mm): white at the front, yellow at the rear, black characters."""
    height = round(width * 114 / 520)
    bg = WHITE_BGR if view == "front" else YELLOW_BGR
    img = Image.new("RGB", (width, height), bg[::-1])
    draw = ImageDraw.Draw(img)
    font = latin_font(max(8, round(height * 0.86)))
    left, top, right, bottom = draw.textbbox((0, 0), printed, font=font)
    scale = min(1.0, (width * 0.88) / max(1, right - left))
    if scale < 1.0:
        font = latin_font(max(8, round(height * 0.86 * scale)))
        left, top, right, bottom = draw.textbbox((0, 0), printed, font=font)
    x = (width - (right - left)) / 2 - left
    y = (height - (bottom - top)) / 2 - top
    draw.text((x, y), printed, font=font, fill=(15, 15, 15))
    border = max(1, width // 130)
    draw.rectangle((0, 0, width - 1, height - 1), outline=(20, 20, 20), width=border)
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def render_mainland_plate(printed: str, width: int = 440) -> Frame:
    """A Mainland cross-boundary plate (440 × 140 mm): white characters on black."""
    height = round(width * 140 / 440)
    img = Image.new("RGB", (width, height), (10, 10, 12))
    draw = ImageDraw.Draw(img)
    size = max(8, round(height * 0.66))
    cjk, latin = cjk_font(size), latin_font(size)
    parts = [(printed[0], cjk), (printed[1:-1], latin), (printed[-1], cjk)]
    gap = size * 0.06
    widths = [draw.textlength(t, font=f) for t, f in parts]
    total = sum(widths) + gap * 2
    if total > width * 0.92:  # shrink to fit the plate
        size = max(8, int(size * width * 0.92 / total))
        cjk, latin = cjk_font(size), latin_font(size)
        parts = [(printed[0], cjk), (printed[1:-1], latin), (printed[-1], cjk)]
        gap = size * 0.06
        widths = [draw.textlength(t, font=f) for t, f in parts]
        total = sum(widths) + gap * 2
    x = (width - total) / 2
    for (text, font), w in zip(parts, widths, strict=True):
        top, bottom = draw.textbbox((0, 0), text, font=font)[1::2]
        draw.text((x, (height - (bottom - top)) / 2 - top), text, font=font, fill=(240, 240, 240))
        x += w + gap
    draw.rectangle(
        (3, 3, width - 4, height - 4), outline=(230, 230, 230), width=max(1, width // 150)
    )
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


# -- trucks -----------------------------------------------------------------------------

TRUCK_W, TRUCK_H = 800, 900
HK_PLATE_W = 300  # on the canonical truck image
MAINLAND_PLATE_W = 250


@dataclass(frozen=True, slots=True)
class Truck:
    """One truck: its HK plate as printed, its Mainland plate if cross-boundary, how it looks."""

    hk: str
    mainland: str | None = None
    view: View = "front"
    body_bgr: tuple[int, int, int] = (40, 90, 160)
    headboard: str = ""

    @property
    def vrn(self) -> str:
        return plate_vrn(self.hk)

    @property
    def mainland_vrn(self) -> str | None:
        return plate_vrn(self.mainland) if self.mainland else None


def random_truck(
    rng: np.random.Generator, *, cross_boundary: float = 0.4, view: View | None = None
) -> Truck:
    colours = [(40, 90, 160), (200, 200, 200), (30, 30, 150), (120, 60, 20), (60, 120, 60)]
    return Truck(
        hk=random_hk_plate(rng),
        mainland=random_mainland_plate(rng) if rng.random() < cross_boundary else None,
        view=view or ("front" if rng.random() < 0.6 else "rear"),
        body_bgr=colours[int(rng.integers(len(colours)))],
        headboard="HK LOGISTICS" if rng.random() < 0.3 else "",
    )


@functools.lru_cache(maxsize=64)
def render_truck(truck: Truck) -> tuple[Frame, NDArray[np.uint8], tuple[int, int, int, int]]:
    """The truck seen straight on, its mask, and the HK plate's box (x, y, w, h) in it."""
    img = np.zeros((TRUCK_H, TRUCK_W, 3), np.uint8)
    mask = np.zeros((TRUCK_H, TRUCK_W), np.uint8)
    body = truck.body_bgr
    dark = (35, 35, 35)
    # wheels, then the body over them
    for cx in (130, TRUCK_W - 130):
        cv2.ellipse(img, (cx, 800), (85, 95), 0, 0, 360, (25, 25, 25), -1)
        cv2.ellipse(mask, (cx, 800), (85, 95), 0, 0, 360, 255, -1)
    if truck.view == "front":
        cv2.rectangle(img, (30, 40), (TRUCK_W - 30, 760), body, -1)
        cv2.rectangle(img, (70, 90), (TRUCK_W - 70, 360), (90, 70, 50), -1)  # windscreen
        cv2.line(img, (400, 90), (400, 360), (60, 60, 60), 6)
        for y in range(420, 600, 22):  # grille
            cv2.line(img, (200, y), (600, y), dark, 8)
        for cx in (110, TRUCK_W - 110):  # headlights
            cv2.rectangle(img, (cx - 55, 440), (cx + 55, 500), (225, 235, 240), -1)
        cv2.rectangle(img, (20, 640), (TRUCK_W - 20, 760), (60, 60, 60), -1)  # bumper
    else:
        cv2.rectangle(img, (20, 0), (TRUCK_W - 20, 640), (170, 175, 180), -1)  # container
        cv2.line(img, (400, 0), (400, 640), (90, 90, 90), 6)
        for x in (200, 600):
            cv2.line(img, (x, 20), (x, 620), (120, 120, 120), 8)
        cv2.rectangle(img, (20, 640), (TRUCK_W - 20, 760), body, -1)
        for cx in (90, TRUCK_W - 90):  # tail lights
            cv2.rectangle(img, (cx - 40, 660), (cx + 40, 720), (30, 30, 200), -1)
    cv2.rectangle(mask, (20, 0 if truck.view == "rear" else 40), (TRUCK_W - 20, 760), 255, -1)
    if truck.headboard:
        pil = Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        draw = ImageDraw.Draw(pil)
        y = 380 if truck.view == "front" else 60
        draw.text((160, y - 10), truck.headboard, font=latin_font(44), fill=(250, 250, 250))
        img[:] = cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)
    plate = render_hk_plate(truck.hk, truck.view, HK_PLATE_W)
    ph, pw = plate.shape[:2]
    px, py = (TRUCK_W - pw) // 2, 700 - ph // 2
    img[py : py + ph, px : px + pw] = plate
    if truck.mainland:
        mplate = render_mainland_plate(truck.mainland, MAINLAND_PLATE_W)
        mh, mw = mplate.shape[:2]
        my = (520 if truck.view == "front" else 520) - mh // 2
        mx = (TRUCK_W - mw) // 2
        img[my : my + mh, mx : mx + mw] = mplate
    img.flags.writeable = False
    mask.flags.writeable = False
    return img, mask, (px, py, pw, ph)


# -- scenes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conditions:
    """What the camera suffers: each is 0 (none) to 1 (as bad as the hard set gets)."""

    night: float = 0.0
    blur: float = 0.0
    glare: float = 0.0
    yaw_deg: float = 0.0
    roll_deg: float = 0.0
    noise: float = 2.0
    jpeg_quality: int = 90


@functools.lru_cache(maxsize=8)
def background(width: int, height: int) -> Frame:
    """The empty lane: asphalt, kerb and lane markings, lighter towards the camera."""
    grad = np.linspace(70, 110, height, dtype=np.float32)[:, None]
    bg = np.repeat(grad, width, axis=1)
    img = cv2.merge([bg, bg, bg + 4]).clip(0, 255).astype(np.uint8)
    cv2.rectangle(img, (0, 0), (width, height // 5), (150, 140, 125), -1)  # booth wall
    for x in (width // 8, width - width // 8):
        cv2.line(img, (x, height // 5), (x + (x - width // 2) // 3, height), (200, 200, 200), 6)
    img.flags.writeable = False
    return img


def compose(
    truck: Truck | None,
    *,
    size: tuple[int, int] = (1280, 720),
    center: tuple[float, float] = (640.0, 400.0),
    plate_width: float = 200.0,
    conditions: Conditions = Conditions(),
    rng: np.random.Generator | None = None,
) -> Frame:
    """One camera frame: the lane, the truck (if any) with its HK plate ``plate_width`` px wide
    centred on ``center``, seen under ``conditions``."""
    rng = rng or np.random.default_rng(0)
    width, height = size
    frame = background(width, height).copy()
    if truck is not None:
        img, mask, (px, py, pw, ph) = render_truck(truck)
        scale = plate_width / pw
        # truck image -> frame: scale about the plate centre, then perspective for yaw/roll
        pcx, pcy = px + pw / 2, py + ph / 2
        m = np.array(
            [[scale, 0, center[0] - scale * pcx], [0, scale, center[1] - scale * pcy], [0, 0, 1]]
        )
        m = _view_homography(conditions, center) @ m
        corners = np.array([[0, 0], [TRUCK_W, 0], [TRUCK_W, TRUCK_H], [0, TRUCK_H]], np.float32)
        moved = cv2.perspectiveTransform(corners[None], m)[0]
        x0, y0 = (max(0, int(v)) for v in moved.min(axis=0))
        x1, y1 = int(min(width, moved[:, 0].max() + 1)), int(min(height, moved[:, 1].max() + 1))
        if x1 > x0 and y1 > y0:
            # warp only the part of the frame the truck covers
            shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ m
            roi_size = (x1 - x0, y1 - y0)
            warped = cv2.warpPerspective(img, shift, roi_size, flags=cv2.INTER_AREA)
            wmask = cv2.warpPerspective(mask, shift, roi_size, flags=cv2.INTER_NEAREST)
            roi = frame[y0:y1, x0:x1]
            inside = wmask > 127
            roi[inside] = warped[inside]
    return degrade(frame, conditions, rng, center if truck is not None else None)


def _view_homography(c: Conditions, center: tuple[float, float]) -> NDArray[np.float64]:
    """The truck's front turned by yaw (about the vertical) and roll, about ``center``.

    The plane is put at depth ``f`` so its scale at ``center`` is unchanged, rotated, and
    projected back with the same focal length: a camera that looks at the truck off-axis.
    """
    if not c.yaw_deg and not c.roll_deg:
        return np.eye(3)
    f = 1400.0
    yaw, roll = math.radians(c.yaw_deg), math.radians(c.roll_deg)
    ry = np.array(
        [[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]]
    )
    rz = np.array(
        [[math.cos(roll), -math.sin(roll), 0], [math.sin(roll), math.cos(roll), 0], [0, 0, 1]]
    )
    r = ry @ rz
    k = np.array([[f, 0, center[0]], [0, f, center[1]], [0, 0, 1]])
    plane = np.column_stack([r[:, 0], r[:, 1], [0.0, 0.0, f]])
    shift = np.array([[1, 0, -center[0]], [0, 1, -center[1]], [0, 0, 1]])
    h: NDArray[np.float64] = k @ plane @ shift
    out: NDArray[np.float64] = h / h[2, 2]
    return out


def _blob(
    width: int, height: int, cx: float, cy: float, sx: float, sy: float
) -> NDArray[np.float32]:
    """A Gaussian spot (peak 1), computed at 1/8 resolution: light is smooth."""
    w, h = max(2, width // 8), max(2, height // 8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d2 = ((xx - cx / 8) / (sx / 8)) ** 2 + ((yy - cy / 8) / (sy / 8)) ** 2
    small = np.exp(-d2).astype(np.float32)
    out: NDArray[np.float32] = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    return out


@functools.lru_cache(maxsize=4)
def _noise_bank(shape: tuple[int, ...]) -> NDArray[np.int16]:
    """Gaussian noise (sigma 16) a little larger than a frame; frames take shifted windows of it,
    which is ~20× cheaper than fresh noise per frame and looks the same to a reader."""
    bank = np.random.default_rng(12345).normal(
        0.0, 16.0, (shape[0] + 64, shape[1] + 64, *shape[2:])
    )
    out = bank.clip(-120, 120).astype(np.int16)
    out.flags.writeable = False
    return out


def degrade(
    frame: Frame,
    c: Conditions,
    rng: np.random.Generator,
    light_at: tuple[float, float] | None = None,
) -> Frame:
    """Night, glare, blur, sensor noise and JPEG, in the order a camera applies them."""
    height, width = frame.shape[:2]
    out = frame
    if c.night > 0:
        # the lane goes dark; the plate light and headlights keep the plate area readable
        gain = np.full((height, width), 1.0 - 0.75 * c.night, np.float32)
        if light_at is not None:
            gain += (0.55 * c.night) * _blob(width, height, *light_at, width * 0.18, height * 0.2)
        out = (
            cv2.multiply(out.astype(np.float32), cv2.merge([gain, gain, gain]))
            .clip(0, 255)
            .astype(np.uint8)
        )
    if c.glare > 0:
        gx = width * (0.3 + 0.4 * rng.random())
        gy = height * (0.35 + 0.3 * rng.random())
        spot = (140.0 * c.glare * _blob(width, height, gx, gy, width * 0.12, height * 0.1)).astype(
            np.uint8
        )
        out = cv2.add(out, cv2.merge([spot, spot, spot]))
    if c.blur > 0:
        k = max(3, round(3 + 6 * c.blur) | 1)
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k  # horizontal motion blur: the truck moves
        out = cv2.filter2D(out, -1, kernel)
    sigma = c.noise * (1.0 + 2.0 * c.night)
    if sigma > 0:
        bank = _noise_bank(out.shape)
        dy, dx = (int(v) for v in rng.integers(0, 64, size=2))
        noise = bank[dy : dy + height, dx : dx + width] * np.int16(round(sigma * 4)) >> 6
        out = (out.astype(np.int16) + noise).clip(0, 255).astype(np.uint8)
    if c.jpeg_quality < 100:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, c.jpeg_quality])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            out = decoded
    if out is frame:
        out = frame.copy()
    return out


# -- video ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pass:
    """One truck's pass in front of the camera: frames it takes to drive in, stop, leave."""

    truck: Truck
    approach: int = 12
    dwell: int = 10
    leave: int = 8
    gap: int = 8  # empty-lane frames after it
    conditions: Conditions = field(default_factory=Conditions)

    @property
    def frames(self) -> int:
        return self.approach + self.dwell + self.leave + self.gap


def pass_frames(
    p: Pass, size: tuple[int, int], rng: np.random.Generator, *, stop_plate_width: float = 0.0
) -> Iterator[Frame]:
    """The frames of one pass: the truck grows as it comes closer, stops, then drives off left."""
    width, height = size
    stop_w = stop_plate_width or width * 0.17
    stop = (width * 0.5, height * 0.62)
    for i in range(p.approach):
        t = (i + 1) / p.approach
        w = stop_w * (0.45 + 0.55 * t)
        y = height * 0.38 + (stop[1] - height * 0.38) * t
        yield compose(
            p.truck, size=size, center=(stop[0], y), plate_width=w, conditions=p.conditions, rng=rng
        )
    still = compose(
        p.truck, size=size, center=stop, plate_width=stop_w, conditions=p.conditions, rng=rng
    )
    for _ in range(p.dwell):
        yield degrade(still, replace(p.conditions, night=0, glare=0, blur=0, jpeg_quality=100), rng)
    for i in range(p.leave):
        t = (i + 1) / p.leave
        x = stop[0] - t * width * 0.9
        yield compose(
            p.truck,
            size=size,
            center=(x, stop[1]),
            plate_width=stop_w,
            conditions=p.conditions,
            rng=rng,
        )
    empty = compose(None, size=size, conditions=p.conditions, rng=rng)
    for _ in range(p.gap):
        yield degrade(empty, Conditions(noise=p.conditions.noise, jpeg_quality=100), rng)


def scenario(
    trucks: int, *, seed: int = 1, conditions: Conditions | None = None, cross_boundary: float = 0.4
) -> list[Pass]:
    """``trucks`` passes with random plates (deterministic from ``seed``)."""
    rng = np.random.default_rng(seed)
    return [
        Pass(
            random_truck(rng, cross_boundary=cross_boundary), conditions=conditions or Conditions()
        )
        for _ in range(trucks)
    ]


def frames(
    passes: Sequence[Pass], size: tuple[int, int] = (1280, 720), *, seed: int = 1, lead_in: int = 4
) -> Iterator[Frame]:
    """Every frame of the scenario, starting with ``lead_in`` frames of the empty lane."""
    rng = np.random.default_rng(seed + 1000)
    empty = compose(None, size=size, rng=rng)
    for _ in range(lead_in):
        yield degrade(empty, Conditions(jpeg_quality=100), rng)
    for p in passes:
        yield from pass_frames(p, size, rng)


def write_video(
    path: str | Path,
    passes: Sequence[Pass],
    *,
    size: tuple[int, int] = (1280, 720),
    fps: float = 10.0,
    seed: int = 1,
    lead_in: int = 4,
) -> int:
    """Write the scenario to ``path`` (``.avi`` → MJPG, else mp4v), after ``lead_in``
    frames of the empty lane; returns the frame count."""
    path = Path(path)
    fourcc = cv2.VideoWriter.fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, size)
    if not writer.isOpened():
        raise SyntheticCameraError(
            f"cannot write video {path}", key="sim_camera_write", path=str(path)
        )
    count = 0
    try:
        for frame in frames(passes, size, seed=seed, lead_in=lead_in):
            writer.write(frame)
            count += 1
    finally:
        writer.release()
    logger.info("wrote %d frames of %d trucks to %s", count, len(passes), path)
    return count


# -- MJPEG over HTTP --------------------------------------------------------------------


def encode_jpeg(frame: Frame) -> bytes:
    """A frame as a camera sends it (empty bytes if OpenCV cannot encode it)."""
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes() if ok else b""


class _Camera:
    """What the served cameras share: made from frames, started and stopped, used in a
    ``with`` block."""

    def __init__(self, jpegs: Sequence[bytes], **kwargs: Any) -> None:
        raise NotImplementedError

    @classmethod
    def from_frames(cls, frames_: Iterator[Frame] | Sequence[Frame], **kwargs: Any) -> Self:
        jpegs = [jpeg for jpeg in map(encode_jpeg, frames_) if jpeg]
        return cls(jpegs, **kwargs)

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MjpegServer(_Camera):
    """A live camera on ``http://127.0.0.1:PORT/stream.mjpg`` (multipart/x-mixed-replace).

    Like a real camera it plays in wall-clock time: a client that connects late sees the
    current frame, not the first one. ``/frame.jpg`` is one snapshot. ``stop()`` ends it.
    """

    BOUNDARY = "rocarsframe"

    def __init__(
        self,
        jpegs: Sequence[bytes],
        *,
        fps: float = 10.0,
        host: str = "127.0.0.1",
        port: int = 0,
        loop: bool = True,
    ) -> None:
        if not jpegs:
            raise SyntheticCameraError("an MJPEG server needs at least one frame")
        self.jpegs = list(jpegs)
        self.fps = fps
        self.loop = loop
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def current(self) -> bytes | None:
        """The frame the camera shows now (None once a non-looping stream has ended)."""
        index = int((time.monotonic() - self._t0) * self.fps)
        if index >= len(self.jpegs) and not self.loop:
            return None
        return self.jpegs[index % len(self.jpegs)]

    def start(self) -> Self:
        self._t0 = time.monotonic()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="mjpeg-server",
            daemon=True,
        )
        self._thread.start()
        logger.info("synthetic camera on %s", self.url)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
                logger.debug("mjpeg %s", format % args)

            def do_GET(self) -> None:
                if self.path.startswith("/frame.jpg"):
                    jpeg = server.current() or server.jpegs[-1]
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(jpeg)))
                    self.end_headers()
                    self.wfile.write(jpeg)
                    return
                if not self.path.startswith("/stream.mjpg"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header(
                    "Content-Type", f"multipart/x-mixed-replace; boundary={server.BOUNDARY}"
                )
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                period = 1.0 / server.fps
                while not server._stop.is_set():
                    now = server.current()
                    if now is None:
                        return
                    jpeg = now
                    try:
                        self.wfile.write(
                            f"--{server.BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                            + jpeg
                            + b"\r\n"
                        )
                        self.wfile.flush()
                    except OSError:
                        return  # the client went away
                    server._stop.wait(period)

        return Handler


IDLE_FRAMES = 8  # different frames of the empty lane a LiveCamera shows in turn


class LiveCamera(MjpegServer):
    """A camera a traffic scenario drives: the empty lane until ``show(truck)`` plays one
    pass of that truck (drive in, stop, leave), in wall-clock time like a real camera."""

    def __init__(
        self,
        *,
        size: tuple[int, int] = (1280, 720),
        fps: float = 10.0,
        seed: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._size = size
        self._rng = np.random.default_rng(seed)
        empty = compose(None, size=size, rng=self._rng)
        # the empty lane with the sensor's noise, a different frame each time like a real
        # camera's (one JPEG sent over and over is what a frozen camera does)
        idle = [degrade(empty, Conditions(jpeg_quality=100), self._rng) for _ in range(IDLE_FRAMES)]
        super().__init__(
            [encode_jpeg(frame) for frame in idle],
            fps=fps,
            host=host,
            port=port,
            loop=True,
        )
        self._pass_lock = threading.Lock()
        self._playing: tuple[float, list[bytes]] | None = None

    def show(self, truck: Truck, conditions: Conditions | None = None) -> float:
        """Render one pass of ``truck`` and start playing it; returns its length in seconds."""
        one = Pass(truck, conditions=conditions or Conditions())
        jpegs = [encode_jpeg(f) for f in pass_frames(one, self._size, self._rng)]
        with self._pass_lock:
            self._playing = (time.monotonic(), jpegs)
        return len(jpegs) / self.fps

    def current(self) -> bytes | None:
        with self._pass_lock:
            playing = self._playing
        if playing is not None:
            started, jpegs = playing
            index = int((time.monotonic() - started) * self.fps)
            if index < len(jpegs):
                return jpegs[index]
        return super().current()


# -- RTSP -------------------------------------------------------------------------------

RTP_CLOCK = 90_000  # Hz: the RTP clock of video (RFC 3551)
RTP_JPEG = 26  # the static RTP payload type of JPEG (RFC 2435)
RTP_PAYLOAD_MAX = 1400  # bytes per RTP packet, as a camera keeps them under a path's MTU
RTP_JPEG_MAX_SIDE = 2040  # RFC 2435 carries width and height in units of 8, in one byte


def rtp_jpeg(jpeg: bytes) -> tuple[int, int, int, bytes, bytes]:
    """What RFC 2435 carries of a baseline JPEG: its type (0 for 4:2:2, 1 for 4:2:0),
    width, height, its luma and chroma quantisation tables and its scan data. The
    receiver rebuilds the headers, with the standard Huffman tables (which OpenCV's
    encoder uses). ``SyntheticCameraError(sim_camera_rtp)`` for a JPEG it cannot carry."""

    def refuse(why: str) -> SyntheticCameraError:
        return SyntheticCameraError(f"RTP/JPEG cannot carry this JPEG: {why}", key="sim_camera_rtp")

    if jpeg[:2] != b"\xff\xd8":
        raise refuse("not a JPEG")
    tables: dict[int, bytes] = {}
    width = height = 0
    kind = -1
    i = 2
    while i + 4 <= len(jpeg):
        if jpeg[i] != 0xFF:
            raise refuse(f"no marker at byte {i}")
        marker = jpeg[i + 1]
        length = int.from_bytes(jpeg[i + 2 : i + 4], "big")
        segment = jpeg[i + 4 : i + 2 + length]
        if marker == 0xDB:  # quantisation tables, 65 bytes each with 8-bit precision
            for j in range(0, len(segment), 65):
                if segment[j] >> 4:
                    raise refuse("16-bit quantisation tables")
                tables[segment[j] & 0x0F] = segment[j + 1 : j + 65]
        elif marker == 0xC0:  # baseline frame: size and sampling
            height, width = int.from_bytes(segment[1:3], "big"), int.from_bytes(segment[3:5], "big")
            sampling = [segment[6 + 3 * c + 1] for c in range(segment[5])]
            if (
                len(sampling) != 3
                or sampling[1:] != [0x11, 0x11]
                or sampling[0] not in (0x21, 0x22)
            ):
                raise refuse(f"sampling {sampling} (4:2:2 or 4:2:0 colour wanted)")
            kind = 0 if sampling[0] == 0x21 else 1
        elif marker in (0xC1, 0xC2, 0xC3, 0xDD):
            raise refuse("not a baseline JPEG without restart markers")
        elif marker == 0xDA:  # start of scan: the rest is the data, then EOI
            if kind < 0 or 0 not in tables or 1 not in tables:
                raise refuse("no frame header or tables before the scan")
            if width % 8 or height % 8 or max(width, height) > RTP_JPEG_MAX_SIDE:
                raise refuse(f"{width}x{height} (sides must be multiples of 8, at most 2040)")
            data = jpeg[i + 2 + length :]
            if data.endswith(b"\xff\xd9"):
                data = data[:-2]
            return kind, width, height, tables[0] + tables[1], data
        i += 2 + length
    raise refuse("no scan")


def rtp_packets(
    frame: tuple[int, int, int, bytes, bytes], *, seq: int, timestamp: int, ssrc: int
) -> list[bytes]:
    """One frame (``rtp_jpeg``'s parts) as RTP/JPEG packets (RFC 2435, dynamic tables in
    the first); the marker bit ends the frame."""
    kind, width, height, tables, data = frame
    packets = []
    offset = 0
    while True:
        head = bytes([0]) + offset.to_bytes(3, "big") + bytes([kind, 255, width // 8, height // 8])
        if offset == 0:  # Q 255: the tables travel in the frame's first packet
            head += bytes([0, 0]) + len(tables).to_bytes(2, "big") + tables
        chunk = data[offset : offset + RTP_PAYLOAD_MAX - len(head)]
        offset += len(chunk)
        last = offset >= len(data)
        header = bytes([0x80, (0x80 if last else 0) | RTP_JPEG])
        header += (seq & 0xFFFF).to_bytes(2, "big") + (timestamp & 0xFFFFFFFF).to_bytes(4, "big")
        packets.append(header + ssrc.to_bytes(4, "big") + head + chunk)
        seq += 1
        if last:
            return packets


class RtspCamera(_Camera):
    """A live IP camera on ``rtsp://127.0.0.1:PORT/stream``: RTP/JPEG over RTSP, the
    RTP data interleaved on the RTSP connection (TCP; UDP set-ups are refused with 461,
    as some cameras do, and clients fall back to TCP).

    Like a real camera it stamps each frame with the time it was taken (the 90 kHz RTP
    clock), so a client can tell how late a frame reaches it. Each client sees the
    frames from the first, at ``fps`` from when it says PLAY (again from the first if
    ``loop``). The link to a client can be made worse: ``stall=(frame, seconds)`` holds
    the frames taken from that one on for ``seconds`` and then sends them at once (a
    link that stalls and delivers its backlog); ``link_fps`` carries at most that many
    frames a second (a link slower than the stream, which queues).
    """

    def __init__(
        self,
        jpegs: Sequence[bytes],
        *,
        fps: float = 10.0,
        host: str = "127.0.0.1",
        port: int = 0,
        loop: bool = True,
        stall: tuple[int, float] | None = None,
        link_fps: float | None = None,
    ) -> None:
        if not jpegs:
            raise SyntheticCameraError("an RTSP camera needs at least one frame")
        # parsed once, and a bad one refused now, not half-way through a client's stream
        self._rtp = [rtp_jpeg(jpeg) for jpeg in jpegs]
        self.fps = fps
        self.loop = loop
        self.stall = stall
        self.link_fps = link_fps
        self.connections: list[float] = []  # when each client came
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        camera = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                camera._session(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((host, port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/stream"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="rtsp-camera",
            daemon=True,
        )
        self._thread.start()
        logger.info("synthetic RTSP camera on %s", self.url)
        return self

    def stop(self) -> None:
        """The camera goes away: its clients' connections are cut."""
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone
        if self._thread is not None:
            self._thread.join(5)

    def _session(self, sock: socket.socket) -> None:
        """One client: RTSP requests in, answers and (once it plays) RTP out."""
        self.connections.append(time.monotonic())
        with self._lock:
            self._socks.add(sock)
        ended = threading.Event()
        writing = threading.Lock()
        reader = sock.makefile("rb")
        try:
            while not self._stop.is_set():
                first = reader.read(1)
                if not first:
                    return
                if first == b"$":  # the client's RTCP, interleaved: not needed
                    size = int.from_bytes(reader.read(3)[1:], "big")
                    reader.read(size)
                    continue
                lines = [first + reader.readline()]
                while lines[-1].strip():
                    lines.append(reader.readline())
                method, url, *_ = lines[0].decode("latin-1").split()
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                reader.read(int(headers.get("content-length", "0") or 0))
                answer = self._answer(method, url, headers)
                with writing:
                    sock.sendall(answer)
                if method == "PLAY":
                    threading.Thread(
                        target=self._play, args=(sock, writing, ended), daemon=True
                    ).start()
                elif method == "TEARDOWN":
                    return
        except (OSError, ValueError):
            return  # the client went away or spoke nonsense
        finally:
            ended.set()
            with self._lock:
                self._socks.discard(sock)

    def _answer(self, method: str, url: str, headers: dict[str, str]) -> bytes:
        status, extra, body = "200 OK", "", b""
        if method == "DESCRIBE":
            body = (
                "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=rocars synthetic camera\r\n"
                f"c=IN IP4 0.0.0.0\r\nt=0 0\r\nm=video 0 RTP/AVP {RTP_JPEG}\r\n"
                f"a=framerate:{self.fps:g}\r\na=control:track0\r\n"
            ).encode()
            extra = f"Content-Type: application/sdp\r\nContent-Base: {url}/\r\n"
            extra += f"Content-Length: {len(body)}\r\n"
        elif method == "SETUP":
            transport = headers.get("transport", "")
            if "TCP" not in transport.upper():
                status = "461 Unsupported Transport"
            else:
                extra = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 1\r\n"
        elif method in ("PLAY", "TEARDOWN"):
            extra = "Session: 1\r\n" + ("Range: npt=0.000-\r\n" if method == "PLAY" else "")
        elif method == "OPTIONS":
            extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n"
        cseq = headers.get("cseq", "0")
        return f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{extra}\r\n".encode() + body

    def _play(self, sock: socket.socket, writing: threading.Lock, ended: threading.Event) -> None:
        """Frame n is taken at start + n / fps and stamped so; it is sent then, or when
        the link lets it go."""
        start = time.monotonic()
        link_free = start
        seq = 0
        n = 0
        while not ended.is_set() and not self._stop.is_set():
            if n >= len(self._rtp) and not self.loop:
                return
            taken = start + n / self.fps
            send_at = max(taken, link_free)
            if self.stall is not None and n >= self.stall[0]:
                send_at = max(send_at, start + self.stall[0] / self.fps + self.stall[1])
            wait = send_at - time.monotonic()
            if wait > 0:
                self._stop.wait(min(wait, 0.05))
                continue
            packets = rtp_packets(
                self._rtp[n % len(self._rtp)],
                seq=seq,
                timestamp=round(n * RTP_CLOCK / self.fps),
                ssrc=0x524F4341,
            )
            seq += len(packets)
            data = b"".join(b"$\x00" + len(p).to_bytes(2, "big") + p for p in packets)
            try:
                with writing:
                    sock.sendall(data)
            except OSError:
                return  # the client went away
            if self.link_fps:
                link_free = send_at + 1.0 / self.link_fps
            n += 1


# -- command line -----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m hardware_sim.synthetic_camera video OUT.mp4`` or ``serve --port N``."""
    parser = argparse.ArgumentParser(prog="synthetic_camera", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    video = sub.add_parser("video", help="write a video of N trucks")
    video.add_argument("out", type=Path)
    serve = sub.add_parser("serve", help="serve a live MJPEG stream on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8554)
    serve.add_argument(
        "--rtsp",
        action="store_true",
        help="serve RTSP (RTP/JPEG, frames stamped with the time they are taken) instead",
    )
    for p in (video, serve):
        p.add_argument("--trucks", type=int, default=4)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--fps", type=float, default=10.0)
        p.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
        p.add_argument("--night", type=float, default=0.0)
        p.add_argument("--blur", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WIDTHxHEIGHT, got {args.size!r}")
    passes = scenario(
        args.trucks, seed=args.seed, conditions=Conditions(night=args.night, blur=args.blur)
    )
    for one in passes:
        sys.stdout.write(f"{one.truck.vrn}\t{one.truck.mainland_vrn or ''}\n")
    try:
        if args.command == "video":
            write_video(args.out, passes, size=(width, height), fps=args.fps, seed=args.seed)
            return 0
        kind: type[MjpegServer | RtspCamera] = RtspCamera if args.rtsp else MjpegServer
        server = kind.from_frames(
            frames(passes, (width, height), seed=args.seed), fps=args.fps, port=args.port
        )
    except SyntheticCameraError as err:
        sys.stderr.write(f"synthetic_camera: {err}\n")
        return 1
    with server:
        sys.stdout.write(f"serving {server.url} (Ctrl-C to stop)\n")
        sys.stdout.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
