"""The sync agent's typed config (one TOML file; secrets from the environment)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from rocars.client import DEFAULT_TIMEOUT_S
from rocars.config import BusConfig, ServiceConfig, SiteConfig, is_loopback, secret
from rocars.errors import ConfigError, InvalidIdentifier
from rocars.ids import Lane, validate_shard
from rocars.messages import check_bay

#: The token the simulated centre accepts when none is configured (demo only).
DEV_CENTRAL_TOKEN = "dev-central-token"  # a demo default, not a secret
#: ``outbox_flush_interval_s``: its default, and the most it may be (it is how long a
#: power cut may still lose records whose instructions went out, on top of a flush)
DEFAULT_FLUSH_INTERVAL_S = 0.1
MAX_FLUSH_INTERVAL_S = 1.0
#: The least a lane's confidence threshold may be: rule 1 (a read under it stops the
#: truck) turned off, or down to a coin's toss, would let a misread plate release another
#: truck's bundle (alternates count at the threshold too).
MIN_CONFIDENCE_THRESHOLD = 0.5
#: The least a timer of the agent's own may be (the lanes' tick, the retries' first
#: delay): below it the loop spins on a CPU the plate reads need. The tests run at 0.02.
MIN_INTERVAL_S = 0.01
#: The least an interval that sends something may be (a change-feed poll, an upload
#: check, a status on the broker): each is a call to the centre or a message to every
#: display and agent. The tests run at 0.2.
MIN_SENDING_INTERVAL_S = 0.1
#: The most ``status_interval_s`` may be: half the least heartbeat bound a display takes
#: (2 s, ``heartbeat_bound`` of the board and the panel), so that two heartbeats fall
#: within it (docs/displays.md); above it a display fails closed between two of them.
MAX_STATUS_INTERVAL_S = 1.0

T = TypeVar("T")

#: a file that may be left out; "" (TOML has no null) leaves it out, not the folder "."
OptionalPath = Annotated[Path | None, BeforeValidator(lambda v: None if v == "" else v)]


def shard_blocks(lanes: list[T], shards: int) -> list[list[T]]:
    """``lanes`` in ``shards`` contiguous blocks, as even as possible (the first blocks
    get the extra lane): how ``rocars-edge up`` and the lane benchmark split a site."""
    size, extra = divmod(len(lanes), shards)
    blocks: list[list[T]] = []
    start = 0
    for k in range(shards):
        end = start + size + (1 if k < extra else 0)
        blocks.append(lanes[start:end])
        start = end
    return blocks


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: How long a truck told INSPECT is told INSPECT again if read again
#: (``sync.lane.Inspections``).
REINSPECT_WINDOW_S = 3600.0


class LaneConfig(_Section):
    """One lane this agent controls."""

    id: Lane = Field(description="lane id, as in the MQTT topics (e.g. L01)")
    confidence_threshold: float = Field(
        default=0.8,
        ge=MIN_CONFIDENCE_THRESHOLD,
        le=1.0,
        description="plate reads below this are not trusted (0.5 at least: rule 1 stays on)",
    )
    manifest_required: bool = Field(
        default=True, description="ask for the paper manifest (DROP_MANIFEST) before the result"
    )
    timeout_s: float = Field(
        default=60.0, ge=1.0, le=3600.0, description="driver action timeout, seconds"
    )
    hold_s: float = Field(
        default=8.0,
        ge=0.1,
        le=600.0,
        description="how long a final instruction stays before the lane returns to READY",
    )
    unladen_inspect_share: float = Field(
        default=0.05, ge=0.0, le=1.0, description="share of unladen trucks sent to inspection"
    )
    max_read_age_s: float = Field(
        default=10.0,
        ge=1.0,
        le=3600.0,
        description=(
            "a plate read taken longer ago than this (its ts, by this agent's clock) gets "
            "STOP_SEE_OFFICER: the truck it saw may have gone, another be at the booth"
        ),
    )
    inspect_bay: str = Field(
        default="U1",
        min_length=1,
        max_length=16,
        description="inspection bay for unladen trucks picked for inspection",
    )

    @field_validator("inspect_bay")
    @classmethod
    def _bay_a_board_can_show(cls, value: str) -> str:
        # the displays refuse an INSPECT whose bay they cannot show (check_bay): a bay
        # set here that they refuse would fail every unladen inspection of the lane
        return check_bay(value)


class CentralConfig(_Section):
    """The central ROCARS HTTP API. The token comes from ROCARS_CENTRAL_TOKEN."""

    url: str = Field(
        default="http://127.0.0.1:8700",
        # no user:password@: a URL is logged and quoted in errors (the token is a secret
        # of its own, ROCARS_CENTRAL_TOKEN)
        pattern=r"^https?://[^\s/@]+(/.*)?$",
        max_length=512,
        description="base URL of the central ROCARS API (no user:password@ in it)",
    )
    # at most 40: a call may last DEADLINE_FACTOR (3) times this, and the kiosk waits
    # KIOSK_ANSWER_TIMEOUT_S (130 s) for a forwarded answer before taking it as lost
    timeout_s: float = Field(
        default=DEFAULT_TIMEOUT_S, gt=0.0, le=40.0, description="HTTP timeout, seconds"
    )
    cafile: OptionalPath = Field(
        default=None,
        description=(
            "with an https:// url: the CA (PEM) the centre's certificate is checked "
            "against, instead of the system's (a private PKI, a proxy that inspects TLS)"
        ),
    )

    def token(self) -> str:
        """The control point's bearer token, ROCARS_CENTRAL_TOKEN (or its ``_FILE``); a demo
        default only for a centre on this machine (the simulator): a real centre sent
        the demo token answered 401 to every call, and the lanes closed once the replica
        aged, where a missing token should stop the agent's start (``secret_missing``)."""
        try:
            host = urlsplit(self.url).hostname or ""
        except ValueError as err:  # "http://[::1" passes the pattern
            raise ConfigError(f"[central] url {self.url!r} is not a URL: {err}") from err
        return secret("central_token", DEV_CENTRAL_TOKEN if is_loopback(host) else None)


