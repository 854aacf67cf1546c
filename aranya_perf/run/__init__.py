"""The main job, ``aranya-perf run``: what it loads (``target``), how (``load``, ``workers``), and how it
judges what it measured (``verdict``), put in order by ``orchestrate``. Importing ``load`` or
``orchestrate`` imports Locust, which monkey-patches the process with gevent; this package itself
imports nothing."""
