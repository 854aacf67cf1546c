"""The generator capacity benchmark from a checkout: ``python scripts/generator_capacity.py [--quick]``.

A thin entry point; the benchmark is ``aranya_perf.capacity`` (see docs/benchmarks.md). The same
options work as ``python -m aranya_perf.capacity``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aranya_perf.cli.capacity import main  # after the path is set

sys.exit(main())
