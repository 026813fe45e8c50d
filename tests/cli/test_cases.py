"""Failure cases from ../shared/cases that belong to the main job: 06, 13, 15."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import joblib
import pytest


# -- 06: a pipeline that selects columns by name gets a DataFrame, whatever the JSON looks like --
@pytest.fixture
def case06(workdir, cli, name):
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = pd.DataFrame({"elevation": [2800.0, 3100.0, 2950.0, 3300.0],
                       "slope": [5.0, 12.0, 7.0, 20.0],
                       "area": ["north", "south", "north", "east"]})
    pre = ColumnTransformer([("num", StandardScaler(), ["elevation", "slope"]),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), ["area"])])
    pipe = Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(df, [0, 1, 0, 1])
    joblib.dump(pipe, workdir / "model.joblib")
    assert cli("init", "--name", name, "--model", "model.joblib").code == 0
    assert cli("upload").code == 0
    assert cli("deploy", "--version", "v1").code == 0
    return pipe


def _write(workdir, filename, body):
    (workdir / filename).write_text(json.dumps(body))
    return filename


def test_case06_records_keys_in_any_order_unseen_category(cli, workdir, case06):
    import pandas as pd

    rows = [{"elevation": 2841.0, "slope": 9.0, "area": "north"},
            {"slope": 3.0, "area": "west", "elevation": 3000.0}]
    res = cli("predict", _write(workdir, "records.json", {"instances": rows}))
    assert res.code == 0, res.err
    expected = case06.predict(pd.DataFrame(rows)[["elevation", "slope", "area"]]).tolist()
    assert res.json()["predictions"] == expected
    assert all(type(p) is int and p in (0, 1) for p in res.json()["predictions"])


def test_case06_rows_by_position_name_the_order(cli, workdir, case06):
    res = cli("predict", _write(workdir, "rows.json", {"instances": [[2841.0, 9.0, "north"]]}),
              "--verbose")
    assert res.code == 0, res.err
    assert len(res.json()["predictions"]) == 1
    assert "column order: elevation, slope, area" in res.err


def test_case06_missing_and_extra_columns(cli, workdir, case06):
    res = cli("predict", _write(workdir, "missing.json",
                                {"instances": [{"elevation": 2841.0, "area": "north"}]}))
    assert res.code == 2
    assert res.err.strip() == ("error: instance 0 is missing column 'slope' "
                               "(expected: elevation, slope, area)")
    extra = {"instances": [{"elevation": 2841.0, "slope": 9.0, "area": "north", "aspect": 45}]}
    res = cli("predict", _write(workdir, "extra.json", extra))
    assert res.code == 2
    assert "unknown column 'aspect'" in res.err
    ok = cli("predict", "extra.json", "--ignore-extra-columns")
    assert ok.code == 0, ok.err
    assert ok.json()["predictions"] == case06.predict(
        __import__("pandas").DataFrame(extra["instances"])[["elevation", "slope", "area"]]).tolist()


# -- 13: a new version is not the default until deployed; deploy needs --version -------------
def test_case13_new_version_not_default(cli, workdir, name):
    from sklearn.dummy import DummyClassifier

    joblib.dump(DummyClassifier(strategy="constant", constant=0).fit([[0], [1]], [0, 1]), "model_a.joblib")
    joblib.dump(DummyClassifier(strategy="constant", constant=1).fit([[0], [1]], [0, 1]), "model_b.joblib")
    _write(workdir, "input.json", {"instances": [[0]]})
    common = ("--name", name, "--bucket", "gs://my-bucket/models")
    assert cli("upload", "model_a.joblib", "--version", "v1", *common).code == 0
    assert cli("deploy", "--version", "v1", *common).code == 0
    assert cli("upload", "model_b.joblib", "--version", "v2", *common).code == 0

    a = cli("predict", "input.json", *common)
    assert a.code == 0, a.err
    assert (a.json()["predictions"], a.json()["version"]) == ([0], "v1")

    dep = cli("deploy", "--version", "v2", *common)
    assert dep.code == 0, dep.err
    assert dep.out.splitlines()[0] == f"{name}: default v1 -> v2 (100% of the traffic)"
    b = cli("predict", "input.json", *common)
    assert (b.json()["predictions"], b.json()["version"]) == ([1], "v2")

    listing = cli("versions", "--json", *common)
    assert listing.code == 0, listing.err
    rows = {r["version"]: r for r in listing.json()}
    assert set(rows) == {"v1", "v2"}
    assert [v for v, r in rows.items() if r["default"]] == ["v2"]
    assert rows["v2"]["traffic"] == 100 and rows["v1"]["traffic"] == 0
    assert all(r["created"] and len(r["sha256"]) == 64 for r in rows.values())
    table = cli("versions", *common).out.splitlines()
    assert table[2].startswith("v2") and table[2].rstrip().endswith("*")

    c = cli("deploy", *common)
    assert c.code == 2
    assert c.err.strip() == "error: specify --version (available: v1, v2; default: v2)"


# -- 15: emulator mode never needs credentials and never leaves loopback ----------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mlcloud(args, env, cwd):
    return subprocess.run([sys.executable, "-m", "mlcloud.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def own_storage_emulator(tmp_path):
    """A storage emulator the user started themselves, as STORAGE_EMULATOR_HOST names it."""
    from mlcloud.infra.ports import read_ready_file

    ready = tmp_path / "gcs-ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "mlcloud.infra.gcs", "--data", str(tmp_path / "gcs"),
                             "--port", "0", "--ready-file", str(ready)])
    import time

    deadline = time.monotonic() + 30
    while read_ready_file(ready) is None:
        assert time.monotonic() < deadline and proc.poll() is None, "storage emulator did not start"
        time.sleep(0.05)
    yield read_ready_file(ready).url
    proc.terminate()
    proc.wait(10)


def test_case15_no_credentials_loopback_only(workdir, own_storage_emulator, tmp_path):
    from sklearn.linear_model import LinearRegression

    joblib.dump(LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 2.0, 4.0]), "model.joblib")
    _write(workdir, "input.json", {"instances": [[3.0]]})
    env = dict(os.environ, MLCLOUD_EMULATOR="1", STORAGE_EMULATOR_HOST=own_storage_emulator,
               MLCLOUD_HOME=str(tmp_path / "own-home"), HOME=str(tmp_path / "empty-home"))
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    (tmp_path / "empty-home").mkdir()
    common = ["--name", "my-model", "--bucket", "gs://my-bucket/models"]
    try:
        for args in (["upload", "model.joblib", "--version", "v1"], ["deploy", "--version", "v1"]):
            r = _mlcloud(args + common, env, workdir)
            assert r.returncode == 0, r.stderr
        r = _mlcloud(["predict", "input.json"] + common, env, workdir)
        assert r.returncode == 0, r.stderr
        body = json.loads(r.stdout)
        assert body["version"] == "v1"
        assert body["predictions"] == pytest.approx([6.0], rel=1e-12)
        r = _mlcloud(["download", "--version", "v1", "-o", "roundtrip.joblib"] + common, env, workdir)
        assert r.returncode == 0, r.stderr
        assert Path("roundtrip.joblib").read_bytes() == Path("model.joblib").read_bytes()
    finally:
        from mlcloud.infra import stack

        stack.down(tmp_path / "own-home")
    # The guard (tests/guard) refused and logged any connection outside loopback and any read of
    # gcloud credentials in these processes: the autouse guard_clean fixture fails the test if so.


def test_case15_unreachable_emulator_fails_fast(workdir, tmp_path):
    port = _free_port()
    env = dict(os.environ, MLCLOUD_EMULATOR="1", STORAGE_EMULATOR_HOST=f"http://127.0.0.1:{port}",
               MLCLOUD_HOME=str(tmp_path / "never-started"))
    _write(workdir, "input.json", {"instances": [[3.0]]})
    r = _mlcloud(["predict", "input.json", "--name", "my-model"], env, workdir)
    assert r.returncode == 1
    assert r.stderr.strip() == f"error: storage emulator at http://127.0.0.1:{port} is not reachable"
    assert not (tmp_path / "never-started" / "run").exists()  # no stack was started instead


def test_case15_cloud_mode_without_credentials(workdir, tmp_path):
    _write(workdir, "input.json", {"instances": [[3.0]]})
    env = dict(os.environ, MLCLOUD_EMULATOR="0", GOOGLE_CLOUD_PROJECT="my-project",
               MLCLOUD_BUCKET="my-bucket", NO_GCE_CHECK="true")
    r = _mlcloud(["predict", "input.json", "--name", "my-model"], env, workdir)
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "error: no Google Cloud credentials found: run `gcloud auth application-default login`, "
        "or set MLCLOUD_EMULATOR=1 (or --target local) to use the local emulators")
