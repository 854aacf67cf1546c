"""Device -> address maps: every form a fleet's targets can be given in, and the loopback rule on each.

The Kubernetes form is tested with the real ``kubernetes`` client, a real kubeconfig and
real HTTP, against a *recorded-response API server*: a loopback HTTP server that plays
the Kubernetes API for one object, the ``edgedevice-connectivity`` Service in the shape
aranya's controller creates it (``tests/data/edgedevice-connectivity.json``: one port per
EdgeDevice, named after it, port equal to the listener's port). No cluster runs here,
so that server is the one mock, at the API boundary.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aranya_perf.address_map import AddressMap, DeviceAddress, device_ids, parse, read_file, write_csv
from aranya_perf.targets import TargetError

SERVICE = Path(__file__).resolve().parent / "data" / "edgedevice-connectivity.json"


def test_shared_address_generates_ids() -> None:
    amap = parse("127.0.0.1:5000")
    assert amap.shared == "127.0.0.1:5000" and not amap.per_device
    assert amap.assign(2, "edge") == [
        DeviceAddress("edge-00000", "127.0.0.1:5000"),
        DeviceAddress("edge-00001", "127.0.0.1:5000"),
    ]


def test_port_range_gives_one_port_per_device() -> None:
    amap = parse("127.0.0.1:30000-30002")
    assert [(e.device_id, e.address) for e in amap.entries] == [
        ("dev-00000", "127.0.0.1:30000"),
        ("dev-00001", "127.0.0.1:30001"),
        ("dev-00002", "127.0.0.1:30002"),
    ]
    assert parse("[::1]:7000-7001").entries[1].address == "[::1]:7001"
    with pytest.raises(TargetError, match="3 devices, the fleet needs 4"):
        amap.assign(4)


def test_csv_and_toml_files(tmp_path: Path) -> None:
    csv_path = tmp_path / "map.csv"
    csv_path.write_text(
        "device_id,address,tls_server_name\n# a comment\n"
        "rpi-1,127.0.0.1:41000,\nrpi-2,127.0.0.2:41001,rpi-2.edge\n"
    )
    amap = parse(str(csv_path))
    assert amap.entries == (
        DeviceAddress("rpi-1", "127.0.0.1:41000"),
        DeviceAddress("rpi-2", "127.0.0.2:41001", "rpi-2.edge"),
    )
    toml_path = tmp_path / "map.toml"
    toml_path.write_text(
        '[[device]]\nid = "rpi-1"\naddress = "127.0.0.1:41000"\n\n'
        '[[device]]\nid = "rpi-2"\naddress = "[::1]:41001"\ntls_server_name = "x"\n'
    )
    assert [(e.device_id, e.address, e.tls_server_name) for e in parse(str(toml_path)).entries] == [
        ("rpi-1", "127.0.0.1:41000", None),
        ("rpi-2", "[::1]:41001", "x"),
    ]
    out = tmp_path / "written.csv"
    write_csv(out, amap.entries)
    assert read_file(out).entries == amap.entries


@pytest.mark.parametrize(
    ("name", "text", "expect"),
    [
        ("bad.csv", "rpi-1\n", "bad.csv:1: expected device_id,address"),
        ("bad.csv", "rpi-1,nowhere\n", "bad.csv:1: not a HOST:PORT"),
        ("dup.csv", "a,127.0.0.1:1\na,127.0.0.1:2\n", "device a appears twice"),
        ("empty.csv", "device_id,address\n", "lists no devices"),
        ("bad.toml", "[[device]]\nid = 1\n", "needs string keys id and address"),
        ("bad.toml", "[[device]]\nid = 'a'\naddress = '127.0.0.1:1'\nport = 2\n", "unknown key(s) port"),
        ("bad.toml", "devices = 1\n", "unknown key(s) devices"),
        ("bad.toml", "[[device]\n", "not valid TOML"),
    ],
)
def test_bad_files_are_one_line_errors_naming_the_file(
    tmp_path: Path, name: str, text: str, expect: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(TargetError) as info:
        parse(str(path))
    assert expect in str(info.value) and "\n" not in str(info.value)


def test_missing_file_and_bad_ranges() -> None:
    with pytest.raises(TargetError, match="cannot read address map"):
        parse("/nonexistent/map.csv")
    for spec in ("127.0.0.1:30010-30000", "127.0.0.1:0-5", "127.0.0.1:1-99999"):
        with pytest.raises(TargetError, match="port range"):
            parse(spec)


def test_every_entry_obeys_the_loopback_rule(tmp_path: Path) -> None:
    path = tmp_path / "remote.csv"
    path.write_text("a,127.0.0.1:1\nb,10.1.2.3:2\n")
    with pytest.raises(TargetError, match="device b: refusing non-loopback target"):
        parse(str(path))
    assert len(parse(str(path), allow_remote=True).entries) == 2
    with pytest.raises(TargetError, match="refusing non-loopback"):
        parse("10.0.0.1:30000-30001")


def test_device_ids_naming() -> None:
    assert device_ids("dev", 2, start=9) == ["dev-00009", "dev-00010"]
    assert AddressMap("x", shards=("127.0.0.1:1",)).assign(1) == [DeviceAddress("dev-00000", "127.0.0.1:1")]


# -- Kubernetes ----------------------------------------------------------------------------------


class _RecordedApi(http.server.BaseHTTPRequestHandler):
    """Answers GET of one Service with the recorded object; 404 for anything else."""

    body = SERVICE.read_bytes()
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.path.split("?")[0] == "/api/v1/namespaces/aranya/services/edgedevice-connectivity":
            status, body = 200, self.body
        else:
            status = 404
            status_404 = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "NotFound",
                "code": 404,
            }
            body = json.dumps(status_404).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A recorded-response Kubernetes API on a free loopback port, and a kubeconfig pointing at it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordedApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
        f"clusters:\n- name: test\n  cluster:\n    server: http://127.0.0.1:{port}\n"
        "contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n"
        "users:\n- name: test\n  user:\n    token: recorded\n"
    )
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    _RecordedApi.seen = []
    try:
        yield path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_service_ports_become_the_device_map(kubeconfig: Path) -> None:
    amap = parse(f"k8s:aranya/edgedevice-connectivity?kubeconfig={kubeconfig}&host=127.0.0.1")
    assert [(e.device_id, e.address) for e in amap.entries] == [
        ("edge-rpi-01", "127.0.0.1:41233"),
        ("edge-rpi-02", "127.0.0.1:36711"),
        ("gateway-x86", "127.0.0.1:45102"),
    ]
    assert _RecordedApi.seen and _RecordedApi.seen[0].startswith(
        "/api/v1/namespaces/aranya/services/edgedevice-connectivity"
    )


def test_service_cluster_ip_obeys_the_loopback_rule(kubeconfig: Path) -> None:
    spec = f"k8s:aranya/edgedevice-connectivity?kubeconfig={kubeconfig}"
    with pytest.raises(TargetError) as info:
        parse(spec)
    assert "device edge-rpi-01: refusing non-loopback target '10.96.142.17:41233'" in str(info.value)
    assert parse(spec, allow_remote=True).entries[2].address == "10.96.142.17:45102"


@pytest.mark.parametrize(
    ("spec", "expect"),
    [
        ("k8s:aranya/missing-service", "Kubernetes API answered 404"),
        ("k8s:aranya", "not a k8s:NAMESPACE/SERVICE"),
        ("k8s:aranya/edgedevice-connectivity?port=1", "unknown option(s) port"),
    ],
)
def test_kubernetes_errors_are_one_line(kubeconfig: Path, spec: str, expect: str) -> None:
    sep = "&" if "?" in spec else "?"
    with pytest.raises(TargetError) as info:
        parse(f"{spec}{sep}kubeconfig={kubeconfig}")
    assert expect in str(info.value) and "\n" not in str(info.value)


def test_no_kubeconfig_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(TargetError, match="no usable Kubernetes configuration"):
        parse(f"k8s:aranya/edgedevice-connectivity?kubeconfig={tmp_path / 'none'}")
