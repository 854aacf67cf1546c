"""How often ``aranya-perf compare`` flags same-config runs, and how often it sees a 20 ms slow-down.

    python scripts/compare_power.py collect ROOT [--pairs 10]   # 3 runs per pair, ~25 s each
    python scripts/compare_power.py evaluate ROOT [--json OUT]

``collect`` runs, per pair i, interleaved so that a drift of the machine hits both sides alike:
``run --repeat 2`` of the base config (labels ``set=base``, ``pair=i``) and one run of the same
config with ``--answer-delay 20ms`` (``set=delay``). ``evaluate`` compares, one run per side, each
base pair with itself (A/A) and the pair's first run with its delayed run (A/B), and, two runs per
side, each base pair with the delayed runs of its pair and the next, taking the
between-run variance from the other runs of ROOT (``compare``'s default history, minus the two
runs compared), and prints the fraction of A/A rows flagged and of A/B pairs whose operator exec
(``control Exec`` or ``kube exec``) p50 and p25 are flagged "worse", with each A/A pair's exec
deltas beside them (how far same-config runs drift apart). Every run is bounded by ``--timeout``;
load goes to the embedded gateway on loopback only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path

BASE = ("--devices", "30", "--operators", "2", "--duration", "15s")


def collect(root: Path, pairs: int, timeout: float) -> int:
    cmd = [sys.executable, "-m", "aranya_perf", "run", *BASE, "--out", str(root)]
    for i in range(pairs):
        for extra in (
            ("--repeat", "2", "--label", "set=base"),
            ("--answer-delay", "20ms", "--label", "set=delay"),
        ):
            full = [*cmd, *extra, "--label", f"pair={i}"]
            print(f"pair {i}: {' '.join(extra)}", flush=True)
            done = subprocess.run(full, capture_output=True, text=True, timeout=timeout * 2, check=False)
            if done.returncode not in (0, 1):
                print(done.stderr[-2000:], file=sys.stderr)
                return done.returncode
    return 0


def _compare(cat, runs: dict, stats: dict, a: list[str], b: list[str], cfg):
    """``compare A... -- B...`` as the CLI does it, with the runs loaded once: the history is every
    repeat group of ROOT with the same key, less the runs compared."""
    from aranya_perf.analysis.compare import compare_runs, pool_statistics

    rows = cat.set_index("run_id")
    same = cat[(cat["comparable"] == rows.loc[a[0], "comparable"]) & (cat["group"] != "")]
    same = same[~same["run_id"].isin({*a, *b})]
    groups = [[stats[r] for r in part["run_id"]] for _, part in same.groupby("group", sort=True)]
    return compare_runs([runs[r] for r in a], [runs[r] for r in b], cfg, pool_statistics(groups))


EXEC_METRICS = ("p50_ms", "p25_ms")


def _exec(result, pair: str) -> dict[str, object]:
    """The operators' exec rows (``control Exec`` or ``kube exec``, whichever route they took)."""
    from aranya_perf.measure.kinds import neutral_key

    kinds = result["request_type"] + " " + result["name"]
    rows = result[kinds.map(neutral_key) == "operator exec"].set_index("metric")
    out: dict[str, object] = {"pair": pair}
    for metric in EXEC_METRICS:
        row = rows.loc[metric]
        out[metric] = {
            "verdict": row["verdict"],
            "delta_pct": round(row["delta_pct"], 1),
            "ci": [round(row["ci_low_pct"], 1), round(row["ci_high_pct"], 1)],
            "dof": int(row["dof"]),
        }
    return out


def _worse(found: list[dict[str, object]], metric: str) -> float | None:
    """Fraction of ``found`` whose exec ``metric`` is "worse"."""
    from aranya_perf.analysis.compare import WORSE

    return sum(h[metric]["verdict"] == WORSE for h in found) / len(found) if found else None


