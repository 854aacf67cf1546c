"""Readers: the run catalogue (runs.parquet), Prometheus range queries, tolerance of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from aranya_perf.analysis import prometheus, run_catalogue

from aranya_perf.results import collect_meta, write_meta


def _run(root: Path, name: str, **changes: object) -> Path:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    config = {"devices": 10, "operators": 1, "duration_s": 5.0}
    meta = collect_meta(["run"], config, {"address": "127.0.0.1:1"}, "fleet", name)
    meta.update(status="ok", **changes)
    write_meta(run_dir, meta)
    (run_dir / "latency.csv").write_text(
        "request_type,name,count,failures,min_ms,mean_ms,p50_ms,p90_ms,p99_ms,p999_ms,max_ms\n"
        "control,Exec,10,0,1,2,2,3,4,4,4\n"
    )
    return run_dir


def test_catalogue_reads_runs_skips_corrupt_and_round_trips(tmp_path: Path) -> None:
    root = tmp_path / "results"
    _run(root, "20261201T000000Z-fleet")
    _run(root, "20261201T000030Z-fleet", protocol={"name": "aranya-v0.3", "source": "x", "service": "y"})
    slo_run = _run(root, "20261201T000100Z-fleet", protocol="v2")
    (slo_run / "slo.json").write_text('{"passed": false}')
    bad = root / "20261201T000200Z-fleet"
    bad.mkdir()
    (bad / "meta.json").write_text("{not json")
    (root / "not-a-run").mkdir()
    warnings: list[str] = []
    cat = run_catalogue.catalogue([root], warnings.append)
    assert list(cat["run_id"]) == [
        "20261201T000000Z-fleet",
        "20261201T000030Z-fleet",
        "20261201T000100Z-fleet",
    ]
    assert list(cat["protocol"]) == ["unknown", "aranya-v0.3", "v2"]
    assert list(cat["slo"]) == ["", "", "failed"]
    assert cat["devices"].tolist() == [10, 10, 10]
    assert json.loads(cat["packages"][0])["pandas"] == pd.__version__
    assert len(warnings) == 1 and str(bad / "meta.json") in warnings[0]
    assert run_catalogue.comparability_problems(cat) == ["protocol aranya-v0.3 vs unknown vs v2"]

    path = tmp_path / "runs.parquet"
    run_catalogue.write_catalogue(cat, path)
    back = run_catalogue.read_catalogue(path)
    assert back["run_id"].tolist() == cat["run_id"].tolist()
    assert back["started_at"].notna().all()

    lat = run_catalogue.run_latency(cat)
    assert set(lat["run_id"]) == set(cat["run_id"]) and (lat["p99_ms"] == 4).all()


def test_prometheus_matrix_vector_and_bad_files(tmp_path: Path) -> None:
    matrix = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"__name__": "aranya_gateway_devices_online", "job": "gw"},
                    "values": [[1700000000, "10"], [1700000015, "12"]],
                },
                {"metric": {"kind": "CMD_EXEC"}, "values": [[1700000000, "NaN"]]},
            ],
        },
    }
    vector = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"__name__": "up"}, "value": [1700000000, "1"]}],
        },
    }
    files = []
    for name, doc in (("m.json", matrix), ("v.json", vector), ("err.json", {"status": "error"})):
        files.append(tmp_path / name)
        files[-1].write_text(json.dumps(doc))
    files.append(tmp_path / "cut.json")
    files[-1].write_text('{"status": "succ')
    warnings: list[str] = []
    frame = prometheus.read_range_queries(files, warnings.append)
    assert len(frame) == 4
    online = frame[frame["metric"] == "aranya_gateway_devices_online"]
    assert online["value"].tolist() == [10.0, 12.0] and set(online["labels"]) == {"job=gw"}
    assert frame[frame["labels"] == "kind=CMD_EXEC"]["value"].isna().all()
    assert len(warnings) == 2
    assert "err.json" in warnings[0] and "cut.json" in warnings[1]
