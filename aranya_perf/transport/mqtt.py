"""The device protocol over MQTT, as aranya's controller and the arhat agent carry it: topics, framing,
both ends, on the caller's asyncio loop.

Rules (aranya ``pkg/virtualnode/connectivity/mq_mqtt.go``, ``mgr_mq.go``; aranya-proto
``aranyagoconst/connectivity.go``; arhat ``pkg/client/mqtt``):

* every device has a topic namespace ``ns``; ``ns/cmd`` carries Cmds to the device, ``ns/msg``
  its Msgs, ``ns/status`` its MSG_STATE online/offline; everything QoS 1;
* a payload is the bare protobuf bytes of one frame, nothing else;
* the agent connects (MQTT 3.1.1, CleanSession false, keepalive 60 s, client id = device id)
  with a will on ``ns/status``: its offline Msg, QoS 1, retained; subscribes ``ns/cmd``, then
  publishes its online Msg on ``ns/status`` (retained) and every other Msg on ``ns/msg``, none
  of them waiting for the PUBACK (arhat's ``PostMsg`` does not); it closes by dropping the
  connection, so the broker publishes the will;
* the agent's largest payload is ``MaxMQTTDataSize`` (128 KiB), which sets the chunk size.

``DeviceChannel`` is one device's connection (what ``DeviceAgent`` holds where it holds a
gRPC channel); ``ControllerEnd`` is the gateway's: one client whose wildcard subscriptions
cover every namespace of a template, demultiplexed into one ``ControllerStream`` per
namespace, opened by an online message. Both streams are ``FrameStream``s.

The client library is gmqtt: it is asyncio-native (no thread per client; paho-based
aiomqtt connects in an executor thread and guards its state with ``threading`` locks, which
are gevent's in a Locust process and must never be touched from the load engine's loop
thread). gmqtt creates its socket through ``loop.create_connection(host, port)``, which in a
gevent-patched process would make a gevent socket (and a gevent hub) on the loop thread, so
``_Client`` overrides that one step: it connects a socket of the original ``socket`` class with
``loop.sock_connect`` and hands it over with ``sock=``. gmqtt's own reconnects are turned off
(the agent and the gateway decide when to reconnect), and its loggers are disabled, because
logging takes ``threading`` locks too. Pinned to gmqtt 0.8.0, whose internals the override uses.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

import gmqtt
from gmqtt.mqtt.connection import MQTTConnection
from gmqtt.mqtt.constants import MQTTv311
from gmqtt.mqtt.protocol import MQTTProtocol

from aranya_perf.protocol import Protocol
from aranya_perf.protocol.model import MAX_GRPC_MESSAGE
from aranya_perf.transport.stream import EOF
from aranya_perf.transport.topics import (
    CMD,
    DEFAULT_NAMESPACE,
    DEVICE_FIELD,
    MAX_MQTT_DATA_SIZE,
    MqttError,
    TopicMatcher,
    Topics,
    check_template,
    namespace,
)

__all__ = [
    "DEFAULT_NAMESPACE",
    "ControllerEnd",
    "DeviceChannel",
    "MqttError",
    "TopicMatcher",
    "Topics",
    "check_template",
    "connect_client",
    "namespace",
    "resolve",
]

QOS = 1
KEEPALIVE_S = 60
CONNECT_TIMEOUT_S = 10.0

for _name in [n for n in logging.root.manager.loggerDict if n == "gmqtt" or n.startswith("gmqtt.")]:
    logging.getLogger(_name).disabled = True


def max_payload(proto: Protocol) -> int:
    """Bytes per data frame over MQTT: arhat's limit minus the version's empty frame (as over gRPC)."""
    return MAX_MQTT_DATA_SIZE - (MAX_GRPC_MESSAGE - proto.max_payload)


# -- framing --------------------------------------------------------------------------------------


def encode(frame: Any) -> bytes:
    """The payload of one frame: its bare protobuf bytes."""
    return frame.SerializeToString()


def will_message(proto: Protocol, device_id: str, topics: Topics) -> gmqtt.Message:
    """The agent's will: its offline Msg on ``ns/status``, QoS 1, retained (mosquitto supports retain)."""
    return gmqtt.Message(topics.status, encode(proto.offline(device_id)), qos=QOS, retain=True)


def state_of(proto: Protocol, msg: Any) -> str | None:
    """``online``/``offline`` for a MSG_STATE frame that says so, else None."""
    kind, _sid, _seq, _complete, body = proto.unpack(msg)
    if kind != proto.msg.STATE:
        return None
    try:
        return proto.read_state(body)[0]
    except ValueError:
        return None


