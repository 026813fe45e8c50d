"""Serving benchmark: the in-process floor vs mlcloud's model server vs a minimal FastAPI app.

    .venv/bin/python benchmarks/serving.py              # the full run (10 s per measurement)
    .venv/bin/python benchmarks/serving.py --smoke      # a few seconds, tiny model (CI runs this)

Same model and payloads for all three: the book's housing pipeline (median imputer + scaler +
one-hot + RandomForestRegressor, 100 trees, max_depth 12) trained on housing.csv. Load comes from
``wrk`` (Debian's package, installed with apt-get when missing and we are root; otherwise a small
Python load generator), closed loop, bounded in time, aimed only at 127.0.0.1. Scenarios:

    one-row requests, 1 client     p50 against the floor's p50 (target: within 1.1x)
    one-row requests, 8 clients    requests/s against FastAPI (target: at least 5x)
    1000-row requests, 2 clients   rows/s against the floor (target: at least 75,000 rows/s here)

The floor is one process doing json -> rows -> DataFrame -> predict -> json in a loop. Also
reported: resident memory of one mlcloud predictor process against the floor process, and the
time from starting mlcloud's server to its first 200 on health. Numbers are printed; nothing is
asserted (these are measurements, not tests).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "housing.csv"
PY = sys.executable
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

FLOOR = r'''
import json, sys, time, resource
from mlcloud.deploy.instances import to_rows, to_table
import joblib
model = joblib.load(sys.argv[1]); schema = json.load(open(sys.argv[2]))["schema"]
duration = float(sys.argv[3]); out = {}
for label, path in zip(("one", "thousand"), sys.argv[4:6]):
    body = open(path, "rb").read(); times = []
    def once():
        req = json.loads(body)
        table = to_table(to_rows(req["instances"], schema), schema)
        return json.dumps({"predictions": model.predict(table).tolist()}).encode(), len(req["instances"])
    once(); end = time.perf_counter() + duration
    while time.perf_counter() < end:
        t = time.perf_counter(); _, rows = once(); times.append(time.perf_counter() - t)
    out[label] = {"times": times, "rows": rows}
rss = int([l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1])
print(json.dumps({"runs": out, "rss_kb": rss}))
'''

FASTAPI_APP = r'''
import os, joblib, pandas as pd
from fastapi import FastAPI, Request
model = joblib.load(os.environ["BENCH_MODEL"])
app = FastAPI()

@app.get("/health")
def health():
    return {"status": "ok"}

@app.post("/predict")
async def predict(request: Request):
    body = await request.json()
    frame = pd.DataFrame(body["instances"])
    return {"predictions": model.predict(frame).tolist()}
'''

WRK_SCRIPT = r'''
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BENCH_BODY"), "rb"); wrk.body = f:read("*a"); f:close()
done = function(summary, latency, requests)
  io.write(string.format('BENCH {"requests": %d, "duration_us": %d, "non2xx": %d, "errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_health(url: str, proc: subprocess.Popen, timeout: float = 120) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with _DIRECT.open(url, timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"{url} not healthy within {timeout} s")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def have_wrk() -> bool:
    if shutil.which("wrk"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (Debian package)...", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        r = subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True, env=env)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True, env=env)
    return shutil.which("wrk") is not None


def load_wrk(url: str, body: Path, clients: int, duration: float, work: Path) -> dict:
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT)
    r = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(duration))}s", "--latency",
                        "-s", str(script), url], capture_output=True, text=True,
                       env=dict(os.environ, BENCH_BODY=str(body)), timeout=duration + 60)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {r.stdout}\n{r.stderr}")
    d = json.loads(line[6:])
    seconds = d["duration_us"] / 1e6
    return {"requests": d["requests"], "rps": d["requests"] / seconds, "p50": d["p50_us"] / 1e3,
            "p99": d["p99_us"] / 1e3, "failed": d["non2xx"] + d["errors"]}


def load_python(url: str, body: Path, clients: int, duration: float, work: Path) -> dict:
    """Closed-loop keep-alive clients on threads (when wrk is not available)."""
    import http.client

    data = body.read_bytes()
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    times: list[float] = []
    failed = [0]
    end = time.monotonic() + duration

    def client():
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        while time.monotonic() < end:
            t = time.perf_counter()
            conn.request("POST", path, data, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            times.append(time.perf_counter() - t)
            if r.status != 200:
                failed[0] += 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - start
    q = statistics.quantiles(times, n=100) if len(times) > 1 else [times[0] * 1000] * 99
    return {"requests": len(times), "rps": len(times) / seconds, "p50": q[49] * 1000,
            "p99": q[98] * 1000, "failed": failed[0]}


def train(work: Path, smoke: bool, data: Path) -> tuple[Path, Path, Path, Path]:
    import joblib
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from mlcloud.deploy import manifest as mf

    df = pd.read_csv(data)
    if smoke:
        df = df.sample(2000, random_state=0)
    X, y = df.drop(columns="median_house_value"), df["median_house_value"]
    numbers = [c for c in X.columns if c != "ocean_proximity"]
    pre = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numbers),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["ocean_proximity"]),
    ])
    trees, depth = (10, 6) if smoke else (100, 12)
    model = Pipeline([("pre", pre), ("forest", RandomForestRegressor(
        n_estimators=trees, max_depth=depth, random_state=42))]).fit(X, y)
    bundle = work / "bundle"
    bundle.mkdir()
    path = bundle / "model.joblib"
    joblib.dump(model, path)
    manifest = mf.build("housing", "v1", mf.digest(path), mf.inspect_model(path))
    (bundle / "mlcloud.json").write_bytes(mf.dumps(manifest))
    rows = pd.read_csv(data).drop(columns="median_house_value").head(1000)
    records = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
               for r in rows.to_dict(orient="records")]
    one, thousand = work / "one.json", work / "thousand.json"
    one.write_text(json.dumps({"instances": records[:1]}))
    thousand.write_text(json.dumps({"instances": records}))
    return bundle, path, one, thousand


def floor(bundle: Path, one: Path, thousand: Path, duration: float) -> dict:
    r = subprocess.run([PY, "-c", FLOOR, str(bundle / "model.joblib"), str(bundle / "mlcloud.json"),
                        str(duration), str(one), str(thousand)], capture_output=True, text=True,
                       timeout=duration * 4 + 120)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    data = json.loads(r.stdout.strip().splitlines()[-1])
    out = {"rss_kb": data["rss_kb"]}
    for label, run in data["runs"].items():
        times = sorted(run["times"])
        q = statistics.quantiles(times, n=100) if len(times) > 1 else [times[0]] * 99
        out[label] = {"rps": len(times) / sum(times), "p50": q[49] * 1000, "p99": q[98] * 1000,
                      "rows": run["rows"]}
    return out


def start(command: list[str], env: dict, health: str, log: Path) -> tuple[subprocess.Popen, float]:
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    try:
        return proc, wait_health(health, proc)
    except BaseException:
        stop(proc)
        raise


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="a few seconds: tiny model, 1 s runs")
    p.add_argument("--duration", type=float, help="seconds per measurement (default 10; smoke 1)")
    p.add_argument("--data", type=Path, default=DATA, help=f"housing.csv (default {DATA})")
    p.add_argument("--no-fastapi", action="store_true", help="skip the FastAPI baseline")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--no-install", action="store_true",
                   help="never apt-get install wrk; use the Python load generator when it is missing")
    args = p.parse_args(argv)
    duration = args.duration or (1.0 if args.smoke else 10.0)
    work = Path(tempfile.mkdtemp(prefix="mlcloud-bench-"))
    load = load_wrk if (shutil.which("wrk") if args.no_install else have_wrk()) else load_python
    fastapi = not args.no_fastapi
    if fastapi:
        try:
            import fastapi as _  # noqa: F401
        except ImportError:
            print("fastapi is not installed: the FastAPI baseline is skipped", file=sys.stderr)
            fastapi = False
    try:
        bundle, model, one, thousand = train(work, args.smoke, args.data)
        results: dict = {"machine": f"{platform.node()}: {os.cpu_count()} cores, "
                                    f"{platform.processor() or platform.machine()}, Python "
                                    f"{platform.python_version()}",
                         "load_generator": load.__name__[5:], "duration_s": duration}
        results["floor"] = floor(bundle, one, thousand, duration)
        scenarios = [("one-row, 1 client", one, 1), ("one-row, 8 clients", one, 8),
                     ("1000-row, 2 clients", thousand, 2)]
        servers = {"mlcloud": None, "fastapi": None} if fastapi else {"mlcloud": None}
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIP_")}
        for server in servers:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            if server == "mlcloud":
                command = [PY, "-m", "mlcloud.deploy.server", str(bundle), "--host", "127.0.0.1",
                           "--port", str(port), "--log-level", "WARNING"]
                senv = env
            else:
                (work / "fastapi_app.py").write_text(FASTAPI_APP)
                command = [PY, "-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1",
                           "--port", str(port), "--log-level", "warning", "--no-access-log",
                           "--app-dir", str(work)]
                senv = dict(env, BENCH_MODEL=str(model))
            log = work / f"{server}.log"
            proc, started = start(command, senv, f"{base}/health", log)
            try:
                out = {"startup_s": started, "scenarios": {}}
                for label, body, clients in scenarios:
                    if not args.smoke:
                        load(f"{base}/predict", body, clients, 2.0, work)  # warm-up
                    r = load(f"{base}/predict", body, clients, duration, work)
                    r["rows_per_s"] = r["rps"] * (1000 if body == thousand else 1)
                    out["scenarios"][label] = r
                if server == "mlcloud":
                    workers = children(proc.pid)
                    out["rss_kb"] = {"server": rss_kb(proc.pid),
                                     "worker_max": max((rss_kb(w) for w in workers), default=0),
                                     "workers": len(workers)}
                    with _DIRECT.open(f"{base}/_mlcloud/stats", timeout=5) as r:
                        out["batching"] = json.loads(r.read())
                servers[server] = out
            except Exception:
                print(log.read_text()[-3000:], file=sys.stderr)
                raise
            finally:
                stop(proc)
        results["servers"] = servers
        report(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(r: dict) -> None:
    f = r["floor"]
    m = r["servers"]["mlcloud"]
    fa = r["servers"].get("fastapi")
    print(f"machine: {r['machine']}; load generator: {r['load_generator']}; {r['duration_s']:.0f} s runs")
    print(f"floor (in-process, one core): one row p50 {f['one']['p50']:.2f} ms, {f['one']['rps']:.0f} req/s; "
          f"1000 rows p50 {f['thousand']['p50']:.2f} ms, {f['thousand']['rps'] * 1000:,.0f} rows/s")
    floors = {"one-row, 1 client": f["one"], "one-row, 8 clients": f["one"],
              "1000-row, 2 clients": f["thousand"]}
    print(f"{'scenario':22} {'server':8} {'req/s':>9} {'rows/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'x floor':>8} {'x fastapi':>9} {'failed':>6}")
    for label in m["scenarios"]:
        for name, s in r["servers"].items():
            x = s["scenarios"][label]
            fl = floors[label]
            if label.endswith("1 client"):
                vs_floor = x["p50"] / fl["p50"]  # latency: lower is better
                vs_fast = x["p50"] / fa["scenarios"][label]["p50"] if fa else float("nan")
            else:
                vs_floor = x["rps"] / fl["rps"]
                vs_fast = x["rps"] / fa["scenarios"][label]["rps"] if fa else float("nan")
            print(f"{label:22} {name:8} {x['rps']:9.1f} {x['rows_per_s']:10,.0f} {x['p50']:8.2f} "
                  f"{x['p99']:8.2f} {vs_floor:8.2f} {vs_fast:9.2f} {x['failed']:6d}")
    print("(1-client rows compare p50 latency, lower is better; the others compare throughput)")
    rss = m["rss_kb"]
    print(f"memory: mlcloud predictor process {rss['worker_max'] / 1024:.0f} MiB "
          f"({rss['worker_max'] / f['rss_kb']:.2f}x the floor's {f['rss_kb'] / 1024:.0f} MiB; "
          f"{rss['workers']} predictors, server process {rss['server'] / 1024:.0f} MiB)")
    print(f"start-up to first 200: mlcloud {m['startup_s']:.2f} s"
          + (f", fastapi {fa['startup_s']:.2f} s" if fa else ""))
    print(f"batching: {m['batching']}")
    s1 = m["scenarios"]["one-row, 1 client"]
    s8 = m["scenarios"]["one-row, 8 clients"]
    sk = m["scenarios"]["1000-row, 2 clients"]
    print("targets:")
    if fa:
        ratio = s8["rps"] / fa["scenarios"]["one-row, 8 clients"]["rps"]
        print(f"  one-row x8 >= 5x FastAPI req/s: {ratio:.2f}x {'MET' if ratio >= 5 else 'NOT MET'}")
    ratio = s1["p50"] / f["one"]["p50"]
    print(f"  one-row x1 p50 <= 1.1x floor: {ratio:.2f}x {'MET' if ratio <= 1.1 else 'NOT MET'}")
    ratio = sk["rows_per_s"] / (f["thousand"]["rps"] * 1000)
    print(f"  1000-row x2 rows/s >= 1.3x floor (75,000 vs 57,500 in the issue): {ratio:.2f}x "
          f"({sk['rows_per_s']:,.0f} rows/s) {'MET' if ratio >= 75000 / 57500 else 'NOT MET'}")
    ratio = rss["worker_max"] / f["rss_kb"]
    print(f"  worker memory <= 1.3x floor: {ratio:.2f}x {'MET' if ratio <= 1.3 else 'NOT MET'}")
    print(f"  start-up <= 2 s: {m['startup_s']:.2f} s {'MET' if m['startup_s'] <= 2 else 'NOT MET'}")


if __name__ == "__main__":
    sys.exit(main())
