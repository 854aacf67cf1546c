"""The Kubernetes objects the gateway's Kubernetes face serves: discovery, virtual pods and nodes, Status.

As aranya has them: one virtual node per online device, named after it, and one virtual pod
named after the device in aranya's namespace, with a single container ``host`` (the device
itself). Lists are answered as a ``Table`` when the client asks for one (kubectl does, in its
Accept header), else as a plain list. Pure functions returning JSON-ready dicts; the face
serialises them.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

HOST_CONTAINER = "host"
"""The container of a virtual pod that is the device itself (CMD_EXEC, CMD_LOGS, CMD_PORT_FORWARD)."""
GIT_VERSION = "v1.32.0-aranya-perf"
_UID_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")

_RESOURCES = (
    ("pods", "Pod", True, ["get", "list"]),
    ("pods/exec", "PodExecOptions", True, ["create", "get"]),
    ("pods/log", "Pod", True, ["get"]),
    ("pods/portforward", "PodPortForwardOptions", True, ["create", "get"]),
    ("nodes", "Node", False, ["get", "list"]),
    ("nodes/proxy", "NodeProxyOptions", False, ["create", "get"]),
)


def version() -> dict[str, Any]:
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": GIT_VERSION,
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_groups() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}


def core_resources() -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": verbs}
            for name, kind, namespaced, verbs in _RESOURCES
        ],
    }


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A ``metav1.Status`` failure, as the API server answers an error."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _meta(name: str, namespace: str | None, created: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "uid": str(uuid.uuid5(_UID_NAMESPACE, f"{namespace}/{name}")),
        "resourceVersion": "1",
        "creationTimestamp": created,
        "labels": {"arhat.dev/role": "EdgeDevice", "arhat.dev/name": name},
    }
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def pod(device: str, namespace: str, created: str) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": _meta(device, namespace, created),
        "spec": {
            "nodeName": device,
            "containers": [{"name": HOST_CONTAINER, "image": "virtual:host"}],
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {
                    "name": HOST_CONTAINER,
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "image": "virtual:host",
                    "imageID": "",
                    "state": {"running": {"startedAt": created}},
                }
            ],
        },
    }


def node(device: str, created: str) -> dict[str, Any]:
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": _meta(device, None, created),
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "DeviceOnline"}],
            "nodeInfo": {"kubeletVersion": GIT_VERSION, "operatingSystem": "linux", "architecture": "arm64"},
        },
    }


def wants_table(accept: str) -> bool:
    """kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` first."""
    return "as=Table" in accept


def object_list(kind: str, items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": f"{kind}List",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "1"},
        "items": list(items),
    }


def _age(created: str, now: datetime) -> str:
    seconds = int((now - datetime.fromisoformat(created)).total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


_COLUMNS = {
    "Pod": ("Name", "Ready", "Status", "Restarts", "Age"),
    "Node": ("Name", "Status", "Roles", "Age", "Version"),
}


def table(kind: str, objects: Iterable[dict[str, Any]], now: datetime | None = None) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table of pods or nodes; each row's object is its metadata (kubectl's default)."""
    now = now or datetime.now(UTC)
    rows = []
    for obj in objects:
        meta = obj["metadata"]
        age = _age(meta["creationTimestamp"], now)
        if kind == "Pod":
            cells: list[Any] = [meta["name"], "1/1", obj["status"]["phase"], 0, age]
        else:
            cells = [meta["name"], "Ready", "<none>", age, GIT_VERSION]
        rows.append(
            {
                "cells": cells,
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta},
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "1"},
        "columnDefinitions": [
            {
                "name": name,
                "type": "integer" if name == "Restarts" else "string",
                "format": "",
                "description": "",
                "priority": 0,
            }
            for name in _COLUMNS[kind]
        ],
        "rows": rows,
    }


def kubeconfig(server: str, token: str, namespace: str, ca_pem: bytes | None = None) -> str:
    """A kubeconfig (JSON, which YAML readers accept) whose current context talks to ``server`` with a
    bearer token, in the virtual pods' namespace."""
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "aranya-perf", "cluster": cluster}],
        "users": [{"name": "aranya-perf-operator", "user": {"token": token}}],
        "contexts": [
            {
                "name": "aranya-perf",
                "context": {"cluster": "aranya-perf", "user": "aranya-perf-operator", "namespace": namespace},
            }
        ],
        "current-context": "aranya-perf",
        "preferences": {},
    }
    return json.dumps(config, indent=2) + "\n"