def evaluate(root: Path, out: Path | None, confidence: float | None) -> int:
    from aranya_perf.analysis.compare import BETTER, SAME, WORSE, CompareConfig, run_statistics
    from aranya_perf.analysis.compare_report import load_run
    from aranya_perf.analysis.run_catalogue import catalogue

    cat = catalogue([root], print)
    cat = cat[cat["status"] == "ok"]
    runs = {r: load_run(Path(p), print) for r, p in zip(cat["run_id"], cat["path"], strict=True)}
    stats = {r: run_statistics(run) for r, run in runs.items()}
    labels = cat["labels"].map(json.loads)
    cat = cat.assign(pair=labels.map(lambda d: d.get("pair")), set=labels.map(lambda d: d.get("set")))
    cfg = CompareConfig() if confidence is None else CompareConfig(confidence=confidence)
    flagged = judged = rows = aa_pairs = 0
    flagged_rows: list[str] = []
    hits: list[dict[str, object]] = []
    aa_exec: list[dict[str, object]] = []
    for pair, part in cat.groupby("pair", sort=True):
        base = part[part["set"] == "base"].sort_values("started_at")["run_id"].tolist()
        delay = part[part["set"] == "delay"]["run_id"].tolist()
        if len(base) == 2:
            aa_pairs += 1
            result = _compare(cat, runs, stats, base[:1], base[1:], cfg)
            rows += len(result)
            judged += int(result["verdict"].isin([WORSE, BETTER, SAME]).sum())
            hit = result[result["verdict"].isin([WORSE, BETTER])]
            flagged += len(hit)
            aa_exec.append(_exec(result, str(pair)))
            flagged_rows += [
                f"pair {pair}: {r.request_type} {r.name} {r.metric} {r.verdict} {r.delta_pct:+.1f} %"
                for r in hit.itertuples()
            ]
        if base and delay:
            hits.append(_exec(_compare(cat, runs, stats, base[:1], delay[:1], cfg), str(pair)))
    # Two runs per side: pair i's base group against the delayed runs of pairs i and i + 1.
    order = sorted(cat["pair"].dropna().unique(), key=int)
    pick = {
        (p, k): cat[(cat["pair"] == p) & (cat["set"] == k)]["run_id"].tolist()
        for p in order
        for k in ("base", "delay")
    }
    two = [
        _exec(
            _compare(cat, runs, stats, pick[(p, "base")], pick[(p, "delay")] + pick[(q, "delay")], cfg),
            f"{p}+{q}",
        )
        for p, q in itertools.pairwise(order)
        if len(pick[(p, "base")]) == 2 and pick[(p, "delay")] and pick[(q, "delay")]
    ]
    # And A/A two per side: pair i's base group against pair i + 1's.
    aa_two = [
        _compare(cat, runs, stats, pick[(p, "base")], pick[(q, "base")], cfg)
        for p, q in itertools.pairwise(order)
        if len(pick[(p, "base")]) == 2 and len(pick[(q, "base")]) == 2
    ]
    figures = {
        "aa_pairs": aa_pairs,
        "aa_rows": rows,
        "aa_rows_with_a_verdict": judged,
        "aa_rows_flagged": flagged,
        "aa_flagged_fraction_of_rows": flagged / rows if rows else None,
        "aa_flagged_fraction_of_judged_rows": flagged / judged if judged else None,
        "aa_flagged": flagged_rows,
        "aa_exec": aa_exec,
        "delay_pairs": len(hits),
        **{f"delay_exec_{m.removesuffix('_ms')}_worse_fraction": _worse(hits, m) for m in EXEC_METRICS},
        "delay_exec": hits,
        **{f"two_per_side_exec_{m.removesuffix('_ms')}_worse_fraction": _worse(two, m) for m in EXEC_METRICS},
        "two_per_side_exec": two,
        "two_per_side_aa_comparisons": len(aa_two),
        "two_per_side_aa_rows": sum(len(r) for r in aa_two),
        "two_per_side_aa_rows_with_a_verdict": sum(
            int(r["verdict"].isin([WORSE, BETTER, SAME]).sum()) for r in aa_two
        ),
        "two_per_side_aa_rows_flagged": sum(int(r["verdict"].isin([WORSE, BETTER]).sum()) for r in aa_two),
        "confidence": cfg.confidence,
        "min_effect_pct": cfg.min_effect_pct,
    }
    print(json.dumps(figures, indent=2))
    if out is not None:
        out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    c = sub.add_parser("collect")
    c.add_argument("root", type=Path)
    c.add_argument("--pairs", type=int, default=10)
    c.add_argument("--timeout", type=float, default=120.0, help="seconds one run may take (default 120)")
    e = sub.add_parser("evaluate")
    e.add_argument("root", type=Path)
    e.add_argument("--json", type=Path)
    e.add_argument("--confidence", type=float, help="of the intervals (default: compare's)")
    args = parser.parse_args()
    if args.verb == "collect":
        return collect(args.root, args.pairs, args.timeout)
    return evaluate(args.root, args.json, args.confidence)


if __name__ == "__main__":
    sys.exit(main())
