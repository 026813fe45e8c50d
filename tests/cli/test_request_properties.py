"""Property-based: generated requests at `mlcloud predict` and at the serving emulator. Every
answer is predictions or a clear refusal naming the problem: never a traceback, a 500 or a hang."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request

import joblib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FEATURES = ["elevation", "slope", "area"]

scalars = (st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
           | st.sampled_from(["north", "south", "west", "", "ñ", "🙂"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)
keys = st.sampled_from(FEATURES) | st.text(max_size=10)
instance = (st.dictionaries(keys, values, max_size=5)
            | st.fixed_dictionaries({f: values for f in FEATURES})
            | st.lists(values, max_size=5) | scalars)
bodies = (st.fixed_dictionaries({"instances": st.lists(instance, max_size=6)})
          | st.fixed_dictionaries({"instances": values}) | values)


@pytest.fixture
def served(tmp_path_factory, stack):  # per test: the emulator is reset after each
    """The case-06 pipeline (columns chosen by name) deployed once for the module."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from mlcloud.cli.app import run

    df = pd.DataFrame({"elevation": [2800.0, 3100.0, 2950.0, 3300.0], "slope": [5.0, 12.0, 7.0, 20.0],
                       "area": ["north", "south", "north", "east"]})
    pre = ColumnTransformer([("num", StandardScaler(), ["elevation", "slope"]),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), ["area"])])
    path = tmp_path_factory.mktemp("prop") / "model.joblib"
    joblib.dump(Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(df, [0, 1, 0, 1]), path)
    assert run(["upload", str(path), "--name", "properties"]) == 0
    assert run(["deploy", "--name", "properties", "--version", "v1"]) == 0
    return "properties"


def _count(body) -> int | None:
    if isinstance(body, dict) and isinstance(body.get("instances"), list):
        return len(body["instances"])
    return len(body) if isinstance(body, list) else None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_mlcloud_predict_answers_or_refuses_clearly(body, served, tmp_path_factory, capsys):
    from mlcloud.cli.app import run

    path = tmp_path_factory.getbasetemp() / "prop-input.json"
    path.write_text(json.dumps(body))
    capsys.readouterr()
    code = run(["predict", str(path), "--name", served])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 2), err
    if code == 0:
        answer = json.loads(out)
        assert len(answer["predictions"]) == _count(body)
        assert all(p in (0, 1) for p in answer["predictions"])
    else:
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
def test_serving_emulator_answers_or_refuses_with_400(body, served, stack):
    url = (f"{stack.vertex.url}/v1/projects/local/locations/us-central1/endpoints/{served}:predict")
    data = (body if isinstance(body, str) else json.dumps(body)).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as r:
            status, answer = r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        status, answer = e.code, json.loads(e.read())
    assert status in (200, 400), answer
    if status == 200:
        assert len(answer["predictions"]) == _count(body)
        assert all(isinstance(p, (int, float)) and math.isfinite(p) for p in answer["predictions"])
    else:
        error = answer["error"]
        assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
        assert error["message"] and "Traceback" not in error["message"]