# -- sockets of the original socket module ----------------------------------------------------------


def _original(module: str, name: str) -> Any:
    """``module.name`` as the standard library defines it, even in a gevent-patched process."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched(module):
        return monkey.get_original(module, name)
    return getattr(importlib.import_module(module), name)


def resolve(host: str, port: int) -> tuple[int, tuple[Any, ...]]:
    """(family, sockaddr) of a broker, resolved with the original ``getaddrinfo`` (blocking: do it once,
    off the load engine's loop, or with a numeric address, for which it does not block)."""
    getaddrinfo = _original("socket", "getaddrinfo")
    import socket as _s

    try:
        family, _type, _proto, _name, sockaddr = getaddrinfo(host, port, type=_s.SOCK_STREAM)[0]
    except OSError as exc:
        raise MqttError(f"cannot resolve MQTT broker {host}:{port}: {exc}") from None
    return family, sockaddr


async def _native_connection(family: int, sockaddr: tuple[Any, ...], timeout: float) -> Any:
    import socket as _s

    sock = _original("socket", "socket")(family, _s.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.setsockopt(_s.IPPROTO_TCP, _s.TCP_NODELAY, 1)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, sockaddr), timeout)
    except BaseException:
        sock.close()
        raise
    return sock


class _Client(gmqtt.Client):
    """gmqtt's client with a socket of the original ``socket`` module and no reconnects of its own."""

    _sockaddr: tuple[int, tuple[Any, ...]]

    async def _create_connection(
        self, host: Any, port: Any, ssl: Any, clean_session: Any, keepalive: Any
    ) -> Any:
        # gmqtt's own steps before a connection (see gmqtt.Client._create_connection), then ours.
        self._exit_reconnecting_state()
        self._package_handler.clear_topics_aliases()
        self._connack_received.clear()
        self._connection_lost.clear()
        family, sockaddr = self._sockaddr
        sock = await _native_connection(family, sockaddr, CONNECT_TIMEOUT_S)
        loop = asyncio.get_running_loop()
        factory = partial(
            MQTTProtocol,
            connection_state=self._connection_state,
            id_generator=self._package_handler.id_generator,
        )
        transport, protocol = await loop.create_connection(factory, sock=sock)
        return MQTTConnection(
            transport,
            protocol,
            clean_session,
            keepalive,
            package_handler=self._package_handler,
            logger=self._logger,
        )

    def reconnect(self, delay: bool = False) -> asyncio.Future[None]:
        # The owner reconnects (with its own backoff), with a new client. A finished future, not a
        # coroutine: gmqtt schedules what this returns, and a task left pending at a loop's end warns.
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def abort(self) -> None:
        """Drop the TCP connection without DISCONNECT: the broker publishes the will."""
        self._is_active = False
        connection = self._connection
        if connection is not None:
            connection._transport.abort()

    @property
    def closed(self) -> bool:
        connection = self._connection
        return connection is None or connection.is_closing()


async def connect_client(
    client_id: str,
    broker: tuple[int, tuple[Any, ...]],
    *,
    will_message: gmqtt.Message | None = None,
    clean_session: bool = False,
    keepalive: int = KEEPALIVE_S,
    on_message: Callable[..., Any] | None = None,
    on_disconnect: Callable[..., Any] | None = None,
    subscribe: tuple[str, ...] = (),
    timeout: float = CONNECT_TIMEOUT_S,
) -> _Client:
    """A connected MQTT 3.1.1 client on the running loop, its ``subscribe`` filters acknowledged (QoS 1).

    ``broker`` is ``resolve()``'s answer. Raises ``ConnectionError`` when the broker refuses or
    does not answer within ``timeout``.
    """
    client = _Client(client_id, clean_session=clean_session, will_message=will_message, logger=_SILENT)
    client._sockaddr = broker
    if on_message is not None:
        client.on_message = on_message
    if on_disconnect is not None:
        client.on_disconnect = on_disconnect
    acked: dict[int, asyncio.Future[Any]] = {}

    def suback(_client: Any, mid: int, qos: Any, _properties: Any) -> None:
        fut = acked.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result(qos)

    client.on_subscribe = suback
    try:
        await asyncio.wait_for(client.connect("", 0, keepalive=keepalive, version=MQTTv311), timeout)
        loop = asyncio.get_running_loop()
        for topic in subscribe:
            fut = loop.create_future()
            acked[client.subscribe(topic, qos=QOS)] = fut
            granted = await asyncio.wait_for(fut, timeout)
            if any(q not in (0, 1, 2) for q in granted):
                raise ConnectionError(f"broker refused the subscription {topic} (code {granted})")
    except TimeoutError:
        client.abort()
        raise ConnectionError(f"MQTT broker did not answer within {timeout:g}s ({client_id})") from None
    except OSError as exc:
        client.abort()
        raise ConnectionError(f"MQTT broker unreachable: {exc.strerror or exc} ({client_id})") from None
    except Exception as exc:  # a refused CONNACK
        client.abort()
        raise ConnectionError(f"MQTT broker refused {client_id}: {exc}") from None
    return client


