"""A virtual LPR serial device on a real pseudo-terminal, at a stable path.

The adapter opens ``DIR/lpr0`` (a symlink to ``/dev/pts/N``) like a real port. The
device speaks any protocol of ``avrs_adapter.protocols`` and can misbehave on demand::

    lpr = VirtualLpr(tmp_dir, "framed").start()
    lpr.path                                   # what the adapter opens
    lpr.send_truck("AB1234", confidence=0.93, repeats=3, second_plate="粤Z1234港")
    lpr.set_faults(noise=16, split=True, bad_checksum=True, baud_garbage=32)
    lpr.unplug()                               # pty closed, link removed
    lpr.replug()                               # new pty, same link path
    lpr.stop()

Faults apply to every frame sent while set: ``noise`` random binary bytes before it,
``baud_garbage`` bytes of what a wrong baud rate turns a frame into, ``bad_checksum`` a
damaged copy of the frame sent first, ``split`` the frame written in pieces.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import select
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from avrs_adapter.protocols import LprProtocol, make_protocol
from hardware_sim.errors import LprDeviceError
from hardware_sim.ptyport import VirtualPort

logger = logging.getLogger(__name__)

# Bytes line noise is made of: control characters and bytes that are never valid UTF-8
# (no STX/ETX/TAB/CR/LF: those would be a different fault, not noise).
_NOISE = bytes([*range(0x04, 0x09), *range(0x0E, 0x20), 0x7F, *range(0xF8, 0x100)])


@dataclass(frozen=True, slots=True)
class LprFaults:
    """What the device does wrong, per frame. All off by default."""

    noise: int = 0  # random noise bytes written before each frame
    split: bool = False  # write each frame in 2-4 pieces, a few ms apart
    bad_checksum: bool = False  # send a damaged copy of each frame before the good one
    baud_garbage: int = 0  # bytes of baud-mismatch garbage before each frame
    seed: int = 7


class VirtualLpr(VirtualPort):
    """One virtual LPR device. Thread-safe: tests and the console may call it from anywhere."""

    kind = "virtual LPR"

    def __init__(
        self,
        directory: str | Path,
        protocol: str = "delimited",
        *,
        name: str = "lpr0",
        camera: str = "CAM1",
        write_timeout: float = 30.0,
        **protocol_options: Any,
    ) -> None:
        super().__init__(directory, name)
        self.protocol_name = protocol
        self._encoder: LprProtocol = make_protocol(protocol, **protocol_options)
        self.camera = camera
        self.write_timeout = write_timeout
        self._faults = LprFaults()
        self._rng = random.Random(self._faults.seed)
        self.frames_sent = 0
        self.bytes_sent = 0

    # -- faults ------------------------------------------------------------------------

    def set_faults(self, **faults: Any) -> LprFaults:
        """Change some faults (``noise``, ``split``, ``bad_checksum``, ``baud_garbage``, ``seed``)."""
        with self._lock:
            try:
                new = replace(self._faults, **faults)
            except TypeError as err:
                raise LprDeviceError(f"unknown fault: {err}", key="sim_unknown_fault") from err
            if new.noise < 0 or new.baud_garbage < 0:
                raise LprDeviceError("fault sizes must be >= 0", key="sim_bad_fault")
            if new.seed != self._faults.seed:
                self._rng = random.Random(new.seed)
            self._faults = new
            return new

    @property
    def faults(self) -> LprFaults:
        return self._faults

    # -- traffic -----------------------------------------------------------------------

    def send_truck(
        self,
        vrn: str,
        confidence: float = 0.95,
        repeats: int = 3,
        second_plate: str | None = None,
        *,
        second_confidence: float | None = None,
        interval: float = 0.0,
    ) -> int:
        """The camera reads a truck ``repeats`` times (and its second plate each time).

        ``vrn`` is sent as the camera would report it (``""`` for a vehicle seen but not
        read). Returns the number of frames written.
        """
        if not 1 <= repeats <= 100:
            raise LprDeviceError("repeats must be 1-100", key="sim_bad_repeats")
        sent = 0
        for i in range(repeats):
            if i and interval > 0:
                time.sleep(interval)  # the camera's own pace between reads
            self.send_read(vrn, confidence)
            sent += 1
            if second_plate is not None:
                self.send_read(
                    second_plate, confidence if second_confidence is None else second_confidence
                )
                sent += 1
        return sent

    def send_read(self, plate: str, confidence: float = 0.95, when: datetime | None = None) -> None:
        """One read, as one frame of the protocol, with the current faults."""
        with self._lock:
            when = when or datetime.now().replace(microsecond=0)
            faults = self._faults
            if faults.bad_checksum:
                bad = self._encoder.encode(plate, confidence, self.camera, when, corrupt=True)
                self._write_frame(bad, faults)
            frame = self._encoder.encode(plate, confidence, self.camera, when)
            self._write_frame(frame, faults)
            self.frames_sent += 1

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (a 10 MB line, a hand-made frame)."""
        with self._lock:
            self._write(data)

    def _write_frame(self, frame: bytes, faults: LprFaults) -> None:
        if faults.baud_garbage:
            self._write(self._baud_garbage(frame, faults.baud_garbage))
        if faults.noise:
            self._write(bytes(self._rng.choice(_NOISE) for _ in range(faults.noise)))
        if faults.split and len(frame) > 2:
            cuts = sorted(self._rng.sample(range(1, len(frame)), min(3, len(frame) - 1)))
            for a, b in zip([0, *cuts], [*cuts, len(frame)], strict=True):
                self._write(frame[a:b])
                time.sleep(0.005)  # the pieces arrive as separate reads
        else:
            self._write(frame)

    def _baud_garbage(self, frame: bytes, size: int) -> bytes:
        # sampled at the wrong rate, a frame's bits come out as high, framing-error bytes
        out = bytearray()
        while len(out) < size:
            for byte in frame:
                out.append(0x80 | ((byte * 7 + self._rng.randrange(256)) & 0x7F))
                if len(out) >= size:
                    break
        return bytes(out)

    def _write(self, data: bytes) -> None:
        master = self._master
        if master is None:
            raise LprDeviceError(f"virtual LPR {self.path} is unplugged", key="sim_lpr_unplugged")
        view = memoryview(data)
        deadline = time.monotonic() + self.write_timeout
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LprDeviceError(
                    f"virtual LPR {self.path}: nobody reads the port", key="sim_lpr_stalled"
                )
            _, writable, _ = select.select([], [master], [], min(left, 0.5))
            if not writable:
                continue
            try:
                n = os.write(master, view[:65536])
            except BlockingIOError:
                continue
            except OSError as err:
                if err.errno == errno.EIO:
                    raise LprDeviceError(
                        f"virtual LPR {self.path}: pty closed", key="sim_lpr_unplugged"
                    ) from err
                raise
            view = view[n:]
            self.bytes_sent += n
