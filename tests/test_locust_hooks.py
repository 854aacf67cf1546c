"""The hooks of a plain ``locust`` run, fired in-process on a real Environment: its options, the one-line
refusals before any user starts, and the raw-mode line (plain locust runs: tests/test_locustfile.py)."""

from __future__ import annotations

import argparse

import pytest
from aranya_perf.loadtests import hooks
from locust.env import Environment


def _init(capsys: pytest.CaptureFixture, *args: str, host: str | None = "127.0.0.1:1") -> Environment:
    env = Environment(host=host)
    hooks.install(env.events, gc_freeze=False)
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default=None)
    env.events.init_command_line_parser.fire(parser=parser)
    env.parsed_options = parser.parse_args(list(args))
    capsys.readouterr()
    runner = env.create_local_runner()
    try:
        env.events.init.fire(environment=env, runner=runner, web_ui=None)
    finally:
        runner.quit()
    return env


def test_a_loopback_target_runs_in_raw_mode_and_says_so_once(capsys: pytest.CaptureFixture) -> None:
    env = _init(capsys, "--protocol", "aranya-v0.2", "--address-map", "127.0.0.1:1")
    assert env.parsed_options.allow_remote is False
    assert capsys.readouterr().err.splitlines().count(hooks.RAW_MODE_LINE) == 1


@pytest.mark.parametrize(
    ("args", "host", "expect"),
    [
        (["--protocol", "v99"], "127.0.0.1:1", "v99"),
        ([], "10.1.2.3:50051", "loopback"),
        (["--profile", "no-such-profile"], None, "no-such-profile"),
    ],
)
def test_bad_options_stop_before_any_user_in_one_line(
    capsys: pytest.CaptureFixture, args: list[str], host: str | None, expect: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        _init(capsys, *args, host=host)
    message = str(stopped.value.code)
    assert message.startswith("aranya-perf: ") and expect in message and "\n" not in message
    assert hooks.RAW_MODE_LINE not in capsys.readouterr().err
