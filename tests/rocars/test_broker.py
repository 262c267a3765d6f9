"""The embedded broker (amqtt): what it says when a client does not acknowledge."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from rocars.broker import EmbeddedBroker, _lost_acks_said_plainly
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


def _raised_in(filename: str, err: BaseException) -> BaseException:
    """``err`` raised from code compiled as ``filename`` (a frame of that file)."""
    code = compile("raise err", filename, "exec")
    try:
        exec(code, {"err": err})  # noqa: S102 - a frame of that name, nothing else
    except BaseException as raised:  # noqa: BLE001
        return raised
    raise AssertionError("not raised")


def test_amqtts_own_race_is_a_warning_and_drops_that_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """amqtt iterates its subscriptions while another client's task changes them: the
    new client's connection died and asyncio said it as an ERROR with its traceback (CI's
    demo test failed on it once). Said as a WARNING; the connection is closed, so the
    client reconnects at once. The same error elsewhere is asyncio's as before."""
    loop = asyncio.new_event_loop()
    closed: list[bool] = []

    class Transport:
        def close(self) -> None:
            closed.append(True)

    race = _raised_in(
        "/venv/site-packages/amqtt/broker.py",
        RuntimeError("dictionary changed size during iteration"),
    )
    other = _raised_in(
        "/somewhere/else.py", RuntimeError("dictionary changed size during iteration")
    )
    try:
        with caplog.at_level(logging.INFO):
            _lost_acks_said_plainly(loop, {"exception": race, "transport": Transport()})
            assert closed == [True]
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert "amqtt dropped a connecting client" in caplog.text
            _lost_acks_said_plainly(loop, {"message": "x", "exception": other})
            assert [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        loop.close()
