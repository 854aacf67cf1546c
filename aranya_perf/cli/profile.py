"""``aranya-perf profiles`` lists the shipped run profiles; ``aranya-perf profile show NAME|PATH`` prints one
resolved (every key, defaults included, each with its help), as a run would use it and keep it."""

from __future__ import annotations

import argparse

from aranya_perf import profiles
from aranya_perf.cli import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("profiles", help="list the shipped run profiles", description=__doc__.splitlines()[0])
    p = sub.add_parser("profile", help="show a run profile, resolved", description="Show a run profile.")
    verbs = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    show = verbs.add_parser("show", help="print a profile with every key resolved, as TOML")
    show.add_argument("name", metavar="NAME|PATH", help="a shipped profile's name or a profile file")


def run(args: argparse.Namespace) -> int:
    if args.verb == "profiles":
        rows = profiles.builtin_profiles()
        width = max(len(name) for name, _ in rows)
        for name, description in rows:
            print(f"{name:<{width}}  {description}")
        print(
            "\n`aranya-perf run --profile NAME` runs one; `aranya-perf profile show NAME` prints it resolved."
        )
        return 0
    try:
        print(profiles.render(profiles.resolve(args.name)), end="")
    except profiles.ProfileError as exc:
        raise UsageError(str(exc)) from None
    return 0
