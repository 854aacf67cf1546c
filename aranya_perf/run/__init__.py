"""The main job, ``aranya-perf run``: what it loads (``target``), how (``load``, ``workers``), what it
records (``record``), put in order by ``orchestrate``; ``aranya_perf.judge`` judges what it measured.
Importing ``load`` or ``orchestrate`` imports Locust, which monkey-patches the process with gevent;
this package itself imports nothing."""
