"""The MQTT bus client every service uses (paho-mqtt 2, callback API version 2).

QoS 1, a retained last will, ``connect_async`` + ``loop_start`` so a broker that is
down at start-up is retried, subscriptions renewed on every reconnect, TCP_NODELAY on
the socket. Message handlers run on paho's thread: a Qt app hands over through a signal.

``mqtts://HOST:PORT`` speaks TLS 1.2 or later and checks the broker's certificate and
name against the CA file in ``ROCARS_MQTT_CAFILE`` (else the system's CAs): a password
sent over the booth LAN in clear could be used to publish plate reads for a lane. A
certificate that fails the check (expired, another CA's, another host's) is logged once
with the reason, kept in ``Bus.problem``, and the connection retried as for a broker down.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, _ConnectionState
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from rocars.config import parse_broker, secret, tls_client_context, tls_problem
from rocars.messages import Message
from rocars.threads import name_thread
from rocars.topics import MAX_PACKET_BYTES

if TYPE_CHECKING:
    from paho.mqtt.client import _InPacket

logger = logging.getLogger(__name__)

Handler = Callable[[str, bytes], None]

#: a PUBLISH's bytes beside its topic and payload: fixed header (≤ 5), topic length (2),
#: packet id (2)
_PUBLISH_OVERHEAD = 9
#: messages paho keeps queued while the broker is away, at most: under the 65,535 message
#: ids of MQTT (100,000 before: past 65,535 paho refused every publish, and nothing said so)
MAX_QUEUED = 60_000
#: How long one try to clear a persistent session of the run before may take
#: (``Bus._clear_session``)
CLEAR_TIMEOUT_S = 3.0
#: How long a resumed session's echo is waited for (``Bus(echo_topic=...)``) before the
#: bus says it is connected without it: a broker whose ACL predates the echo topic drops
#: it (MQTT 3.1.1 says nothing of a refused publish).
ECHO_WAIT_S = 3.0
#: Seconds between tries to connect (doubling from the least to the most)
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 5


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True


def broker_credentials(username: str = "") -> tuple[str, str]:
    """Broker user (given, else ``ROCARS_MQTT_USERNAME``) and password (``ROCARS_MQTT_PASSWORD``).

    Production brokers need a user per device: ``rocars-edge broker-config`` writes both
    into each device's .env file. No user means anonymous (the embedded broker, tests).
    """
    user = username or os.environ.get("ROCARS_MQTT_USERNAME", "")
    return user, (secret("mqtt_password", "") if user else "")


def broker_tls_context(cafile: str = "") -> ssl.SSLContext:
    """A client's TLS context for the broker (``tls_client_context``), its certificate
    checked against ``cafile`` (given, else ``ROCARS_MQTT_CAFILE``, else the system's
    CAs)."""
    path = cafile or os.environ.get("ROCARS_MQTT_CAFILE", "")
    return tls_client_context(path, "the broker's", "broker_cafile")


#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH
_NAME_MISMATCH = (62, 64)


def tls_failure(err: BaseException) -> str:
    """Why a TLS connection to the broker failed, and where to look."""
    why = tls_problem(err, "the broker")
    if isinstance(err, ssl.SSLCertVerificationError):
        where = (
            "the broker url's host must be one of its names: broker-config --tls-hosts"
            if err.verify_code in _NAME_MISMATCH
            else "the broker's certfile, or the CA in ROCARS_MQTT_CAFILE"
        )
        return f"{why} ({where})"
    if isinstance(err, ssl.SSLError) and err.reason == "WRONG_VERSION_NUMBER":
        return f"{why} (a plain listener: mqtt://)"
    if isinstance(err, (ConnectionResetError, ssl.SSLEOFError)):
        return f"{why} (a plain listener? then mqtt://)"
    return why


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic filter matching (``+`` one level, ``#`` the rest).

    ``paho``'s ``topic_matches_sub`` builds a matcher tree on every call (13 us); this is
    a split and a loop, and ``Bus`` remembers which handlers a topic goes to.
    """
    wanted = topic_filter.split("/")
    parts = topic.split("/")
    if topic.startswith("$") != topic_filter.startswith("$"):
        return False  # $SYS and the like match only filters that name them
    for n, level in enumerate(wanted):
        if level == "#":
            return True
        if n >= len(parts) or (level != "+" and level != parts[n]):
            return False
    return len(parts) == len(wanted)


#: How many topics ``Bus`` remembers the handlers of (then it starts again): a site's
#: topics are lanes x kinds; a flood of made-up lane names must not grow it without end.
MAX_ROUTES = 4096
#: Distinct reasons a connection failed, each logged once until one works (bounded: a
#: TLS failure's reason may carry details that differ from try to try).
MAX_LOGGED_PROBLEMS = 16

