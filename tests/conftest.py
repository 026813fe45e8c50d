"""Suite-wide isolation, a network and credentials guard, the local stack, and real pipelines.

- HOME is an empty temporary directory and cloud credentials are unset for the whole suite.
- Every process (this one and each child, through tests/guard/sitecustomize.py) refuses
  connections outside 127.0.0.0/8 and reads of gcloud credentials; any attempt fails the suite.
- One local stack (real GCS and Vertex emulators) runs for the session, on ephemeral ports, under
  a temporary MLCLOUD_HOME; each test gets its own model name.
"""

from __future__ import annotations

import itertools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUARD = ROOT / "tests" / "guard"
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(GUARD))
from mlcloud_test_guard import install  # noqa: E402

_CLEARED = ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CONFIG",
            "STORAGE_EMULATOR_HOST", "MLCLOUD_VERTEX_EMULATOR_HOST", "MLCLOUD_NAME",
            "MLCLOUD_MODEL", "MLCLOUD_TARGET", "MLCLOUD_EMULATOR", "MLCLOUD_PROJECT",
            "MLCLOUD_REGION", "MLCLOUD_BUCKET", "MLCLOUD_HOME", "MLCLOUD_DEBUG")


@pytest.fixture(scope="session", autouse=True)
def isolated_session(tmp_path_factory):
    """Empty HOME, no credentials, the guard in this process and every child."""
    base = tmp_path_factory.mktemp("session")
    guard_log = base / "guard.log"
    guard_log.touch()
    saved = dict(os.environ)
    for k in _CLEARED:
        os.environ.pop(k, None)
    os.environ["HOME"] = str(base / "home")
    (base / "home").mkdir()
    os.environ["NO_COLOR"] = "1"
    os.environ["MLCLOUD_HOME"] = str(base / "mlcloud-home")
    os.environ["MLCLOUD_TEST_GUARD_LOG"] = str(guard_log)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(GUARD)] + ([saved["PYTHONPATH"]] if saved.get("PYTHONPATH") else []))
    install()
    yield base
    from mlcloud.infra import stack

    stack.down(Path(os.environ["MLCLOUD_HOME"]))
    violations = guard_log.read_text()
    os.environ.clear()
    os.environ.update(saved)
    assert not violations, f"network or credential access outside loopback:\n{violations}"


@pytest.fixture(autouse=True)
def guard_clean(isolated_session):
    """Fail the test that made a connection outside loopback or read credentials."""
    log = isolated_session / "guard.log"
    before = log.read_text()
    yield
    after = log.read_text()
    assert after == before, f"outside-loopback or credential access:\n{after[len(before):]}"


@pytest.fixture(scope="session")
def home(isolated_session) -> Path:
    return Path(os.environ["MLCLOUD_HOME"])


@pytest.fixture(scope="session")
def _session_stack(home):
    from mlcloud.infra import stack as stk

    return stk.up(home)


@pytest.fixture
def stack(_session_stack, home):
    """The local stack, started once for the session; its live status (a test may have restarted
    it on other ports). After the test, the Vertex emulator is reset, so that the model servers
    of one test's deployments do not pile up for the rest of the suite."""
    import urllib.request

    from mlcloud.infra import stack as stk

    live, _ = stk.ensure(home)
    yield live
    now = stk.status(home)
    if now.vertex.ok:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        opener.open(urllib.request.Request(f"{now.vertex.url}/_emulator/reset", data=b"",
                                           method="POST"), timeout=60).close()


_names = itertools.count(1)


@pytest.fixture
def name(request) -> str:
    """A model name of this test's own, so tests sharing the stack never meet."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    return f"t{next(_names)}-{base}".rstrip("-")


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        import json

        return json.loads(self.out)


@pytest.fixture
def cli(capsys, stack):
    """Run mlcloud in this process: cli("upload", "m.joblib", "--name", n) -> Result."""
    from mlcloud.cli.app import run

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture(scope="session")
def housing_csv() -> Path:
    path = DATA / "housing.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared data sets sit beside the checkout in CI)")
    return path


@dataclass
class Trained:
    path: Path
    pipeline: object
    test: object  # held-out rows (DataFrame) the pipeline never saw


def housing_pipeline(regressor=None):
    """The book's chapter-2 pipeline: median imputer + scaler on numbers, one-hot on
    ocean_proximity, then a regressor."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numbers = ["longitude", "latitude", "housing_median_age", "total_rooms", "total_bedrooms",
               "population", "households", "median_income"]
    pre = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                          ("scale", StandardScaler())]), numbers),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["ocean_proximity"]),
    ])
    if regressor is None:
        regressor = RandomForestRegressor(n_estimators=20, max_depth=10, random_state=42,
                                          n_jobs=1)
    return Pipeline([("pre", pre), ("model", regressor)])


@pytest.fixture(scope="session")
def housing(housing_csv, tmp_path_factory) -> Trained:
    """The housing pipeline fitted on housing.csv, saved with joblib; 100 held-out rows."""
    import joblib
    import pandas as pd
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(housing_csv)
    X, y = df.drop(columns="median_house_value"), df["median_house_value"]
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=100, random_state=42)
    pipeline = housing_pipeline().fit(X_train, y_train)
    path = tmp_path_factory.mktemp("housing") / "model.joblib"
    joblib.dump(pipeline, path)
    return Trained(path, pipeline, X_test)


@pytest.fixture(scope="session")
def housing_v2(housing_csv, tmp_path_factory, housing) -> Trained:
    """A second, different housing model (a linear regressor) for version tests."""
    import joblib
    import pandas as pd
    from sklearn.linear_model import Ridge

    df = pd.read_csv(housing_csv)
    X, y = df.drop(columns="median_house_value"), df["median_house_value"]
    pipeline = housing_pipeline(Ridge(alpha=1.0)).fit(X.drop(housing.test.index), y.drop(housing.test.index))
    path = tmp_path_factory.mktemp("housing-v2") / "model.joblib"
    joblib.dump(pipeline, path)
    return Trained(path, pipeline, housing.test)


def instances_of(frame) -> list[dict]:
    """DataFrame rows as JSON objects, NaN as null."""
    import math

    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")]
