"""What a plate source yields: one raw sighting, before debouncing and voting.

A serial LPR line or one OCR'd camera frame becomes an Observation; the aggregator
turns the sightings of one truck into one PlateRead on the bus.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True, slots=True)
class Observation:
    """One sighting. ``vrn`` is normalised (empty when a vehicle was seen but no plate read)."""

    vrn: str
    raw: str
    confidence: float
    source: Literal["serial", "camera"]
    device: str
    at: float  # time.monotonic() of the sighting
    alternates: tuple[tuple[str, float], ...] = field(default=())


class Source(Protocol):
    """A plate source. ``observations`` blocks, yielding until ``stop`` is set.

    It never raises for bad input (noise, a dead port, an empty frame): it logs,
    says so in ``status()``, and keeps going or reconnects.
    """

    def observations(self, stop: threading.Event) -> Iterator[Observation]: ...

    def status(self) -> dict[str, Any]:
        """Figures for ``status/avrs``: e.g. fps, errors, port/stream state."""
        ...
