"""``python -m aranya_perf.capacity``: the capacity benchmark without the ``aranya-perf`` verb."""

import sys

from aranya_perf.cli.capacity import main

sys.exit(main())
