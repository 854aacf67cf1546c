"""Scenario grpc without a server: request templates and their variables (exact outputs), calls resolved
against compiled descriptors (each method's kind from its descriptor), ``[[call]]`` in profiles."""

from __future__ import annotations

import base64
import dataclasses
import json
import random
from pathlib import Path

import pytest

from aranya_perf import profiles
from aranya_perf.grpc_service import ServiceError
from aranya_perf.grpc_service.calls import resolve_calls
from aranya_perf.grpc_service.descriptors import compile_protos, load
from aranya_perf.grpc_service.templates import Context, Template
from aranya_perf.profiles.parse import parse_profile_text
from aranya_perf.profiles.schema import Call

ECHO = Path(__file__).resolve().parent / "data" / "echo.proto"


@pytest.fixture(scope="module")
def services():
    return load(compile_protos([str(ECHO)]))


@pytest.fixture(scope="module")
def request_type(services):
    return services.method("echo.v1.Echo/Unary").input_type


def _render(request_type, request: dict, user: int = 0, seed: int = 1, seq: int = 0):
    template = Template(json.dumps(request), request_type, "call #1 (t)")
    ctx = Context(user, random.Random(seed), seq)
    return template, ctx, template.render(ctx)


def test_seq_and_user_and_literal_braces(request_type) -> None:
    template, ctx, doc = _render(request_type, {"text": "u{user}-s{seq} {{x}}", "seq": "{seq}"}, user=7)
    assert doc == {"text": "u7-s0 {x}", "seq": "0"}
    assert template.render(ctx) == {"text": "u7-s1 {x}", "seq": "1"}
    message = template.message_class.FromString(template.build(ctx))
    assert (message.text, message.seq) == ("u7-s2 {x}", 2)  # the digits reach an int64 as a number
    assert ctx.seq == 3


def test_random_variables_come_from_the_clients_seeded_source(request_type) -> None:
    request = {
        "text": "{rand:1000}/{choice:red|green|blue}/{bytes:12}",
        "payload": "{bytes:5}",
        "tags": ["{choice:a|b}", "fixed"],
        "labels": {"k": "{rand:3}"},
    }
    _, _, doc = _render(request_type, request, seed=42)
    rng = random.Random(42)  # the same draws, in the template's order
    text = f"{rng.randrange(1000)}/{rng.choice(['red', 'green', 'blue'])}/"
    text += "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=12))
    payload = base64.b64encode(rng.randbytes(5)).decode()
    assert doc == {"text": text, "payload": payload, "tags": [rng.choice(["a", "b"]), "fixed"],
                   "labels": {"k": str(rng.randrange(3))}}  # fmt: skip
    assert len(base64.b64decode(doc["payload"])) == 5
    _, _, again = _render(request_type, request, seed=42)
    assert again == doc


def test_a_template_without_variables_is_serialized_once(request_type) -> None:
    template, ctx, _ = _render(request_type, {"text": "hi", "payload": "aGk=", "kind": "KIND_LARGE"})
    first = template.build(ctx)
    assert template.static is not None and template.build(ctx) is first
    message = template.message_class.FromString(first)
    assert (message.text, message.payload, message.kind) == ("hi", b"hi", 2)


@pytest.mark.parametrize(
    ("request_doc", "error"),
    [
        ({"text": "{nope}"}, "call #1 (t): unknown variable {nope} in '{nope}' (known: {seq}, {user}"),
        ({"text": "{rand:0}"}, "{rand:N} needs an integer N >= 1, in '{rand:0}'"),
        ({"text": "{bytes:x}"}, "{bytes:N} needs an integer N >= 0"),
        ({"text": "a { b"}, "a lone '{' in 'a { b' (write {{ for a brace)"),
        ({"payload": "x{seq}"}, "payload is a bytes field: its template is base64, or exactly {bytes:N}"),
    ],
)
def test_bad_variables_are_one_line_errors(request_type, request_doc: dict, error: str) -> None:
    with pytest.raises(ServiceError) as exc:
        Template(json.dumps(request_doc), request_type, "call #1 (t)")
    assert error in str(exc.value) and "\n" not in str(exc.value)


def _call(method: str, **kw) -> Call:
    return Call(method=method, **kw)


