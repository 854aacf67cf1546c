"""Alert thresholds per benchmark or request-kind pattern, from a TOML file.

```toml
new_within = 10          # a regression is new when it starts in a series' last 10 commits

[defaults]
min_effect_pct = 5.0     # smallest change worth an alert
z_min = 4.25             # detector settings (aranya_perf.analysis.detect.DetectConfig; 4.25 is
                         # the z_min its false-alarm calibration, detect_calibration.json, assumes)
alpha = 0.01
min_size = 5
better = "lower"         # or "higher" (throughput)

[[rule]]                 # every rule whose regex matches the series (re.search) applies, in order
pattern = '^gateway\\.'
min_effect_pct = 25.0
```

Unknown keys and bad values are errors naming the key and the file (``ConfigError``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from aranya_perf.analysis.detect import HIGHER_IS_BETTER, LOWER_IS_BETTER, DetectConfig

DEFAULT_CONFIG = Path(__file__).with_name("alerts.toml")


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Thresholds:
    min_effect_pct: float = 5.0
    z_min: float = DetectConfig().z_min
    alpha: float = DetectConfig().alpha
    min_size: int = DetectConfig().min_size
    better: str = LOWER_IS_BETTER
    ignore: bool = False

    def detect_config(self, seed: int = 0) -> DetectConfig:
        scales = tuple(h for h in DetectConfig().scales if h >= self.min_size) or (self.min_size,)
        return DetectConfig(
            min_size=self.min_size,
            scales=scales,
            z_min=self.z_min,
            alpha=self.alpha,
            min_effect=self.min_effect_pct / 100.0,
            seed=seed,
        )


@dataclass(frozen=True)
class Rule:
    pattern: str
    changes: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class AlertConfig:
    defaults: Thresholds = Thresholds()
    rules: tuple[Rule, ...] = ()
    new_within: int = 10
    source: str = "built-in defaults"

    def thresholds(self, series: str) -> Thresholds:
        out = self.defaults
        for rule in self.rules:
            if re.search(rule.pattern, series):
                out = replace(out, **dict(rule.changes))
        return out


_TYPES = {f.name: f.type for f in fields(Thresholds)}


def _thresholds(table: dict[str, Any], where: str, base: Thresholds) -> tuple[tuple[str, Any], ...]:
    out = []
    for key, value in table.items():
        if key not in _TYPES:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(_TYPES)})")
        kind = _TYPES[key]
        if kind == "bool":
            ok = isinstance(value, bool)
        elif kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 2
        elif kind == "float":
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
            if key == "alpha":
                ok = ok and value < 1
        else:
            ok = value in (LOWER_IS_BETTER, HIGHER_IS_BETTER)
        if not ok:
            raise ConfigError(f"{where}: bad value for {key!r}: {value!r}")
        out.append((key, float(value) if kind == "float" else value))
    replace(base, **dict(out))
    return tuple(out)


def load_config(path: Path | None) -> AlertConfig:
    """The config in ``path`` (None: the one shipped next to this module)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(doc) - {"defaults", "rule", "new_within"}
    if unknown:
        raise ConfigError(f"{path}: unknown key {sorted(unknown)[0]!r} (known: defaults, rule, new_within)")
    new_within = doc.get("new_within", 10)
    if not isinstance(new_within, int) or isinstance(new_within, bool) or new_within < 1:
        raise ConfigError(f"{path}: bad value for 'new_within': {new_within!r}")
    defaults_table = doc.get("defaults", {})
    if not isinstance(defaults_table, dict):
        raise ConfigError(f"{path}: 'defaults' must be a table")
    defaults = replace(Thresholds(), **dict(_thresholds(defaults_table, f"{path} [defaults]", Thresholds())))
    rules = []
    raw_rules = doc.get("rule", [])
    if not isinstance(raw_rules, list):
        raise ConfigError(f"{path}: 'rule' must be an array of tables ([[rule]])")
    for n, table in enumerate(raw_rules, 1):
        where = f"{path} rule {n}"
        if not isinstance(table, dict) or not isinstance(table.get("pattern"), str):
            raise ConfigError(f"{where}: needs a 'pattern' string")
        pattern = table["pattern"]
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{where}: bad pattern {pattern!r}: {exc}") from None
        body = {k: v for k, v in table.items() if k != "pattern"}
        rules.append(Rule(pattern, _thresholds(body, where, defaults)))
    return AlertConfig(defaults, tuple(rules), new_within, str(path))
