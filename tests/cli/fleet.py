"""Helpers for the versions/traffic/rollback tests: tiny real pipelines that answer differently
per version (y = k·x), uploaded with the real CLI, and a Target on the session stack."""

from __future__ import annotations

import os
from pathlib import Path

import joblib

SLOPES = {"v1": 1.0, "v2": 2.0, "v3": 3.0, "v4": 4.0}


def linear(k: float):
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    return LinearRegression().fit(frame, k * frame["x"])


def upload_versions(cli, workdir: Path, name: str, versions=("v1", "v2", "v3")) -> dict:
    """Upload one linear pipeline per version; {version: fitted pipeline}."""
    out = {}
    for v in versions:
        pipe = linear(SLOPES[v])
        joblib.dump(pipe, workdir / f"{v}.joblib")
        r = cli("upload", workdir / f"{v}.joblib", "--name", name, "--version", v)
        assert r.code == 0, r.err
        out[v] = pipe
    return out


def expected(pipe, x: float) -> float:
    import pandas as pd

    return float(pipe.predict(pd.DataFrame({"x": [x]}))[0])


def live(stack=None):
    """The session stack as it runs now (another test may have restarted it on other ports)."""
    from mlcloud.infra import stack as stk

    return stk.ensure(Path(os.environ["MLCLOUD_HOME"]))[0]


def target_for(name: str, stack=None):
    """A Target of this process on the session stack (what a command builds)."""
    from mlcloud.deploy.settings import resolve
    from mlcloud.deploy.target import connect

    st = live()
    s = resolve({"name": name}, os.environ, Path.cwd()).with_(
        storage_emulator=st.gcs.url, vertex_emulator=st.vertex.url)
    return connect(s)


def shares(cli, name: str) -> dict:
    rows = cli("versions", "--name", name, "--json").json()
    return {r["version"]: r["traffic"] for r in rows if r["deployed"]}
