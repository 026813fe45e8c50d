"""Issue 5, requests end to end through the emulator: cases 05, 08 and 10."""

from __future__ import annotations

import json
import random

import joblib
import numpy as np
import pytest


def _write(path, body):
    path.write_text(json.dumps(body))
    return path


def deploy(cli, name, model_file, version):
    assert cli("upload", model_file, "--name", name, "--version", version).code == 0
    res = cli("deploy", "--name", name, "--version", version)
    assert res.code == 0, res.err


def test_case05_objects_to_an_array_model(cli, workdir, name):
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], [1, 2, 3, 6])
    joblib.dump(model, "model.joblib")
    deploy(cli, name, "model.joblib", "v1")
    as_dict = _write(workdir / "input_dict.json",
                     {"instances": [{"field": 107.0, "source": 1.0, "target": 2.0}]})
    res = cli("predict", as_dict, "--name", name)
    assert res.code == 2
    assert res.err.strip() == (
        f"error: instance 0 is an object with keys [field, source, target], but {name}/v1 was "
        "trained without feature names and expects a list of 3 values, e.g. [0.0, 0.0, 0.0]; or "
        "pass --feature-order field,source,target to turn objects into rows")
    expected = model.predict([[107.0, 1.0, 2.0]]).tolist()
    res = cli("predict", as_dict, "--name", name, "--feature-order", "field,source,target")
    assert res.code == 0, res.err
    assert res.json()["predictions"] == pytest.approx(expected, rel=1e-12)
    res = cli("predict", _write(workdir / "list.json", {"instances": [[107.0, 1.0, 2.0]]}), "--name", name)
    assert res.json()["predictions"] == pytest.approx(expected, rel=1e-12)
    short = cli("predict", _write(workdir / "short.json", {"instances": [[107.0, 1.0]]}), "--name", name)
    assert short.code == 2
    assert short.err.strip() == "error: instance 0 has 2 values, model expects 3 (in this order: x0, x1, x2)"
    _write(workdir / "instance.json", {"instance": [[1, 2, 3]]})
    wrong = cli("predict", "instance.json", "--name", name)
    assert wrong.code == 2
    assert wrong.err.strip() == ("error: instance.json has no 'instances' key: give "
                                 '{"instances": [...]}')


def test_case08_nulls_and_the_pipeline_that_cannot_take_them(cli, workdir, name):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline

    X, y = [[1.0, 2.0], [2.0, 1.0], [3.0, 5.0]], [3.0, 3.0, 8.0]
    joblib.dump(LinearRegression().fit(X, y), "plain.joblib")
    imputing = make_pipeline(SimpleImputer(), LinearRegression()).fit(X, y)
    joblib.dump(imputing, "imputing.joblib")
    (workdir / "bare_nan.json").write_text('{"instances": [[1.5, NaN]]}')
    null = _write(workdir / "null.json", {"instances": [[1.5, None]]})
    string_nan = _write(workdir / "string_nan.json", {"instances": [[1.5, "NaN"]]})

    deploy(cli, name, "plain.joblib", "v1")
    res = cli("predict", "bare_nan.json", "--name", name)
    assert res.code == 2
    assert res.err.strip() == ("error: bare_nan.json line 1 column 22: NaN is not valid JSON (NaN "
                               "and Infinity are not JSON numbers); write null for a missing value")
    res = cli("predict", null, "--name", name)
    assert res.code == 2
    assert res.err.strip() == (
        f"error: instance 0, feature 1 is null, but {name}/v1 does not accept missing values "
        "there; add an imputer (e.g. SimpleImputer) to the pipeline, or send a value")
    res = cli("predict", string_nan, "--name", name)
    assert res.code == 2
    assert res.err.strip() == ("error: instance 0, feature 1: expected a number or null, got the "
                               "string 'NaN'")

    deploy(cli, name, "imputing.joblib", "v2")
    res = cli("predict", null, "--name", name)
    assert res.code == 0, res.err
    [value] = res.json()["predictions"]
    assert value == pytest.approx(float(imputing.predict(np.array([[1.5, np.nan]]))[0]), rel=1e-12)
    assert res.json()["version"] == "v2"


@pytest.fixture
def wide(cli, workdir, name):
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    model = LinearRegression().fit(rng.random((50, 20)), rng.random(50))
    joblib.dump(model, "model.joblib")
    deploy(cli, name, "model.joblib", "v1")
    return model


def test_case10_big_input_is_split_and_joined_in_order(cli, workdir, name, wide):
    random.seed(1)
    rows = [[random.random() for _ in range(20)] for _ in range(20_000)]
    big = _write(workdir / "big.json", {"instances": rows})
    assert big.stat().st_size > 7_000_000
    res = cli("predict", big, "--name", name)
    assert res.code == 0, res.err
    predictions = res.json()["predictions"]
    assert len(predictions) == 20_000
    np.testing.assert_allclose(predictions, wide.predict(np.array(rows)), rtol=1e-12)
    [line] = [ln for ln in res.err.splitlines() if ln.startswith("sent ")]
    n = int(line.split(" in ")[1].split()[0])
    assert line == f"sent 20000 instances in {n} requests (limit 1500000 bytes)" and n >= 6

    refused = cli("predict", big, "--name", name, "--no-split")
    assert refused.code == 2
    size = len(json.dumps({"instances": rows}, separators=(",", ":")))
    assert refused.err.strip() == (
        f"error: the request is {size / 1e6:.1f} MB, over the limit of 1500000 bytes: drop "
        "--no-split to send it in several requests, or use batch prediction for large jobs")


def test_case10_small_limit_and_one_huge_instance(cli, workdir, name, wide):
    rows = [[i / 100 + j for j in range(20)] for i in range(300)]
    res = cli("predict", _write(workdir / "rows.json", {"instances": rows}), "--name", name,
              "--max-request-bytes", 2000)
    assert res.code == 0, res.err
    np.testing.assert_allclose(res.json()["predictions"], wide.predict(np.array(rows)), rtol=1e-12)
    assert "requests (limit 2000 bytes)" in res.err

    huge = _write(workdir / "one_huge.json", {"instances": [[0.123456789] * 20] * 2})
    res = cli("predict", huge, "--name", name, "--max-request-bytes", 100)
    assert res.code == 2
    one = len(json.dumps([0.123456789] * 20, separators=(",", ":")))
    assert res.err.strip() == (
        f"error: instance 0 alone is ~{one} bytes, over the limit of 100 bytes per request; no "
        "split can help: send fewer features or use batch prediction")


def test_empty_instances_call_nothing(cli, workdir, name):
    res = cli("predict", _write(workdir / "empty.json", {"instances": []}), "--name", name)
    assert res.code == 0  # nothing is deployed under this name: the service was never called
    assert res.json() == {"predictions": []}