class _Silent:
    """gmqtt's logger: nothing is logged from the loop thread (logging locks are gevent's there)."""

    def _nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    debug = info = warning = error = critical = exception = _nothing


_SILENT: Any = _Silent()


# -- the device end -------------------------------------------------------------------------------


class DeviceChannel:
    """One device's MQTT connection: client id = device id, the offline will, ``ns/cmd`` subscribed.

    Shaped like the gRPC channel ``DeviceAgent`` holds: ``channel_ready()`` connects (again,
    after a drop), ``open_stream()`` is the device's side of the stream, ``close()`` ends it.
    """

    def __init__(
        self,
        proto: Protocol,
        device_id: str,
        broker: tuple[int, tuple[Any, ...]],
        template: str = DEFAULT_NAMESPACE,
        *,
        clean_session: bool = False,
        keepalive: int = KEEPALIVE_S,
    ) -> None:
        self.proto = proto
        self.device_id = device_id
        self.topics = Topics(namespace(template, device_id))
        self._broker = broker
        self._clean_session = clean_session
        self._keepalive = keepalive
        self._client: _Client | None = None
        self._stream: DeviceStream | None = None
        self.published = 0
        """PUBLISH packets this device sent (its online messages included), for counts against the broker."""

    async def channel_ready(self) -> None:
        """Connected, with ``ns/cmd`` subscribed; connects when the last connection is gone."""
        if self._client is not None and not self._client.closed:
            return
        stream = DeviceStream(self)
        self._stream = stream
        self._client = await connect_client(
            self.device_id,
            self._broker,
            will_message=will_message(self.proto, self.device_id, self.topics),
            clean_session=self._clean_session,
            keepalive=self._keepalive,
            on_message=stream._on_message,
            on_disconnect=stream._on_disconnect,
            subscribe=(self.topics.cmd,),
        )

    def open_stream(self) -> DeviceStream:
        """The device's side of its stream over the current connection (``channel_ready`` first)."""
        if self._stream is None:
            raise ConnectionError(f"{self.device_id}: not connected")
        return self._stream

    def publish(self, topic: str, frame: Any, *, retain: bool = False) -> None:
        client = self._client
        if client is None or client.closed:
            raise ConnectionError(f"{self.device_id}: MQTT connection closed")
        client.publish(topic, encode(frame), qos=QOS, retain=retain)
        self.published += 1

    def abort(self) -> None:
        """Drop the connection as arhat does when it closes: no DISCONNECT, so the will says offline."""
        client, self._client = self._client, None
        if client is not None:
            client.abort()
        if self._stream is not None:
            self._stream._on_disconnect(None, None, None)

    async def close(self, _grace: float | None = None) -> None:
        self.abort()


class DeviceStream:
    """The device's side: ``read()`` Cmds from ``ns/cmd``, ``write()`` a Msg (MSG_STATE on ``ns/status``,
    retained as arhat's online is; everything else on ``ns/msg``). ``cancel()`` drops the connection."""

    def __init__(self, channel: DeviceChannel) -> None:
        self._channel = channel
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._decode = channel.proto.cmd_type.FromString
        self._unpack = channel.proto.unpack
        self._state = channel.proto.msg.STATE
        self._ended = False

    def _on_message(self, _client: Any, _topic: str, payload: bytes, _qos: int, _properties: Any) -> None:
        try:
            frame = self._decode(payload)
        except Exception as exc:  # not a Cmd of this version
            frame = MqttError(f"undecodable Cmd on {_topic}: {exc}")
        self._queue.put_nowait(frame)

    def _on_disconnect(self, _client: Any, _packet: Any, _exc: Any = None) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(EOF)

    async def read(self) -> Any:
        frame = await self._queue.get()
        if isinstance(frame, MqttError):
            raise frame
        return frame

    async def write(self, frame: Any) -> None:
        if self._ended:
            raise ConnectionError(f"{self._channel.device_id}: MQTT connection closed")
        channel = self._channel
        if self._unpack(frame)[0] == self._state:
            channel.publish(channel.topics.status, frame, retain=True)
        else:
            channel.publish(channel.topics.msg, frame)

    def cancel(self) -> None:
        self._channel.abort()

    def done(self) -> bool:
        return self._ended


