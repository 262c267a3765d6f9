"""The embedded broker (amqtt): what it says when a client does not acknowledge."""

from __future__ import annotations

import gc
import logging
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from rocars.broker import EmbeddedBroker
from rocars.bus import Bus


@pytest.mark.parametrize("retained", [True, False], ids=["retained", "live"])
def test_a_client_that_never_acknowledges_is_no_error(
    embedded_broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture, retained: bool
) -> None:
    """amqtt waits 5 s for a PUBACK, then raises: for a retained message handed to a new
    subscriber, in a task nobody awaits (asyncio: "Task exception was never retrieved"),
    for a live one in its broadcast ("Task failed and will be skipped"), both at ERROR
    with a traceback (two demo runs in six on a loaded machine). Said at INFO now."""
    sender = Bus(embedded_broker.url, "sender")
    sender.start()
    mute = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="mute")
    mute.manual_ack_set(True)  # and never acknowledges
    came: list[bytes] = []
    mute.on_message = lambda c, u, m: came.append(m.payload)
    mute.on_connect = lambda c, u, f, r, p: c.subscribe("rocars/SBC/t", qos=1)
    try:
        assert sender.wait_connected(10)
        with caplog.at_level(logging.INFO):
            if retained:
                sender.publish("rocars/SBC/t", b"x", qos=1, retain=True).wait_for_publish(5)
            mute.connect(embedded_broker.host, embedded_broker.port)
            mute.loop_start()
            deadline = time.monotonic() + 5
            while not came and time.monotonic() < deadline:
                if not retained:
                    sender.publish("rocars/SBC/t", b"x", qos=1).wait_for_publish(5)
                time.sleep(0.2)
            assert came
            deadline = time.monotonic() + 15
            while "(a client gone or stalled)" not in caplog.text:
                assert time.monotonic() < deadline, caplog.text
                gc.collect()  # the failed task let go
                if not retained:  # the broadcast looks at its finished tasks then
                    sender.publish("rocars/SBC/other", b"y", qos=1).wait_for_publish(5)
                time.sleep(0.3)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, [r.getMessage() for r in errors]
    finally:
        if retained:
            sender.publish("rocars/SBC/t", b"", qos=1, retain=True).wait_for_publish(5)
        sender.stop()
        mute.loop_stop()
        mute.disconnect()