class ApiConfig(_Section):
    """The local HTTP API: health, metrics, records, and the kiosks' bundling, cargo and
    query calls (sync/local_api.py)."""

    enabled: bool = Field(default=True, description="serve the local API")
    kiosk: bool = Field(default=True, description="serve the kiosks' calls under /v1")
    host: str = Field(default="127.0.0.1", max_length=255, description="listen address")
    port: int = Field(default=8710, ge=0, le=65535, description="listen port (0: any free)")
    tls_cert: OptionalPath = Field(
        default=None,
        description=(
            "serve HTTPS with this certificate (PEM, chain after it): broker-config's "
            "api.crt. Taken up again within seconds when the file changes"
        ),
    )
    tls_key: OptionalPath = Field(
        default=None, description="its private key (PEM, unencrypted): broker-config's api.key"
    )
    records_from_network: bool = Field(
        default=False,
        description=(
            "serve /records (every truck's plates, bundle and outcome) to clients not on "
            "this host too; without it they get 403 records_local_only (the kiosks reach "
            "the API on a network address)"
        ),
    )
    plain_http: bool = Field(
        default=False,
        description=(
            "serve the kiosks' calls over plain HTTP on a network address: drivers' "
            "passwords and codes then cross the LAN in clear (a lab only). Without it, "
            "and without tls_cert, only health, metrics and records are served there"
        ),
    )

    @model_validator(mode="after")
    def _tls(self) -> ApiConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self