#: What a PUBACK of MQTT 3.1.1 says besides its packet id (nothing: success), for on_publish.
_PUBACK_SUCCESS = ReasonCode(PacketTypes.PUBACK)
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]

#: paho's network thread in the OS (``top -H``, ``perf``): it reads every message and, in
#: the agent, answers the plate reads
BUS_THREAD_NAME = "mqtt-bus"

#: One ``recv`` takes up to this much: every packet the broker has sent so far, usually.
RECV_CHUNK = 65536


def _plain(command: int, qos: int) -> bool:
    """A packet paho does nothing with once it is written: all but a QoS 0 publish
    (marked published then) and DISCONNECT (the socket closed then)."""
    kind = command & 0xF0
    return kind != mqtt.DISCONNECT and (kind != mqtt.PUBLISH or qos > 0)


def packet_frame(buf: bytes | bytearray) -> tuple[int, int] | None:
    """Where the packet at the head of ``buf`` has its variable header and its end;
    None while it is not whole, or when its remaining length runs over 4 bytes
    (malformed: paho's reading reports that)."""
    length = 0
    for n in range(1, min(len(buf), 5)):
        byte = buf[n]
        length |= (byte & 0x7F) << (7 * (n - 1))
        if not byte & 0x80:
            end = n + 1 + length
            return (n + 1, end) if end <= len(buf) else None
    return None


def _new_in_packet() -> _InPacket:
    """paho's state of a packet being read, as it sets it after each packet."""
    return {
        "command": 0,
        "have_remaining": 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": 0,
        "packet": bytearray(b""),
        "to_process": 0,
        "pos": 0,
    }


