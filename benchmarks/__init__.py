"""asv benchmark suite for the performance-critical core (see docs/benchmarks.md and asv.conf.json)."""
