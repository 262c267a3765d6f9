"""Errors of the AVRS adapter (serial and camera paths share this base)."""

from __future__ import annotations

from rocars.errors import RocarsError


class AvrsError(RocarsError):
    """Base of every error the AVRS adapter raises on purpose."""

    key = "avrs_error"


class UnknownProtocol(AvrsError):
    """A serial protocol name the adapter does not speak."""

    key = "avrs_unknown_protocol"


class ProtocolConfigError(AvrsError):
    """Protocol options that cannot work (e.g. a delimiter that is also a field character)."""

    key = "avrs_protocol_config"


class PortError(AvrsError):
    """A serial port that cannot be opened or configured."""

    key = "avrs_port_error"


class PortUnavailable(PortError):
    """A serial port of the right form that cannot be opened now (a USB adapter not yet
    there at boot, unplugged): the adapter exits so that its service tries again, with an
    exit code of its own (not a config error's)."""
