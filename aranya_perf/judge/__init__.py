"""The one judge of a run: its SLOs (``slo``), its outage windows (``outages``) and its status (``verdict``).

The run judges itself with it as it ends and the analysis reads old runs with it, so both
apply the same rules. Every rule is a pure function of plain data (``Measured``: what the
run recorded in its window, and the profile); nothing here reads files or imports Locust,
``loadtests`` or ``analysis``.
"""
