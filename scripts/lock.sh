#!/usr/bin/env bash
# Writes constraints.txt: the versions uv resolves today for aranya-perf with every extra (`.[test]`
# includes them all), in a scratch venv, so `make`, `.ci/run`, asv and the Dockerfile install the same
# set. The newest uv resolves and is pinned too (the installer `make` bootstraps). Run it (`make lock`)
# after changing a dependency in pyproject.toml; review and commit the diff.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
echo "lock: resolving aranya-perf[test] in a scratch venv ($("$python" --version)) with the newest uv"
"$python" -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install -q --disable-pip-version-check uv
"$scratch/venv/bin/uv" pip install -q --python "$scratch/venv/bin/python" '.[test]'
{
    echo "# Resolved by scripts/lock.sh (make lock) with $("$python" --version) on $(uname -sm); do not edit."
    "$scratch/venv/bin/python" -m pip freeze --all --disable-pip-version-check \
        | grep -v -i -E '^(aranya-perf|pip)( |=|@)' | LC_ALL=C sort -f
} >constraints.txt.tmp
mv constraints.txt.tmp constraints.txt
echo "lock: wrote constraints.txt ($(grep -vc '^#' constraints.txt) packages)"
