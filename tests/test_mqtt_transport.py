"""Tests for the device protocol over MQTT (aranya_perf.transport.topics, mqtt, mosquitto).

Topic rules and framing are checked with exact strings and bytes (field numbers from
aranya-v0.3's ``aranya.proto``: Msg/Cmd kind 1, complete 4, payload 11; StateMsg kind 1,
device_id 2; RejectCmd reason 1, message 2), then on the wire of a real mosquitto: what a
device and the controller end publish (topic, retain flag, payload bytes), the will the
broker publishes when a device drops, and how the controller end splits namespaces into
streams. All on plain asyncio loops; ``test_mqtt_fleet.py`` runs devices on the load engine.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aranya_perf import protocol
from aranya_perf.protocol import RejectReason
from aranya_perf.transport import mosquitto, mqtt
from aranya_perf.transport.stream import EOF
from aranya_perf.transport.topics import MqttError, TopicMatcher, Topics, check_template, namespace

P = protocol.get("aranya-v0.3")
ONLINE_DEV1 = bytes.fromhex("0806 2001 5a09 0801 1205") + b"dev-1"
OFFLINE_DEV1 = bytes.fromhex("0806 2001 5a09 0802 1205") + b"dev-1"


# --- topics ----------------------------------------------------------------------------------------


def test_namespace_and_its_three_topics() -> None:
    ns = namespace("aranya-perf/{device}", "dev-1")
    assert ns == "aranya-perf/dev-1"
    t = Topics(ns)
    assert (t.cmd, t.msg, t.status) == (
        "aranya-perf/dev-1/cmd",
        "aranya-perf/dev-1/msg",
        "aranya-perf/dev-1/status",
    )
    assert namespace("e2e.aranya.arhat.dev/{device}-worker", "c1") == "e2e.aranya.arhat.dev/c1-worker"


@pytest.mark.parametrize(
    "template",
    [
        "aranya-perf",
        "a/{device}/{device}",
        "a/+/{device}",
        "a/#/{device}",
        "$SYS/{device}",
        "a//{device}",
        "{device}/",
    ],
)
def test_templates_that_cannot_name_one_namespace_per_device_are_refused(template: str) -> None:
    with pytest.raises(MqttError, match="template"):
        check_template(template)


@pytest.mark.parametrize("device_id", ["", "a/b", "a+b", "a#"])
def test_device_ids_that_are_not_one_topic_level_are_refused(device_id: str) -> None:
    with pytest.raises(MqttError, match="topic level"):
        namespace("aranya-perf/{device}", device_id)


def test_matcher_filters_and_topics() -> None:
    m = TopicMatcher("fleet/{device}-edge")
    assert m.filters() == ("fleet/+-edge/msg", "fleet/+-edge/status")
    assert m.match("fleet/d7-edge/msg") == ("d7", "msg")
    assert m.match("fleet/d7-edge/status") == ("d7", "status")
    assert m.match("fleet/d7-edge/cmd") == ("d7", "cmd")
    for other in (
        "fleet/d7-edge/other",
        "fleet/-edge/msg",
        "fleet/a/b-edge/msg",
        "other/d7-edge/msg",
        "fleet/d7/msg",
    ):
        assert m.match(other) is None, other


# --- framing ---------------------------------------------------------------------------------------


def test_payloads_are_the_bare_protobuf_bytes() -> None:
    assert mqtt.encode(P.online("dev-1")) == ONLINE_DEV1
    assert mqtt.encode(P.offline("dev-1")) == OFFLINE_DEV1
    # The controller's reject: CMD_REJECT (6), sid 0, seq 0, complete, RejectCmd{ALREADY_CONNECTED (2), "x"}.
    assert mqtt.encode(P.reject(RejectReason.ALREADY_CONNECTED, "x")) == bytes.fromhex(
        "0806 2001 5a05 0802 1201 78"
    )


def test_will_is_the_offline_msg_on_status_qos1_retained() -> None:
    will = mqtt.will_message(P, "dev-1", Topics("aranya-perf/dev-1"))
    assert (will.topic, will.payload, will.qos, will.retain) == (
        b"aranya-perf/dev-1/status",
        OFFLINE_DEV1,
        1,
        True,
    )


@pytest.mark.parametrize("name", protocol.NAMES)
def test_chunk_size_is_arhats_mqtt_limit_minus_an_empty_frame(name: str) -> None:
    proto = protocol.get(name)
    empty = 64 * 1024 - proto.max_payload  # what the gRPC chunk size leaves for the frame around the data
    assert mqtt.max_payload(proto) == 128 * 1024 - empty
    assert mqtt.max_payload(proto) > proto.max_payload


# --- on a real broker ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def broker():
    with mosquitto.Broker() as b:
        yield b


async def _observer(
    b: mosquitto.Broker, topic: str, client_id: str = "observer"
) -> tuple[Any, list[tuple[str, bytes, int]]]:
    seen: list[tuple[str, bytes, int]] = []

    def on_message(_c: Any, t: str, payload: bytes, _qos: int, props: dict[str, Any]) -> None:
        seen.append((t, payload, props.get("retain", 0)))

    client = await mqtt.connect_client(
        client_id,
        mqtt.resolve(b.host, b.port),
        clean_session=True,
        on_message=on_message,
        subscribe=(topic,),
    )
    return client, seen


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_device_side_on_the_wire(broker: mosquitto.Broker) -> None:
    async def main() -> None:
        observer, seen = await _observer(broker, "wire/#")
        channel = mqtt.DeviceChannel(P, "dev-1", mqtt.resolve(broker.host, broker.port), "wire/{device}")
        await channel.channel_ready()
        stream = channel.open_stream()
        await stream.write(P.online("dev-1"))
        data = P.new_msg(P.msg.DATA, 9, b"hi", 0, True)
        await stream.write(data)
        await _until(lambda: len(seen) == 2)
        assert seen == [
            ("wire/dev-1/status", ONLINE_DEV1, 0),
            ("wire/dev-1/msg", data.SerializeToString(), 0),
        ]
        # The online was retained: a later subscriber still gets it (flagged retained).
        late, late_seen = await _observer(broker, "wire/+/status", "late-observer")
        await _until(lambda: late_seen)
        assert late_seen == [("wire/dev-1/status", ONLINE_DEV1, 1)]
        late.abort()
        # A Cmd published on ns/cmd is what the device reads.
        cmd = P.new_cmd(P.cmd.NODE_INFO_GET, 5, P.node_info_get_body(True), 0, True)
        observer.publish("wire/dev-1/cmd", cmd.SerializeToString(), qos=1)
        got = await asyncio.wait_for(stream.read(), 5)
        assert got.SerializeToString() == cmd.SerializeToString()
        assert channel.published == 2
        # Dropping the connection (as arhat closes) makes the broker publish the will: offline, retained.
        stream.cancel()
        assert await asyncio.wait_for(stream.read(), 5) is EOF
        await _until(lambda: len(seen) == 4)  # the cmd, then the will
        assert seen[3] == ("wire/dev-1/status", OFFLINE_DEV1, 0)
        with pytest.raises(ConnectionError):
            await stream.write(data)
        observer.abort()

    asyncio.run(main())


def test_controller_end_one_stream_per_namespace_opened_by_online(broker: mosquitto.Broker) -> None:
    async def main() -> None:
        streams: list[mqtt.ControllerStream] = []
        stray: list[int] = []
        end = mqtt.ControllerEnd(P, "demux/{device}", streams.append, stray.append, "controller")
        address = mqtt.resolve(broker.host, broker.port)
        await end.start(address)
        a = mqtt.DeviceChannel(P, "a", address, "demux/{device}")
        b = mqtt.DeviceChannel(P, "b", address, "demux/{device}")
        await a.channel_ready()
        await b.channel_ready()
        sa, sb = a.open_stream(), b.open_stream()
        await sa.write(P.new_msg(P.msg.NODE_STATUS, 0, b"", 0, True))  # before online: no stream for it
        await sa.write(P.online("a"))
        await sb.write(P.online("b"))
        await sa.write(P.new_msg(P.msg.DATA, 3, b"x", 0, True))
        await _until(lambda: len(streams) == 2)
        assert stray == [P.msg.NODE_STATUS]
        assert sorted(s.device_id for s in streams) == ["a", "b"]
        stream_a = next(s for s in streams if s.device_id == "a")
        assert P.unpack(await stream_a.read())[0] == P.msg.STATE
        assert P.unpack(await stream_a.read())[:2] == (P.msg.DATA, 3)
        await stream_a.write(P.reject(RejectReason.ALREADY_CONNECTED, "x"))
        assert P.unpack(await asyncio.wait_for(sa.read(), 5))[0] == P.cmd.REJECT
        # Done with a's stream: its next frames are strays until it says online again.
        stream_a.close()
        assert await stream_a.read() is EOF
        await sa.write(P.new_msg(P.msg.DATA, 4, b"y", 0, True))
        await _until(lambda: len(stray) == 2)
        await sa.write(P.online("a"))
        await _until(lambda: len(streams) == 3)
        assert streams[2].device_id == "a" and streams[2] is not stream_a
        assert end.published == 1 and end.received == 6
        a.abort()
        b.abort()
        end.stop()

    asyncio.run(main())


def test_unreachable_broker_is_a_one_line_connection_error() -> None:
    from tests.helpers import free_port

    async def main() -> None:
        with pytest.raises(ConnectionError, match="unreachable") as info:
            await mqtt.connect_client("x", mqtt.resolve("127.0.0.1", free_port()))
        assert "\n" not in str(info.value)

    asyncio.run(main())


def test_broker_not_installed_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mosquitto.shutil, "which", lambda _name: None)
    monkeypatch.setattr(mosquitto, "FALLBACK_PATHS", ())
    with pytest.raises(mosquitto.BrokerError, match=r"mosquitto is not installed.*apt-get install mosquitto"):
        mosquitto.Broker().start()


def test_sys_counters_count_what_clients_published(broker: mosquitto.Broker) -> None:
    async def main() -> None:
        before = await mosquitto.read_sys(broker.host, broker.port, settle_s=2.5)
        client = await mqtt.connect_client(
            "counter", mqtt.resolve(broker.host, broker.port), clean_session=True
        )
        for _ in range(7):
            client.publish("count/x", b"1", qos=1)
        client.publish("count/y", b"1", qos=1, retain=True)  # mosquitto 2.0 leaves retained ones out
        await asyncio.sleep(0.2)
        after = await mosquitto.read_sys(broker.host, broker.port, settle_s=2.5)
        client.abort()
        key = "$SYS/broker/publish/messages/received"
        assert after[key] - before[key] == 7
        assert set(mosquitto.summary(after)) <= set(mosquitto.COUNTERS)

    asyncio.run(main())