class _AnswerFirstClient(mqtt.Client):
    """paho's client, reading in chunks and writing what a handler queued before it reads on.

    Seven changes to paho's loop, measured on a lane agent at 200 plate reads/s (the last
    two together, as CPU a truck; docs/benchmarks.md):

    - paho reads a packet in three ``recv`` calls (its first byte, its length, the rest)
      and each lets the GIL go: with the agent's other threads busy, every one of them
      could cost the reading thread a switch interval before it ran again, and a read
      waited behind the acknowledgements read before it. Here one ``recv`` takes what
      the socket holds and the packets are parsed from that buffer.
    - paho's ``loop_read`` reads every packet the socket holds (up to one per message in
      flight) and only then does its loop write: when messages arrive together, the
      answer to the first waited for the handlers of all the others. Here whatever is
      queued is written before each packet is read, so an answer leaves as soon as its
      handler returns.
    - paho wakes its own ``select`` for every packet queued, with a byte through a socket
      pair, also when the queueing thread is its own (a handler answering): two system
      calls and a round of its loop more for every answer, and the answer left only
      after that round. Here a packet queued on paho's thread is written when the reading
      ends (and before each packet read), without the wake-up; other threads still wake it.
    - paho decodes every PUBACK into a reason code and a properties object, which MQTT
      3.1.1 does not have (15 us each, two an instruction); here only the packet id.
    - paho reads a packet out of that buffer in three or four copies, and makes an
      ``MQTTMessage`` (with a ``threading.Condition``) of each PUBLISH for its
      ``on_message``; here a packet whole in the buffer is cut out of it at once, and a
      PUBLISH goes to ``deliver`` as its topic and payload (``Bus`` routes it).
    - paho sends each queued packet with a ``send`` of its own, and each lets the GIL go
      (another thread may keep it until the switch interval is out) and wakes the
      broker: a lane's answer and the acknowledgement of the read it answers were two.
      Here the packets queued since the last write leave in one ``send``.
    - paho wakes its thread (the socket pair) for every packet another thread queues,
      and that thread then waits for the GIL to write it: each session end the lanes'
      timer publishes cost a wake-up and a hand-over of the GIL. Here the publishing
      thread writes the queue itself when no other thread is writing, for every packet
      but those paho does something with once written (a QoS 0 publish, DISCONNECT);
      what it cannot write (the socket full, the connection lost) wakes paho's thread
      as before. One thread writes at a time (``_writing``), and only a plain TCP socket
      is written this way: an SSL object must not be read and written at once.

    Measured on a lane that answers at once (bench/lane_latency.py's null lanes, in a
    process of its own): paho's CPU for a read, its answer and both acknowledgements went
    from ~230 to ~165 us. The same calls as paho's own loop, on its thread and outside
    any callback. The internals used are those of paho 2.2 (pyproject.toml allows 2.2.x
    only, the lock pins 2.2.0); ``tests/rocars/test_bus.py`` checks each on a real broker.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = bytearray()
        #: one thread writes the socket at a time: paho's, or one that publishes
        self._writing = threading.RLock()
        #: where a PUBLISH goes as ``(topic, payload)`` (``Bus`` sets it), instead of
        #: through paho's ``MQTTMessage`` and ``on_message`` (see ``_hand_over``)
        self.deliver: Handler | None = None
        #: told why a TLS handshake failed (paho only logs "Connection failed" at debug)
        self.on_tls_failure: Callable[[BaseException], None] | None = None
        #: the messages queued while offline have been sent again since the last CONNECT
        #: (``_send_publish``)
        self._replayed = False
        #: called on paho's thread once a connection is up and what was queued while it
        #: was down has been sent again (after ``on_connect``)
        self.on_replayed: Callable[[], None] | None = None
        #: called on paho's thread at each round of its loop (at least once a second while
        #: a connection is up): ``Bus`` times its echo there, so that every connection
        #: callback comes from this one thread, in order
        self.on_round: Callable[[], None] | None = None

    def loop_misc(self) -> MQTTErrorCode:
        if self.on_round is not None:
            self.on_round()
        return super().loop_misc()

    def reconnect(self) -> MQTTErrorCode:
        self._replayed = False
        return super().reconnect()

    def _handle_connack(self) -> MQTTErrorCode:
        try:
            # the flag is set before paho's queue lock is let go: a publish waiting for it
            # (the lanes' timer) then goes out, not refused into a queue no one resends
            with self._out_message_mutex:  # an RLock: paho takes it again inside
                try:
                    return super()._handle_connack()
                finally:
                    # (a broker refusing MQTT 3.1.1 has paho reconnect inside: not yet)
                    self._replayed = self._state == _ConnectionState.MQTT_CS_CONNECTED
        finally:
            # outside the lock: the callbacks take locks of their own (a lane's publish)
            if self._replayed and self.on_replayed:
                self.on_replayed()

    def _send_publish(
        self,
        mid: int,
        topic: bytes,
        payload: bytes | bytearray = b"",
        qos: int = 0,
        retain: bool = False,
        dup: bool = False,
        info: mqtt.MQTTMessageInfo | None = None,
        properties: Properties | None = None,
    ) -> MQTTErrorCode:
        """A new QoS 1 publish (``publish`` passes its ``info``) goes out only once the
        connection is up and what was queued while it was down has been sent again;
        before, it joins that queue, and goes in its order. paho sent it as soon as a
        socket existed, so a lane's READY published between CONNECT and CONNACK left
        before the PROCEED queued while offline, which paho sent again after it: the
        broker kept the PROCEED as the lane's retained instruction (found in review)."""
        connected = self._state == _ConnectionState.MQTT_CS_CONNECTED
        if qos > 0 and info is not None and not (connected and self._replayed):
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        return super()._send_publish(mid, topic, payload, qos, retain, dup, info, properties)

    def _ssl_wrap_socket(self, tcp_sock: socket.socket) -> ssl.SSLSocket:
        try:
            return super()._ssl_wrap_socket(tcp_sock)
        except OSError as err:  # ssl.SSLError, a timeout, a reset; paho retries
            if self.on_tls_failure is not None:
                self.on_tls_failure(err)
            raise

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self._rbuf:
            data = super()._sock_recv(RECV_CHUNK)  # BlockingIOError when there is none
            if len(data) <= bufsize:
                return data  # b"" too: the broker closed the connection
            self._rbuf += data
        chunk = bytes(self._rbuf[:bufsize])
        del self._rbuf[:bufsize]  # from the front: CPython moves a start index, not the rest
        return chunk

    def _sock_close(self) -> None:
        self._rbuf.clear()  # what the old connection sent is not the new one's
        super()._sock_close()

    def _packet_read(self) -> MQTTErrorCode:
        """Read one packet: one whole in the buffer is cut out of it at once.

        paho's own reading takes a packet in three or four ``_sock_recv`` calls (its first
        byte, each byte of its length, the rest), each a copy out of the buffer and the
        packet's state kept in a dict between them; a packet that is not whole yet (or
        whose length is malformed) still goes that way, its state kept until the rest
        comes.
        """
        if self._in_packet["command"]:  # part way through a packet
            return super()._packet_read()
        buf = self._rbuf
        if not buf:
            try:
                data = super()._sock_recv(RECV_CHUNK)
            except BlockingIOError:
                return MQTTErrorCode.MQTT_ERR_AGAIN
            except OSError as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "failed to receive on socket: %s", err)
                return MQTTErrorCode.MQTT_ERR_CONN_LOST
            if not data:
                return MQTTErrorCode.MQTT_ERR_CONN_LOST
            buf += data
        frame = packet_frame(buf)
        if frame is None:
            return super()._packet_read()
        start, end = frame
        command = buf[0]
        packet = buf[start:end]
        del buf[:end]  # from the front: CPython moves a start index, not the rest
        with self._msgtime_mutex:
            self._last_bytes_received = mqtt.time_func()
        self._in_packet["command"] = command
        self._in_packet["packet"] = packet
        try:
            rc = self._packet_handle()
        except MalformedPacket as exc:
            self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        self._in_packet = _new_in_packet()
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        rc = self._hand_over(self._in_packet["command"], self._in_packet["packet"])
        return super()._handle_publish() if rc is None else rc

    def _hand_over(self, command: int, packet: bytearray) -> MQTTErrorCode | None:
        """A PUBLISH at QoS 0 or 1 to ``deliver``, acknowledged as paho does; None: paho's
        own handling (no ``deliver``, MQTT 5, QoS 2, an empty, cut or non-UTF-8 topic).

        paho makes an ``MQTTMessage`` of each (with an ``MQTTMessageInfo`` and its
        ``threading.Condition``, only used for messages sent), logs it, decodes the
        topic again and matches it against the callbacks added by topic; ``Bus`` uses
        none of that: its handlers take the topic and the payload.
        """
        deliver = self.deliver
        qos = (command >> 1) & 3
        if deliver is None or self._protocol == mqtt.MQTTv5 or qos > 1 or len(packet) < 2:
            return None
        at = 2 + int.from_bytes(packet[:2], "big")
        if at == 2 or at + 2 * qos > len(packet):
            return None
        try:
            topic = packet[2:at].decode()
        except UnicodeDecodeError:
            return None
        mid = 0
        if qos:
            mid = int.from_bytes(packet[at : at + 2], "big")
            at += 2
        with self._in_callback_mutex:
            try:
                deliver(topic, bytes(packet[at:]))
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise
        if qos and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        if self._sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        budget = max(len(self._out_messages) + len(self._in_messages), 1)
        while True:
            if self._out_packet:
                rc = self.loop_write()
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return rc
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                if self._rbuf:
                    continue  # paho's pause within a very long packet; the rest is here
                break
            if rc > 0:
                return self._loop_rc_handle(rc)
            budget -= 1
            # the buffer is read to its end: select() cannot see what is in it
            if budget <= 0 and not self._rbuf:
                break
        if self._out_packet and self._sock is not None:
            return self.loop_write()  # the last handlers' answers, now (no wake-up came)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _packet_queue(
        self,
        command: int,
        packet: bytes | bytearray,
        mid: int,
        qos: int,
        info: mqtt.MQTTMessageInfo | None = None,
    ) -> MQTTErrorCode:
        thread = self._thread
        mine = thread is threading.current_thread()
        if thread is None or not (mine or _plain(command, qos)):
            return super()._packet_queue(command, packet, mid, qos, info)
        self._out_packet.append(
            {
                "command": command,
                "mid": mid,
                "qos": qos,
                "pos": 0,
                "to_process": len(packet),
                "packet": packet,
                "info": info,
            }
        )
        if mine:
            # paho's own thread (a handler, on_connect, the keepalive): it writes what is
            # queued at the end of loop_read, and its select() asks to write while
            # anything is
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        # another thread (the lanes' timer ending a session): it writes the queue itself
        # when no other thread is writing, instead of waking paho's thread for it. Only on
        # a plain TCP socket, which one thread may write while another reads; a TLS or
        # WebSocket one (not configured here) keeps all its I/O on paho's thread
        if type(self._sock) is socket.socket and self._writing.acquire(blocking=False):
            try:
                # a packet paho does something with once written (queued by its own
                # thread) leaves the whole queue to paho's thread; a socket gone meanwhile:
                # paho's write puts the packet back, and the wake-up below tells its thread
                if all(_plain(p["command"], p["qos"]) for p in list(self._out_packet)):
                    self._packet_write()
            finally:
                self._writing.release()
            if not self._out_packet:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        # paho's thread writes it (or finds the connection lost): woken as paho does
        if self._sockpairW is not None:
            try:
                self._sockpairW.send(b"0")
            except BlockingIOError:
                pass
        self._call_socket_register_write()
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _packet_write(self) -> MQTTErrorCode:
        with self._writing:
            # the packets queued since the last write, one send (see _coalesce)
            self._coalesce()
            return super()._packet_write()

    def _coalesce(self) -> None:
        """Join the packets at the head of the queue that paho does nothing with once
        written (all but QoS 0 publishes and DISCONNECT) and that no send has begun on,
        so that one ``send`` carries them: an answer and the acknowledgement of the read
        it answers leave together. Packets another thread queues meanwhile go after."""
        queue = self._out_packet
        if len(queue) < 2:
            return
        taken = []
        while queue:
            head = queue[0]
            if head["pos"] or not _plain(head["command"], head["qos"]):
                break
            taken.append(queue.popleft())
        if len(taken) < 2:
            queue.extendleft(taken)
            return
        data = b"".join(packet["packet"] for packet in taken)
        # an acknowledgement as far as paho's write is concerned: nothing to do after it
        queue.appendleft(
            {
                "command": mqtt.PUBACK,
                "mid": 0,
                "qos": 1,
                "pos": 0,
                "to_process": len(data),
                "packet": data,
                "info": None,
            }
        )

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet = self._in_packet["packet"]
        if cmd != "PUBACK" or self._protocol == mqtt.MQTTv5 or len(packet) != 2:
            return super()._handle_pubackcomp(cmd)  # paho checks and decodes the rest
        mid = int.from_bytes(packet, "big")
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, _PUBACK_SUCCESS, _NO_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS


class Bus:
    """One MQTT connection.

    ``on_connection`` callbacks get True/False as the connection comes and goes;
    a display uses that to fail closed when the broker is lost.
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        will: Will | Callable[[], Will] | None = None,
        username: str = "",
        password: str = "",
        keepalive: int = 10,
        cafile: str = "",
        allow_plain: bool = False,
        persistent: bool = False,
        echo_topic: str = "",
    ) -> None:
        """``allow_plain``: log in over plain MQTT to a broker on another machine, the
        password in clear (a lab only; also ``ROCARS_MQTT_PLAIN=1``). Without it such a
        url with a user is a ``ConfigError`` (``rocars.config.parse_broker``).

        ``persistent``: a session the broker keeps while this client's connection is
        down (MQTT's clean session off): the QoS 1 messages of its subscriptions published
        meanwhile are delivered when it is back, and so is one it had been sent but not
        acknowledged. Without it they are lost: what a lane agent must not lose (a plate
        read, a press, a drop). Kept for one run of the process only: ``start`` first
        clears what the broker kept since the run before (``_clear_session``).

        ``echo_topic`` (with ``persistent``): a topic this client may write and read. When
        the broker resumes the session, what it kept comes first; the bus then publishes a
        token there (QoS 1: it joins the same queue, behind them) and tells its connection
        callbacks it is up only when the token is back (at most ``ECHO_WAIT_S``). A lane
        agent that republished its instructions at once showed the truck before's PROCEED
        until it had handled the read of the truck kept meanwhile (found in review). And a
        session found on the first connection after the clearing is the run before's (a
        broker restarted from an older save): what it kept is dropped until the echo."""
        username, env_password = broker_credentials(username)
        address = parse_broker(url, credentials=bool(username), allow_plain=allow_plain)
        self.host, self.port, self.tls = address.host, address.port, address.tls
        self.client_id = client_id
        self._will = will
        self._keepalive = keepalive
        self._handlers: list[tuple[str, int, Handler]] = []
        #: topic -> its handlers: a shard subscribes to 2 filters a lane, and matching a
        #: read against each of 100 filters cost more than handling it
        self._routes: dict[str, list[Handler]] = {}
        self._lock = threading.Lock()
        self._connection_callbacks: list[Callable[[bool], None]] = []
        self.connected = threading.Event()
        #: why the last connection attempt failed ("" once connected): a refusal, the TLS
        #: handshake, a hang-up before the broker answered, or no broker there
        self.problem = ""
        #: the problems logged since the last connection: each once, not at every retry,
        #: even when two alternate (a hang-up, then a timeout under load, then a hang-up)
        self._logged: set[str] = set()
        self._attempt_failed = False  # this attempt's failure is in ``problem`` already
        #: the broker answered this connection's CONNECT (with a refusal, maybe)
        self._answered = False
        self._stopped = threading.Event()  # ``stop`` called (the clearing thread waits on it)
        self._start_lock = threading.Lock()
        self._client = _AnswerFirstClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=not persistent,
        )
        self._persistent = persistent
        #: the first connection since the session was cleared: it must find none kept
        self._fresh = False
        #: the broker had this client's session at the last connection (a persistent bus
        #: back within a run): what it kept for it comes first, then what is sent now
        self.session_present = False
        self._echo_topic = echo_topic if persistent else ""
        #: the echo waited for: its token and until when (monotonic), None when none is;
        #: paho's thread only (``_on_replayed``, ``_on_echo``, ``_echo_overdue``,
        #: ``_on_disconnect``), so the connection callbacks keep their order
        self._echo: tuple[bytes, float] | None = None
        #: the session found was the run before's: its messages are dropped until the echo
        self._stale = False
        self._stale_dropped = 0
        self._login = (username, password or env_password) if username else None
        if self._login is not None:
            self._client.username_pw_set(*self._login)
        self._client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(MAX_QUEUED)
        #: a publish refused for a full queue was logged (once, until one is taken again)
        self._queue_full_told = False
        self._client.on_connect = self._on_connect
        self._client.on_replayed = self._on_replayed
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.deliver = self._route
        self._client.on_socket_open = self._on_socket_open
        self._client.on_pre_connect = self._on_pre_connect
        self._client.on_connect_fail = self._on_connect_fail
        #: built once: the clearing client (``_clear_session``) uses it at every try, and
        #: a CA file being rewritten meanwhile must not stop the start
        self._tls_context = broker_tls_context(cafile) if address.tls else None
        if self._tls_context is not None:
            self._client.tls_set_context(self._tls_context)
            self._client.on_tls_failure = self._on_tls_failure
        if self._echo_topic:
            self.subscribe(self._echo_topic, self._on_echo, qos=1)
            self._client.on_round = self._echo_overdue

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; returns at once, reconnects for ever. A persistent
        bus first clears the session a run before left (``_clear_session``), on a thread
        of its own, as often as it takes: it does not connect until that is done."""
        self._set_will()
        if not self._persistent:
            self._connect()
            return
        thread = threading.Thread(
            target=self._clear_then_connect, name="mqtt-bus-clear", daemon=True
        )
        thread.start()
        name_thread(thread)

    def _connect(self) -> None:
        self._client.connect_async(self.host, self.port, keepalive=self._keepalive)
        self._client.loop_start()
        if self._client._thread is not None:  # the thread loop_start started
            name_thread(self._client._thread, BUS_THREAD_NAME)

    def _clear_then_connect(self) -> None:
        """``_clear_session`` until it is done (its failures said as a connection's are),
        then the connection; nothing once ``stop`` was called. Connecting without it
        would hand this run what the broker kept for the run before (a broker that was
        restarting, a link down at the start): the wrong PROCEED it is there to stop."""
        delay = RECONNECT_MIN_S
        while not self._stopped.is_set():
            try:
                cleared = self._clear_session(CLEAR_TIMEOUT_S)
            except Exception as err:  # noqa: BLE001 - a thread that died would never connect
                logger.exception(
                    "%s: clearing the session of the run before failed", self.client_id
                )
                self._note_problem(f"clearing the session of the run before: {err}")
                cleared = False
            if cleared:
                with self._start_lock:
                    if not self._stopped.is_set():
                        self._fresh = True
                        self._connect()
                return
            self._stopped.wait(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    def _clear_session(self, timeout: float) -> bool:
        """Connect with a clean session and leave at once: the broker drops the session it
        kept for this client id, with the messages queued for it since the run before
        (stopped, crashed). A new run knows nothing of the trucks before it: such a read
        of the truck before the one at the booth, a second or two old, was decided as
        new, and its PROCEED shown to the truck there (found in review). Within a run the
        session is kept. False when no broker answered within ``timeout``."""
        wiper = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if self._login is not None:
            wiper.username_pw_set(*self._login)
        if self._tls_context is not None:
            wiper.tls_set_context(self._tls_context)
        wiper.connect_timeout = timeout
        answers: list[ReasonCode] = []
        wiper.on_connect = lambda c, u, f, reason, p: answers.append(reason)
        deadline = time.monotonic() + timeout
        try:
            wiper.connect(self.host, self.port, keepalive=max(5, int(timeout) + 1))
            while not answers and time.monotonic() < deadline:
                if wiper.loop(timeout=0.05) is not MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break  # the broker hung up (paho's loop would return at once, a spin)
            if answers:
                wiper.disconnect()
        except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
            if self.tls and isinstance(err, (ssl.SSLError, ConnectionResetError)):
                self._note_problem(tls_failure(err))  # with where to look, as a connection's
            else:
                self._note_problem(f"clearing the session of the run before: {err}")
            return False
        finally:
            with contextlib.suppress(OSError):
                sock = wiper.socket()
                if sock is not None:
                    sock.close()
        if not answers:
            self._note_problem(
                "clearing the session of the run before: no answer"
                + ("" if self.tls else " (a TLS listener? then mqtts://)")
            )
            return False
        if answers[0].is_failure:
            self._note_problem(f"the broker refused the connection: {answers[0]}")
            return False
        return True

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self.connected.wait(timeout)

    def stop(self, *, publish_will: bool = False) -> None:
        """Disconnect cleanly (no last will) unless ``publish_will`` asks to send it first.

        Stopped whatever happens to the will: paho refuses a publish ("not connected")
        when the socket has just closed and ``connected`` is not cleared yet."""
        try:
            if publish_will and self._will is not None and self.connected.is_set():
                self._publish_will()
        finally:
            with self._start_lock:  # no connection started after this (_clear_then_connect)
                self._stopped.set()
            self._client.disconnect()
            self._client.loop_stop()
            self.connected.clear()

    def _publish_will(self) -> None:
        will = self._current_will()
        try:
            self._client.publish(
                will.topic, will.payload, qos=1, retain=will.retain
            ).wait_for_publish(2)
        except (RuntimeError, ValueError) as err:  # paho: not sent, or its queue full
            # the broker sends the last will itself when a connection is lost, not when
            # it is closed: one just lost has had it
            logger.warning("%s: its will on %s not sent: %s", self.client_id, will.topic, err)

    def input_waiting(self) -> bool:
        """Bytes from the broker not handled yet: read but not parsed, or in the socket.

        Any thread may ask (the lanes' timer does, to give way to a plate read that has
        reached the agent but not its handler); it costs a ``select`` with no timeout.
        """
        client = self._client
        if client._rbuf:
            return True
        sock = client.socket()
        if sock is None:
            return False
        try:
            pending = getattr(sock, "pending", None)  # TLS: decrypted, not read yet
            if pending is not None and pending():
                return True
            return bool(select.select([sock], [], [], 0)[0])
        except (OSError, ValueError):  # closed meanwhile by paho's thread
            return False

    def on_connection(self, callback: Callable[[bool], None]) -> None:
        self._connection_callbacks.append(callback)

    # -- traffic -----------------------------------------------------------------------

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        """Call ``handler(topic, payload)`` for each message; renewed on reconnect.

        Asked of the broker now whether or not ``connected`` says so: a connection coming
        up may have taken its list of subscriptions (``_on_connect``) before this one
        was added and not yet set ``connected``. paho answers "not connected" to a
        subscribe with no socket, and the next connection subscribes then. One asked
        twice in that moment (here and by ``_on_connect``) is one subscription at the
        broker, whose retained messages may come twice (as after any reconnect)."""
        with self._lock:
            self._handlers.append((topic_filter, qos, handler))
            self._routes = {}
        self._client.subscribe(topic_filter, qos)

    def publish(
        self, topic: str, payload: bytes | Message, *, qos: int = 1, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        """Queue a message; paho sends it when connected (QoS 1 survives a reconnect).

        A QoS 1 message is written on the calling thread when the socket is free (else
        paho's thread writes it): the socket is non-blocking, so this never waits.
        A message over ``MAX_PACKET_BYTES`` raises ``ValueError`` and is not queued: the
        broker would drop the connection for it, and paho would send it again on every
        reconnect.
        """
        data = payload.to_bytes() if isinstance(payload, Message) else payload
        if len(data) + len(topic) * 4 + _PUBLISH_OVERHEAD > MAX_PACKET_BYTES:
            size = len(data) + len(topic.encode()) + _PUBLISH_OVERHEAD
            if size > MAX_PACKET_BYTES:
                raise ValueError(
                    f"a message of {size} bytes on {topic} is over the bus's "
                    f"{MAX_PACKET_BYTES}-byte packet limit"
                )
        info = self._client.publish(topic, data, qos=qos, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            if not self._queue_full_told:
                self._queue_full_told = True
                logger.error(
                    "%s: %d messages queued while the broker is away: %s and what follows "
                    "are dropped until it is back",
                    self.client_id,
                    MAX_QUEUED,
                    topic,
                )
        elif self._queue_full_told:
            self._queue_full_told = False
            logger.warning("%s: messages are queued again", self.client_id)
        return info

    # -- paho callbacks (paho's thread) ------------------------------------------------

    def _current_will(self) -> Will:
        assert self._will is not None
        return self._will() if callable(self._will) else self._will

    def _set_will(self) -> None:
        if self._will is not None:
            will = self._current_will()
            self._client.will_set(will.topic, will.payload, qos=1, retain=will.retain)

    def _on_tls_failure(self, err: BaseException) -> None:
        self._note_problem(tls_failure(err))

    def _note_problem(self, problem: str) -> None:
        """Why this attempt failed: logged once, not at every retry; ``problem`` till the
        next attempt fails otherwise or one works."""
        if problem not in self._logged:
            logger.warning(
                "%s cannot connect to %s:%s: %s", self.client_id, self.host, self.port, problem
            )
            if len(self._logged) >= MAX_LOGGED_PROBLEMS:  # problems that carry details
                self._logged.clear()
            self._logged.add(problem)
        self.problem = problem
        self._attempt_failed = True

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        self._attempt_failed = False

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        """No connection at all (refused, unreachable, timed out), or a TLS handshake that
        failed (said already): so an old reason does not stand for a new one."""
        if not self._attempt_failed:
            self._note_problem("no broker answers there (connection refused or timed out)")

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._answered = False
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            logger.debug("TCP_NODELAY not set on %r", sock)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        self._answered = True
        if reason_code.is_failure:
            self._note_problem(f"the broker refused the connection: {reason_code}")
            return
        self.session_present = bool(flags.session_present)
        if not self.session_present:
            self._stale = False  # nothing kept: none of the run before's either
        if self._fresh:
            self._fresh = False
            if flags.session_present:
                # the clearing undone: a broker killed before it saved, restarted from an
                # older save with the run before's session (found in review); what it
                # kept comes now, before any message of ours: dropped until the echo
                self._stale = bool(self._echo_topic)
                logger.warning(
                    "%s: the broker kept a session of the run before after it was cleared "
                    "(restarted from an older save?): %s",
                    self.client_id,
                    "its messages are dropped" if self._stale else "its messages may follow",
                )
        with self._lock:
            subscriptions = [(topic, qos) for topic, qos, _ in self._handlers]
        for topic, qos in subscriptions:
            client.subscribe(topic, qos)
        logger.info(
            "%s connected to %s:%s%s",
            self.client_id,
            self.host,
            self.port,
            " (TLS)" if self.tls else "",
        )
        self.problem = ""
        self._logged.clear()

    def _on_replayed(self) -> None:
        """Connected, and what was queued meanwhile sent again: only now is the bus said
        to be up (``connected``, ``on_connection``), so what is published on hearing it
        goes after what was queued (a lane's instructions republished: its newest last)."""
        self.connected.set()
        if not (self.session_present and self._echo_topic):
            self._notify(True)
            return
        token = secrets.token_hex(8).encode()
        self._echo = (token, time.monotonic() + ECHO_WAIT_S)
        self._client.publish(self._echo_topic, token, qos=1)

    def _on_echo(self, topic: str, payload: bytes) -> None:
        if self._echo is not None and payload == self._echo[0]:  # not a connection before's
            logger.info("%s: what the broker kept for it is handled", self.client_id)
            self._echo_done()

    def _echo_overdue(self) -> None:
        if self._echo is not None and time.monotonic() >= self._echo[1]:
            logger.warning(
                "%s: no echo on %s within %.0f s: connected without it (a broker ACL from"
                " before the echo? run broker-config again)",
                self.client_id,
                self._echo_topic,
                ECHO_WAIT_S,
            )
            self._echo_done()

    def _echo_done(self) -> None:
        self._echo = None
        self._stale = False
        dropped, self._stale_dropped = self._stale_dropped, 0
        if dropped:
            logger.warning(
                "%s: dropped %d messages the broker kept for the run before",
                self.client_id,
                dropped,
            )
        self._notify(True)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        self._echo = None  # a token of this connection that comes later is not waited for
        # the will may depend on the time (its ts): renew it for the next connection
        self._set_will()
        if not (was_connected or self._answered or self._stopped.is_set() or self.tls):
            # the connection closed before the broker answered our CONNECT: what a TLS
            # listener does with plain MQTT (a refusal is a CONNACK: _on_connect)
            self._note_problem(
                "the broker hung up before answering (a TLS listener? then mqtts://)"
            )
        if was_connected:
            if not self._stopped.is_set():
                logger.warning("%s lost the broker: %s", self.client_id, reason_code)
            self._notify(False)

    def _notify(self, up: bool) -> None:
        for callback in list(self._connection_callbacks):
            try:
                callback(up)
            except Exception:  # top-level of a callback: a bad callback must not kill paho's loop
                logger.exception("connection callback failed")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        # what paho still hands over this way (see _AnswerFirstClient._hand_over)
        try:
            topic = message.topic
        except UnicodeDecodeError as err:
            # a broker should refuse such a topic; raised here, it would end paho's thread
            logger.warning("dropped a message whose topic is not UTF-8: %s", err)
            return
        self._route(topic, bytes(message.payload))

    def _route(self, topic: str, payload: bytes) -> None:
        """A message to the handlers of its topic (paho's thread)."""
        if self._stale and topic != self._echo_topic:
            self._stale_dropped += 1  # said at the echo (there may be thousands)
            return
        handlers = self._routes.get(topic)
        if handlers is None:
            with self._lock:
                handlers = [h for f, _, h in self._handlers if topic_matches(f, topic)]
                if len(self._routes) >= MAX_ROUTES:
                    self._routes = {}
                self._routes[topic] = handlers
        for handler in handlers:
            try:
                handler(topic, payload)
            except Exception:  # top-level of a message: one bad payload must not stop the consumer
                logger.exception("handler failed on %s", topic)