# -- the controller end ---------------------------------------------------------------------------


class ControllerStream:
    """The controller's side of one namespace: ``read()`` Msgs from ``ns/msg`` and ``ns/status`` in arrival
    order, ``write()`` Cmds to ``ns/cmd``; ``close()`` when done with it (later Msgs open a new one)."""

    __slots__ = ("_end", "_queue", "closed", "device_id", "topics")

    def __init__(self, end: ControllerEnd, device_id: str, topics: Topics) -> None:
        self._end = end
        self.device_id = device_id
        self.topics = topics
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    async def read(self) -> Any:
        return await self._queue.get()

    async def write(self, frame: Any) -> None:
        if self.closed:
            raise ConnectionError(f"stream of {self.device_id} closed")
        self._end.publish(self.topics.cmd, frame)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(EOF)
            self._end._forget(self)


class ControllerEnd:
    """The gateway's MQTT client: subscribes every namespace of ``template`` and hands each new stream
    (a namespace's MSG_STATE online, while it has none open) to ``on_stream``; frames on a namespace
    without a stream go to ``on_stray(kind)`` and are dropped, as a closed gRPC stream drops them."""

    def __init__(
        self,
        proto: Protocol,
        template: str,
        on_stream: Callable[[ControllerStream], None],
        on_stray: Callable[[int], None],
        client_id: str,
    ) -> None:
        self.proto = proto
        self.matcher = TopicMatcher(template)
        self._template = template
        self._on_stream = on_stream
        self._on_stray = on_stray
        self._client_id = client_id
        self._client: _Client | None = None
        self._streams: dict[str, ControllerStream] = {}
        self._topics: dict[str, Topics] = {}
        self.published = 0
        """PUBLISH packets sent (Cmds), for counts against the broker."""
        self.received = 0
        """PUBLISH packets received from the broker."""
        self.lost: asyncio.Event | None = None

    async def start(self, broker: tuple[int, tuple[Any, ...]]) -> None:
        self.lost = asyncio.Event()
        self._client = await connect_client(
            self._client_id,
            broker,
            clean_session=False,
            on_message=self._on_message,
            on_disconnect=self._on_disconnect,
            subscribe=self.matcher.filters(),
        )

    def _on_disconnect(self, *_args: Any) -> None:
        # Every stream went with the connection, as every gRPC stream goes with its server.
        for stream in list(self._streams.values()):
            stream.close()
        if self.lost is not None:
            self.lost.set()

    def stop(self) -> None:
        for stream in list(self._streams.values()):
            stream.close()
        client, self._client = self._client, None
        if client is not None:
            client.abort()

    def publish(self, topic: str, frame: Any) -> None:
        client = self._client
        if client is None or client.closed:
            raise ConnectionError("the gateway's MQTT connection is closed")
        client.publish(topic, encode(frame), qos=QOS)
        self.published += 1

    def _forget(self, stream: ControllerStream) -> None:
        if self._streams.get(stream.device_id) is stream:
            del self._streams[stream.device_id]

    def _on_message(self, _client: Any, topic: str, payload: bytes, _qos: int, _properties: Any) -> None:
        self.received += 1
        where = self.matcher.match(topic)
        if where is None or where[1] == CMD:
            return
        device_id = where[0]
        proto = self.proto
        try:
            msg = proto.msg_type.FromString(payload)
        except Exception:
            return  # not a Msg of this version: aranya drops it too
        stream = self._streams.get(device_id)
        if stream is None:
            if state_of(proto, msg) != "online":
                self._on_stray(proto.unpack(msg)[0])
                return
            topics = self._topics.get(device_id)
            if topics is None:
                topics = self._topics[device_id] = Topics(self._template.replace(DEVICE_FIELD, device_id))
            stream = self._streams[device_id] = ControllerStream(self, device_id, topics)
            stream._queue.put_nowait(msg)
            self._on_stream(stream)
            return
        stream._queue.put_nowait(msg)
