"""The embedded broker's login check: amqtt imports it by name (``rocars.broker``), in the
embedded mode only."""

from __future__ import annotations

from amqtt.plugins.authentication import AnonymousAuthPlugin
from amqtt.session import Session


class LocalAuthPlugin(AnonymousAuthPlugin):  # type: ignore[misc]  # amqtt: untyped
    """Every client is let in, as ``AnonymousAuthPlugin`` lets them in, but none counts as
    anonymous: amqtt keeps nothing for an anonymous client while it is away, so the lane
    agent's persistent session (``Bus(persistent=True)``) lost the plate reads sent while
    it reconnected. The embedded broker listens on loopback only: whoever connects is a
    program of this machine."""

    async def authenticate(self, *, session: Session) -> bool:
        allowed = bool(await super().authenticate(session=session))
        if allowed:
            session.is_anonymous = False
        return allowed
