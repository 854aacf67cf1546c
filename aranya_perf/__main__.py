import sys

from aranya_perf.cli import main

sys.exit(main())
