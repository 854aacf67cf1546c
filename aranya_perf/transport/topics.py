"""The topic rules of the device protocol over MQTT, free of any client library or gRPC import.

A device's namespace ``ns`` comes from a template (``{device}`` is its id; aranya: an
EdgeDevice's ``spec.mqtt.topicNamespace``); ``ns/cmd`` carries Cmds to the device, ``ns/msg``
its Msgs, ``ns/status`` its online/offline Msgs. The command line checks templates with these
before anything (Locust, grpc) is imported; ``aranya_perf.transport.mqtt`` builds on them.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_NAMESPACE = "aranya-perf/{device}"
"""Topic namespace template of a device; ``{device}`` is its id."""
DEVICE_FIELD = "{device}"
CMD, MSG, STATUS = "cmd", "msg", "status"
MAX_MQTT_DATA_SIZE = 128 * 1024
"""arhat's ``MaxMQTTDataSize``: the largest payload its MQTT client sends (gRPC: 64 KiB)."""


class MqttError(Exception):
    """A namespace template, topic or broker the MQTT transport cannot use; one-line message."""


def check_template(template: str) -> str:
    """``template`` if it names each device's namespace unambiguously, else ``MqttError``."""
    if template.count(DEVICE_FIELD) != 1:
        raise MqttError(f"MQTT namespace template {template!r} must contain {DEVICE_FIELD} exactly once")
    if any(c in template for c in "+#\0") or template.startswith("$"):
        raise MqttError(f"MQTT namespace template {template!r} must not contain + # or start with $")
    if template.endswith("/") or "//" in template:
        raise MqttError(f"MQTT namespace template {template!r} has an empty topic level")
    return template


def namespace(template: str, device_id: str) -> str:
    """The topic namespace of ``device_id``; ``MqttError`` for an id that is not one topic level."""
    if not device_id or any(c in device_id for c in "/+#\0"):
        raise MqttError(f"device id {device_id!r} cannot be an MQTT topic level (no / + # or empty)")
    return check_template(template).replace(DEVICE_FIELD, device_id)


@dataclass(frozen=True)
class Topics:
    """One namespace's three topics."""

    namespace: str

    @property
    def cmd(self) -> str:
        return f"{self.namespace}/{CMD}"

    @property
    def msg(self) -> str:
        return f"{self.namespace}/{MSG}"

    @property
    def status(self) -> str:
        return f"{self.namespace}/{STATUS}"


class TopicMatcher:
    """Every namespace of a template at once: the wildcard filters, and topic -> (device id, channel)."""

    def __init__(self, template: str) -> None:
        self.template = check_template(template)
        self._prefix, self._suffix = template.split(DEVICE_FIELD)

    def filters(self) -> tuple[str, str]:
        """The subscriptions of a controller that serves every device: ``.../+/msg``, ``.../+/status``."""
        wildcard = self.template.replace(DEVICE_FIELD, "+")
        return f"{wildcard}/{MSG}", f"{wildcard}/{STATUS}"

    def match(self, topic: str) -> tuple[str, str] | None:
        """(device id, ``msg``|``status``|``cmd``) for a topic of the template, else None."""
        prefix, suffix = self._prefix, self._suffix
        if not topic.startswith(prefix):
            return None
        left, _, channel = topic[len(prefix) :].rpartition("/")
        if channel not in (MSG, STATUS, CMD) or not left.endswith(suffix):
            return None
        device = left[: len(left) - len(suffix)]
        if not device or "/" in device:
            return None
        return device, channel