def test_calls_take_their_kind_from_the_descriptor(services) -> None:
    calls = resolve_calls(
        (
            _call("echo.v1.Echo/Unary", name="U", weight=3.0),
            _call("echo.v1.Echo/ServerStream"),
            _call("echo.v1.Echo/ClientStream", messages=4, interval_s=0.01, metadata={"X-Key": "v"}),
            _call("echo.v1.Echo/Bidi", messages=2),
        ),
        services,
    )
    assert [(c.name, c.path, c.kind, c.messages) for c in calls] == [
        ("U", "/echo.v1.Echo/Unary", "unary", 1),
        ("echo.v1.Echo/ServerStream", "/echo.v1.Echo/ServerStream", "server_stream", 1),
        ("echo.v1.Echo/ClientStream", "/echo.v1.Echo/ClientStream", "client_stream", 4),
        ("echo.v1.Echo/Bidi", "/echo.v1.Echo/Bidi", "bidi_stream", 2),
    ]
    assert calls[2].metadata == (("x-key", "v"),) and calls[2].interval_s == 0.01
    ctx = Context(0, random.Random(0))
    assert len(calls[2].requests(ctx)) == 4 and ctx.seq == 4


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (_call("echo.v1.Echo/Nope"), "call #1 (echo.v1.Echo/Nope): no method echo.v1.Echo/Nope; echo.v1.Echo "
         "has echo.v1.Echo/Bidi, echo.v1.Echo/ClientStream, echo.v1.Echo/ServerStream, echo.v1.Echo/Unary"),
        (_call("shop.Cart/Add"), "no service shop.Cart; the descriptors have echo.v1.Echo"),
        (_call("echo.v1.Echo/Unary", request='{"txt": "a"}'),
         'does not fit echo.v1.EchoRequest: Message type "echo.v1.EchoRequest" has no field named "txt"'),
        (_call("echo.v1.Echo/Unary", request='{"seq": "s{seq}"}'), "Failed to parse seq field"),
        (_call("echo.v1.Echo/Unary", messages=3), "messages = 3, but echo.v1.Echo/Unary takes one request"),
    ],
)  # fmt: skip
def test_calls_that_do_not_fit_the_service_are_one_line_errors(services, call: Call, error: str) -> None:
    with pytest.raises(ServiceError) as exc:
        resolve_calls((call,), services)
    assert error in str(exc.value) and "\n" not in str(exc.value)


def test_protoc_errors_are_its_first_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.proto"
    bad.write_text('syntax = "proto3";\npackage x;\nmessage A { int32 a = 1 }\n')
    with pytest.raises(ServiceError, match=r'^protoc: .*bad\.proto:3:25: Expected ";"\.$'):
        compile_protos([str(bad)])
    with pytest.raises(ServiceError, match=r"^grpc\.proto: no such file"):
        compile_protos([str(tmp_path / "none.proto")])


def test_imports_resolve_through_import_paths(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "common.proto").write_text(
        'syntax = "proto3";\npackage lib;\nmessage Id { string v = 1; }\n'
    )
    (tmp_path / "svc.proto").write_text(
        'syntax = "proto3";\npackage svc;\nimport "common.proto";\nimport "google/protobuf/empty.proto";\n'
        "service S { rpc Get(lib.Id) returns (google.protobuf.Empty); }\n"
    )
    with pytest.raises(ServiceError, match=r"common\.proto"):
        compile_protos([str(tmp_path / "svc.proto")])
    services = load(compile_protos([str(tmp_path / "svc.proto")], [str(tmp_path / "lib")]))
    assert services.method("svc.S/Get").input_type.full_name == "lib.Id"


def test_calls_in_a_profile_render_back_to_themselves(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[run]\nscenario = "grpc"\n[target]\naddress = "127.0.0.1:9"\n[grpc]\nproto = ["a.proto"]\n'
        '[[call]]\nmethod = "echo.v1.Echo/Unary"\nrequest = { text = "u{user} \\"q\\"", n = [1, 2] }\n'
        'metadata = { x-api-key = "k", "odd key" = "v" }\n'
        '[[call]]\nmethod = "echo.v1.Echo/Bidi"\nname = "bidi"\nweight = 0.5\nmessages = 3\n'
        'interval = "5ms"\n'
        'request = \'{"payload": "{bytes:8}"}\'\n'
    )
    p = profiles.resolve(str(path))
    assert [c.label for c in p.calls] == ["echo.v1.Echo/Unary", "bidi"]
    assert json.loads(p.calls[0].request) == {"text": 'u{user} "q"', "n": [1, 2]}
    assert p.calls[0].metadata == {"x-api-key": "k", "odd key": "v"}
    assert p.calls[1].interval_s == 0.005 and p.calls[1].messages == 3
    again = parse_profile_text(profiles.render(p), "rendered")
    assert again == dataclasses.replace(p, source="rendered")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('[[call]]\nmethod = "a.B/C"\n', "[[call]] tables apply to scenario grpc, not to scenario aranya"),
        ('[run]\nscenario = "grpc"\n[target]\naddress = "127.0.0.1:9"\n[grpc]\nreflection = true\n',
         "scenario grpc needs [[call]] tables"),
        ('[run]\nscenario = "grpc"\n[target]\naddress = "127.0.0.1:9"\n[[call]]\nmethod = "a.B/C"\n',
         "scenario grpc needs descriptors"),
        ('[run]\nscenario = "grpc"\n[target]\naddress = "127.0.0.1:9"\n[grpc]\nreflection = true\n'
         'proto = ["x.proto"]\n[[call]]\nmethod = "a.B/C"\n', "grpc.proto and grpc.reflection are both set"),
        ('[[call]]\nmethod = "Check"\n', "call #1.method: expected 'package.Service/Method', got 'Check'"),
        ('[[call]]\nmethod = "a.B/C"\nrequest = "[1]"\n', "request: expected a table or a JSON object"),
        ('[[call]]\nmethod = "a.B/C"\nmetadata = { k = 1 }\n', "metadata: expected a table of strings"),
        ('[[call]]\nmethod = "a.B/C"\nmesages = 2\n', "unknown key call #1.mesages (known: interval"),
    ],
)  # fmt: skip
def test_bad_calls_are_one_line_profile_errors(tmp_path: Path, body: str, error: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(body)
    with pytest.raises(profiles.ProfileError) as exc:
        profiles.resolve(str(path))
    assert error in str(exc.value) and str(path) in str(exc.value) and "\n" not in str(exc.value)
