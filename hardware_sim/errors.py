"""Errors of the simulator (every virtual device and scenario shares this base)."""

from __future__ import annotations

from rocars.errors import RocarsError


class SimError(RocarsError):
    """Base of every error the simulator raises on purpose."""

    key = "sim_error"


class LprDeviceError(SimError):
    """The virtual LPR device cannot do what was asked (not started, unplugged, write timed out)."""

    key = "sim_lpr_device"