class SyncConfig(ServiceConfig):
    """The sync agent of one control point and direction."""

    site: SiteConfig = Field(default_factory=SiteConfig, description="control point, direction")
    central: CentralConfig = Field(default_factory=CentralConfig, description="central ROCARS")
    bus: BusConfig = Field(default_factory=BusConfig, description="MQTT broker; empty = embedded")
    shard: str = Field(
        default="",
        max_length=16,
        description=(
            "this agent's name among several sharing the site's lanes (each its own lanes, "
            "MQTT client, status topic and outbox); empty: one agent controls them all"
        ),
    )
    pull: bool = Field(
        default=True,
        description=(
            "pull the change feed into replica.db; false on every shard but one, which "
            "writes the replica (and the centre's state) that they all read"
        ),
    )
    data_dir: Path = Field(
        default=Path("data/sync"), description="folder of replica.db and outbox.db"
    )
    lanes: list[LaneConfig] = Field(
        default_factory=lambda: [LaneConfig(id="L01")],
        min_length=1,
        max_length=500,
        description="the lanes this agent controls",
    )
    replica_max_age_s: float = Field(
        default=300.0,
        ge=1.0,
        le=86_400.0,
        description="replica older than this (or never synced): every lane fails closed",
    )
    reinspect_window_s: float = Field(
        default=REINSPECT_WINDOW_S,
        ge=0.0,
        le=86_400.0,
        description=(
            "a truck told INSPECT and read again at any lane of this agent within this "
            "long is told INSPECT again, whatever the replica says (0: off)"
        ),
    )
    outbox_durability: Literal["write", "flush"] = Field(
        default="write",
        description=(
            "when an instruction may go out: once its lane state and record are written "
            "(an agent crash loses nothing; the WAL is flushed right after) or only once "
            "flushed to the disk (a power cut loses nothing; every answer waits for the "
            "disk). See docs/architecture.md, 'The outbox'."
        ),
    )
    outbox_flush_interval_s: float = Field(
        default=DEFAULT_FLUSH_INTERVAL_S,
        ge=0.0,
        le=MAX_FLUSH_INTERVAL_S,
        description=(
            "with outbox_durability = 'write': after each flush of the WAL the next waits "
            "this long, one flush for every commit made meanwhile (0: right after each "
            "commit). A power cut can lose this much more of the newest records; a flush "
            "for every commit cost the lanes' p99 (docs/benchmarks.md, tenth session)."
        ),
    )
    background_batch: bool = Field(
        default=True,
        description=(
            "run the agent's background threads (lanes' timer, uploader, puller, outbox "
            "upkeep, local API, log writer) in Linux's SCHED_BATCH, whose wake-ups never "
            "preempt the thread that answers plate reads or the broker; no privilege "
            "needed (docs/sync.md, 'Lane latency')"
        ),
    )
    pull_interval_s: float = Field(
        default=2.0,
        ge=MIN_SENDING_INTERVAL_S,
        le=3600.0,
        description="change-feed poll interval once caught up (under replica_max_age_s)",
    )
    pull_batch: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description="changes per feed page (the centre refuses more than 10,000)",
    )
    upload_batch: int = Field(default=100, ge=1, le=1000, description="records per upload call")
    upload_interval_s: float = Field(
        default=1.0,
        ge=MIN_SENDING_INTERVAL_S,
        le=3600.0,
        description="outbox check interval when idle",
    )
    upload_linger_s: float = Field(
        default=0.25,
        ge=0.0,
        le=60.0,
        description="after a new record, wait this long so one upload carries several",
    )
    backoff_initial_s: float = Field(
        default=0.5,
        ge=MIN_INTERVAL_S,
        le=60.0,
        description="first retry delay after a central failure",
    )
    backoff_max_s: float = Field(
        default=30.0,
        ge=MIN_INTERVAL_S,
        le=3600.0,
        description="cap of the retry delay (backoff_initial_s at least)",
    )
    keep_uploaded_days: float = Field(
        default=7.0, ge=0.0, le=365.0, description="uploaded records are pruned after this"
    )
    status_interval_s: float = Field(
        default=1.0,
        ge=MIN_SENDING_INTERVAL_S,
        le=MAX_STATUS_INTERVAL_S,
        description=(
            "sync/status heartbeat period: at most half the least heartbeat bound a display"
            " takes (2 s)"
        ),
    )
    tick_interval_s: float = Field(
        default=0.05,
        ge=MIN_INTERVAL_S,
        le=5.0,
        description="lane timer resolution (timeouts, holds)",
    )
    api: ApiConfig = Field(default_factory=ApiConfig, description="local HTTP API")
    broker_certificate: OptionalPath = Field(
        default=None,
        description=(
            "the broker's TLS certificate (broker-config's server.crt): named in the "
            "status and /health in its last 30 days, and once expired (every device "
            "then refuses the broker); unset: ROCARS_BROKER_CERTIFICATE, which "
            "broker-config --tls-hosts writes in the agents' .env files"
        ),
    )

    @field_validator("lanes")
    @classmethod
    def _unique_lanes(cls, value: list[LaneConfig]) -> list[LaneConfig]:
        ids = [lane.id for lane in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"a lane id appears twice: {ids}")
        return value

    @model_validator(mode="after")
    def _intervals(self) -> SyncConfig:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(
                f"backoff_max_s ({self.backoff_max_s:g}) is under backoff_initial_s "
                f"({self.backoff_initial_s:g}): the cap of the retry delay is its least"
            )
        if self.pull_interval_s >= self.replica_max_age_s:
            raise ValueError(
                f"pull_interval_s ({self.pull_interval_s:g}) must be under replica_max_age_s "
                f"({self.replica_max_age_s:g}): the replica would go stale between two "
                "polls, and every lane fail closed"
            )
        return self

    @field_validator("shard")
    @classmethod
    def _shard_name(cls, value: str) -> str:
        if not value:
            return value
        try:
            return validate_shard(value)
        except InvalidIdentifier as err:
            raise ValueError(str(err)) from err

    @property
    def client_id(self) -> str:
        """The agent's MQTT client id (one per shard: the broker drops a duplicate's peer)."""
        base = f"sync-{self.site.cp}-{self.site.direction}"
        return f"{base}-{self.shard}" if self.shard else base

    @property
    def replica_path(self) -> Path:
        return self.data_dir / "replica.db"

    @property
    def inspections_path(self) -> Path:
        """``inspections.db``: the trucks told INSPECT, shared by the shards of the folder."""
        return self.data_dir / "inspections.db"

    @property
    def outbox_path(self) -> Path:
        """``outbox.db``; a shard's own ``outbox-{shard}.db`` (one writer a file)."""
        return self.data_dir / (f"outbox-{self.shard}.db" if self.shard else "outbox.db")
