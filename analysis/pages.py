"""The HTML pages of the analysis (the run report, the history site, the plain pages of the cross-run
reports), rendered from the Jinja2 templates in ``templates/``, shipped as package data.

Autoescape is on for every template: data (request names, error messages, labels) is text, never
markup. The modules that write a page build its context; the markup lives in the templates only.
"""

from __future__ import annotations

import base64
from functools import cache
from typing import Any

import jinja2


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("aranya_perf.analysis", "templates"),
        autoescape=True,  # every template, whatever its file name
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, not an empty cell
        keep_trailing_newline=True,
    )
    env.filters["b64"] = lambda data: base64.b64encode(data).decode("ascii")
    return env


def render(template: str, **context: Any) -> str:
    """``templates/<template>`` rendered with ``context``."""
    return _environment().get_template(template).render(**context)
