"""The generator capacity benchmark: how much load one generator process can make, against targets.

Owns the side-by-side measurements of the load generator itself (not of the gateway): operator
requests and device work per generator CPU-second, ours against bare grpc.aio clients doing the
same work; how many devices one generator process (and N of them) holds online and at what
memory and status latency; what our instrumentation adds to p50; and the older engine
comparison (grpcio under gevent, the load engine, bare grpc.aio).

Layout: ``bench`` runs the modes from the parent process and ``targets`` judges the figures;
every measured variant runs in a child process of its own (``child``), because the variants
need different process set-ups: ``ours`` and ``engines`` import Locust (gevent monkey-patching)
first, ``bare`` never does. Nothing here imports grpc, gevent or Locust at module level, so the
asv benchmarks can import it.
"""
