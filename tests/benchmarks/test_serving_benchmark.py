"""The serving benchmark's smoke run: the script works end to end (floor, mlcloud's server, the
FastAPI baseline, the load generator) and every request succeeded. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_smoke_run(housing_csv, tmp_path):
    out = tmp_path / "results.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "serving.py"), "--smoke",
                        "--no-install", "--data", str(housing_csv), "--json", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    results = json.loads(out.read_text())
    assert set(results["servers"]) >= {"mlcloud"}
    for server in results["servers"].values():
        for label, scenario in server["scenarios"].items():
            assert scenario["requests"] > 0 and scenario["failed"] == 0, (label, scenario)
    assert results["floor"]["one"]["rows"] == 1 and results["floor"]["thousand"]["rows"] == 1000
    assert "targets:" in r.stdout and "x fastapi" in r.stdout
