"""Optional extras: the packages only a few verbs need, and the one line that names the missing one.

``pyproject.toml`` keeps the runtime set to what ``run`` and the everyday verbs import; a verb that
needs more imports it inside its own code path through ``require``, so a lean install fails there
with ``pip install 'aranya-perf[EXTRA]'`` instead of a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """An optional package is not installed; the message is one line naming the extra."""


def hint(extra: str, what: str) -> str:
    return f"{what} needs the {extra} extra: pip install 'aranya-perf[{extra}]'"


def require(module: str, extra: str, what: str) -> ModuleType:
    """``module`` imported, or ``MissingExtra`` saying that ``what`` needs ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(hint(extra, what)) from None
