"""Run profiles: the schema, the one layering rule, the shipped profiles, shape plans, the CLI verbs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from aranya_perf import profiles
from aranya_perf.cli.run import PROFILE_FLAGS, add_parser, overrides
from aranya_perf.profiles import ProfileError
from aranya_perf.profiles.parse import parse_profile_text, read_profile
from aranya_perf.profiles.plan import devices_at, level_at, phases
from tests.helpers import run_cli


def _profile(tmp_path: Path, body: str) -> profiles.Profile:
    path = tmp_path / "p.toml"
    path.write_text(body)
    return profiles.resolve(str(path))


def test_every_shipped_profile_resolves_and_renders_back_to_itself() -> None:
    names = [n for n, _ in profiles.builtin_profiles()]
    shipped = [
        "defects", "etcd-check-perf", "etcd", "grpc-health", "release-gate", "smoke", "soak", "step", "storm",
    ]  # fmt: skip
    assert names == shipped
    for name in names:
        p = profiles.resolve(name)
        assert p.name == name and p.description
        again = parse_profile_text(profiles.render(p), "rendered")
        assert again == dataclasses.replace(p, source="rendered"), name


def test_layering_defaults_then_profile_then_flags(tmp_path: Path) -> None:
    p = _profile(tmp_path, '[fleet]\ndevices = 50\n[run]\nduration = "2m"\n')
    assert p.fleet.devices == 50 and p.run.duration_s == 120.0  # the profile over the defaults
    assert p.fleet.spawn_rate == profiles.Profile().fleet.spawn_rate  # untouched: the default
    layered = profiles.resolve(str(tmp_path / "p.toml"), {"fleet.devices": 7, "run.duration_s": None})
    assert layered.fleet.devices == 7 and layered.run.duration_s == 120.0  # a flag over the profile
    assert layered.name == "p"


def test_every_run_flag_names_a_profile_key() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    fields = {
        f"{section}.{f.name}"
        for section, cls in profiles.schema.SECTIONS.items()
        for f in dataclasses.fields(cls)
    }
    for _flag, keys, _kw in PROFILE_FLAGS:
        assert set(keys) <= fields, keys
    args = parser.parse_args(["run", "--devices", "9", "--no-gc-freeze", "--answer-delay", "250ms"])
    assert overrides(args) == {
        "fleet.devices": 9,
        "fleet.gc_freeze": False,
        "gateway.gc_freeze": False,
        "fleet.answer_delay_s": 0.25,
    }


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        ("[fleet]\nspeed = 1\n", "unknown key fleet.speed (known: "),
        ("[fleeet]\n", "unknown key fleeet"),
        ("[operators]\nmix = { exec = 1, ssh = 2 }\n", "operators.mix: unknown name(s) ssh"),
        ('[target]\nprotocol = "aranya-v9"\n', "target.protocol: expected one of"),
        ("[shape]\nlevels = [10, 500]\n[fleet]\ndevices = 100\n", "shape.levels go above fleet.devices"),
        ('[shape]\nkind = "storm"\nstorm_at = ["2m"]\n', "shape times go beyond run.duration"),
        ('[[slo]]\nmetric = "p99"\nmax = "fast"\n', "slo #1.max: expected a latency like '250ms'"),
        ('[[slo]]\nmetric = "throughput"\nmin = 5\nmax = 1\n', "min is above max"),
        (
            '[target]\naddress = "127.0.0.1:1"\n[gateway]\nprocesses = 2\n',
            "apply to the embedded gateway only",
        ),
        (
            '[target]\naddress = "127.0.0.1:1"\n[gateway]\nreset_at = "5s"\n',
            "apply to the embedded gateway only",
        ),
        ('name = "a b"\n', "name must be letters"),
        ('[run]\nscenario = "grpc"\n', "scenario grpc loads a service you run: set target.address"),
        (
            '[run]\nscenario = "etcd"\n[service]\nusers = 4\n[shape]\nlevels = [8]\n',
            "above service.users (4)",
        ),
    ],
)
def test_bad_profiles_are_one_line_errors_naming_the_file_and_key(
    tmp_path: Path, body: str, expect: str
) -> None:
    with pytest.raises(ProfileError) as err:
        _profile(tmp_path, body)
    message = str(err.value)
    assert expect in message and str(tmp_path / "p.toml") in message and "\n" not in message


def test_slo_thresholds_in_their_units(tmp_path: Path) -> None:
    p = _profile(
        tmp_path,
        '[[slo]]\nmetric = "p99"\nmax = "1.5s"\n[[slo]]\nmetric = "p50"\nmax = 20\n'
        '[[slo]]\nmetric = "online_within"\nmax = "2m"\n',
    )
    assert [s.max for s in p.slo] == [1500.0, 20.0, 120.0]
    assert p.slo[2].label() == "online_within <= 120" and p.slo[0].label() == "p99 * <= 1500"


def test_shape_plans() -> None:
    def with_shape(**shape: object) -> profiles.Profile:
        base = profiles.resolve("smoke")
        return dataclasses.replace(base, shape=dataclasses.replace(base.shape, **shape))

    step = profiles.resolve("step")
    assert [(ph.start_s, ph.end_s, ph.devices) for ph in phases(step)] == [
        (0, 20, 200), (20, 40, 400), (40, 60, 600), (60, 80, 800),
    ]  # fmt: skip
    assert devices_at(step, 39.9) == 400 and level_at(step, 65) == 1.0
    quarters = with_shape(kind="step")  # no levels: quarters of the fleet, the duration split evenly
    assert [ph.devices for ph in phases(quarters)] == [50, 100, 150, 200]
    ramp = with_shape(kind="ramp", ramp_s=10.0)
    assert devices_at(ramp, 5.0) == 100 and devices_at(ramp, 10.0) == 200
    spike = with_shape(kind="spike", spike_at_s=10.0, spike_s=5.0, spike_devices=400)
    assert [devices_at(spike, t) for t in (9, 10, 14.9, 15)] == [200, 400, 400, 200]
    storm = profiles.resolve("storm")
    assert [ph.name for ph in phases(storm)] == ["before storm 1", "after storm 1", "after storm 2"]
    soak = profiles.resolve("soak")
    assert len(phases(soak)) == 12 and phases(soak)[-1].end_s == soak.run.duration_s


def test_a_service_scenario_scales_its_clients_not_the_fleet(tmp_path: Path) -> None:
    p = _profile(tmp_path, '[run]\nscenario = "etcd"\n[service]\nusers = 8\n[shape]\nkind = "step"\n')
    assert [ph.devices for ph in phases(p)] == [2, 4, 6, 8]
    assert phases(p)[0].name == "step 1: 2 clients" and level_at(p, 0) == 0.25


def test_profile_verbs() -> None:
    listed = run_cli("profiles", timeout=30)
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()[:9]] == [
        "defects", "etcd-check-perf", "etcd", "grpc-health", "release-gate", "smoke", "soak", "step", "storm",
    ]  # fmt: skip
    shown = run_cli("profile", "show", "storm", timeout=30)
    assert shown.returncode == 0
    p = parse_profile_text(shown.stdout, "shown")
    assert p.name == "storm" and p.shape.storm_at_s == [20.0, 40.0]
    assert "# storm: times at which devices drop" in shown.stdout  # every key with its help
    missing = run_cli("profile", "show", "nope", timeout=30)
    assert missing.returncode == 2 and "no profile 'nope'" in missing.stderr


def test_read_profile_keeps_its_source(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('description = "x"\n')
    p = read_profile(path)
    assert p.name == "mine" and p.source == str(path) and p.description == "x"
