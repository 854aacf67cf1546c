"""aranya-perf: load tests, benchmarks and capacity analysis for the Aranya edge-device platform."""

from __future__ import annotations

import importlib.metadata

try:
    # Written by setuptools-scm from the git tag when the package is installed.
    __version__ = importlib.metadata.version("aranya-perf")
except importlib.metadata.PackageNotFoundError:  # a source tree on PYTHONPATH, never installed
    __version__ = "0+unknown"
