"""MQTT topics of the bus, built and parsed in one place."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rocars.errors import BadPayload, InvalidIdentifier
from rocars.ids import ControlPoint, validate_device, validate_lane, validate_shard

ROOT = "rocars"
#: the largest MQTT packet of the bus (mosquitto's ``max_packet_size``, rocars.brokerconf;
#: ``Bus.publish`` refuses more): a status listing every lane of a site is ~2 KB, an
#: instruction ~0.5 KB
MAX_PACKET_BYTES = 65_536


#: A lane's plate reader's device id in its status topic (``lanes/{lane}/status/avrs``).
READER_DEVICE = "avrs"


class LaneTopic(StrEnum):
    """The kinds of message on a lane's topics (the part after ``lanes/{lane}/``)."""

    PLATE = "plate"
    INSTRUCTION = "instruction"
    UNLADEN = "aiop/unladen"
    MANIFEST = "aiop/manifest"
    STATUS = "status"


def lane_topic(
    cp: ControlPoint | str, lane: str, kind: LaneTopic, device: str | None = None
) -> str:
    """``rocars/{cp}/lanes/{lane}/{kind}`` (``status/{device}`` for device status)."""
    base = f"{ROOT}/{ControlPoint.parse(cp)}/lanes/{validate_lane(lane)}/{kind}"
    if kind is LaneTopic.STATUS:
        if device is None:
            raise ValueError("a status topic needs a device")
        return f"{base}/{validate_device(device)}"
    return base


def plate_topic(cp: ControlPoint | str, lane: str) -> str:
    return lane_topic(cp, lane, LaneTopic.PLATE)


def instruction_topic(cp: ControlPoint | str, lane: str) -> str:
    return lane_topic(cp, lane, LaneTopic.INSTRUCTION)


def unladen_topic(cp: ControlPoint | str, lane: str) -> str:
    return lane_topic(cp, lane, LaneTopic.UNLADEN)


def manifest_topic(cp: ControlPoint | str, lane: str) -> str:
    return lane_topic(cp, lane, LaneTopic.MANIFEST)


def device_status_topic(cp: ControlPoint | str, lane: str, device: str) -> str:
    return lane_topic(cp, lane, LaneTopic.STATUS, device)


def sync_status_topic(cp: ControlPoint | str, shard: str = "") -> str:
    """``rocars/{cp}/sync/status``: the lane controller's heartbeat and last will; a shard
    (one of several agents sharing the site's lanes) has ``rocars/{cp}/sync/{shard}/status``."""
    if shard:
        return f"{ROOT}/{ControlPoint.parse(cp)}/sync/{validate_shard(shard)}/status"
    return f"{ROOT}/{ControlPoint.parse(cp)}/sync/status"


def sync_echo_topic(cp: ControlPoint | str, shard: str = "") -> str:
    """``rocars/{cp}/sync/echo`` (a shard's ``rocars/{cp}/sync/{shard}/echo``): a lane agent
    publishes a token here and waits for it to come back when its session was resumed; it
    comes after what the broker kept for the agent while its connection was down."""
    return sync_status_topic(cp, shard).removesuffix("/status") + "/echo"


def sync_status_filters(cp: ControlPoint | str) -> list[str]:
    """What a display subscribes to for its controller's heartbeat: the site's topic and
    every shard's (``SyncStatus.lanes`` says which lanes a shard's status covers)."""
    site = sync_status_topic(cp)
    return [site, site.replace("/sync/status", "/sync/+/status")]


def lane_filter(cp: ControlPoint | str, kind: LaneTopic, lane: str = "+", device: str = "+") -> str:
    """A subscription filter for one kind of message on one lane or (``+``) all lanes;
    a status of one device or (``+``) every device."""
    lane_part = lane if lane == "+" else validate_lane(lane)
    device_part = device if device == "+" else validate_device(device)
    suffix = f"{kind}/{device_part}" if kind is LaneTopic.STATUS else str(kind)
    return f"{ROOT}/{ControlPoint.parse(cp)}/lanes/{lane_part}/{suffix}"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """What a lane topic names."""

    cp: ControlPoint
    lane: str
    kind: LaneTopic
    device: str | None = None


def parse_lane_topic(topic: str) -> ParsedTopic:
    """Split ``rocars/{cp}/lanes/{lane}/...``; raise BadPayload for anything else."""
    parts = topic.split("/")
    if len(parts) < 5 or parts[0] != ROOT or parts[2] != "lanes":
        raise BadPayload(f"not a lane topic: {topic!r}", key="bad_topic", topic=topic)
    try:
        cp = ControlPoint.parse(parts[1])
        lane = validate_lane(parts[3])
        rest = parts[4:]
        if rest[0] == "status" and len(rest) == 2:
            return ParsedTopic(cp, lane, LaneTopic.STATUS, validate_device(rest[1]))
        kind = LaneTopic("/".join(rest))
    except (InvalidIdentifier, ValueError) as err:
        raise BadPayload(f"not a lane topic: {topic!r}", key="bad_topic", topic=topic) from err
    if kind is LaneTopic.STATUS:
        raise BadPayload(f"status topic without a device: {topic!r}", key="bad_topic", topic=topic)
    return ParsedTopic(cp, lane, kind)
