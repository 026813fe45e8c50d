"""The model server as the serving container runs it: Vertex's AIP_* contract, exact predictions
with and without micro-batching, typed classifier labels, JSON-safe outputs, errors that name the
instance and field, a tampered artifact refused. Real server processes, real pipelines."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import instances_of
from modelserver import base_env, call, free_port, live_stack, make_bundle, running, serve_folder


@pytest.fixture(scope="module")
def bundle(housing, tmp_path_factory):
    return make_bundle(housing.path, tmp_path_factory.mktemp("bundle"), "housing", "v1")


def test_container_entrypoint_with_only_the_aip_variables(bundle, housing, home, tmp_path):
    """Started as the container's ENTRYPOINT would be: no arguments, the model from
    AIP_STORAGE_URI through the storage emulator, Vertex's own route names."""
    from mlcloud.deploy.storage import Storage

    stack = live_stack(home)
    store = Storage.for_emulator(stack.gcs.url)
    store.ensure_bucket("mlcloud-local", create=True)
    folder = "gs://mlcloud-local/container-test/housing/v1"
    for file in ("mlcloud.json", "model.joblib"):
        data = (bundle / file).read_bytes()
        store.create(f"{folder}/{file}", data, size=len(data), content_type="application/octet-stream")
    port = free_port()
    predict_route = "/v1/endpoints/123/deployedModels/456:predict"
    env = dict(base_env(), AIP_HTTP_PORT=str(port), AIP_HEALTH_ROUTE="/ping",
               AIP_PREDICT_ROUTE=predict_route, AIP_STORAGE_URI=folder,
               STORAGE_EMULATOR_HOST=stack.gcs.url)
    url = f"http://127.0.0.1:{port}"
    with running([sys.executable, "-m", "mlcloud.deploy.server"], env, f"{url}/ping",
                 tmp_path / "server.log", cwd=tmp_path):
        assert call(f"{url}/ping") == (200, {"status": "ready", "name": "housing", "version": "v1"})
        rows = instances_of(housing.test)
        status, body = call(url + predict_route, {"instances": rows})
        assert status == 200, body
        assert body["predictions"] == housing.pipeline.predict(housing.test).tolist()  # exact
        # lists in schema order, numbers and category strings mixed, null for a missing value
        as_lists = [[r[c] for c in housing.test.columns] for r in rows[:3]]
        as_lists[0][4] = None
        frame = housing.test.head(3).copy()
        frame.iloc[0, 4] = np.nan
        status, body = call(url + predict_route, {"instances": as_lists, "parameters": {}})
        assert (status, body["predictions"]) == (200, housing.pipeline.predict(frame).tolist())
        assert call(f"{url}/predict", {"instances": rows[:1]})[0] == 404  # only Vertex's route


def test_predictions_exact_with_and_without_batching_under_concurrency(bundle, housing, tmp_path):
    rows = instances_of(housing.test)
    expected = housing.pipeline.predict(housing.test).tolist()
    server, url = serve_folder(bundle, tmp_path / "server.log", "--workers", "2")
    with server:
        # without batching: one request at a time, each alone in its model call
        alone = [call(f"{url}/predict", {"instances": [r]})[1]["predictions"][0] for r in rows[:20]]
        assert alone == expected[:20]
        before = call(f"{url}/_mlcloud/stats")[1]

        def one(i):
            return call(f"{url}/predict", {"instances": [rows[i % 100]]})[1]["predictions"][0]

        with ThreadPoolExecutor(16) as pool:  # concurrent callers share model calls
            got = list(pool.map(one, range(400)))
        assert got == [expected[i % 100] for i in range(400)]  # each caller got its own row, exactly
        after = call(f"{url}/_mlcloud/stats")[1]
        assert after["requests"] - before["requests"] == 400
        assert after["calls"] - before["calls"] < 400  # some requests shared a model call

        with ThreadPoolExecutor(4) as pool:  # multi-row requests batched together keep their rows
            chunks = list(pool.map(lambda k: call(f"{url}/predict", {"instances": rows[k:k + 7]})[1],
                                   range(0, 93, 7)))
        assert [p for c in chunks for p in c["predictions"]] == expected[:98]


def test_bad_input_is_400_naming_instance_and_field(bundle, housing, tmp_path):
    rows = instances_of(housing.test)[:3]
    server, url = serve_folder(bundle, tmp_path / "server.log", "--workers", "0")
    with server:
        bad = [dict(rows[0]), dict(rows[1], median_income="high"), rows[2]]
        status, body = call(f"{url}/predict", {"instances": bad})
        assert status == 400
        assert body["error"]["instance"] == 1 and body["error"]["field"] == "median_income"
        assert body["error"]["status"] == "INVALID_ARGUMENT"
        assert "instance 1" in body["error"]["message"]
        missing = dict(rows[0])
        del missing["latitude"]
        status, body = call(f"{url}/predict", {"instances": [missing]})
        assert (status, body["error"]["field"]) == (400, "latitude")
        assert call(f"{url}/predict", b"{not json")[0] == 400
        assert call(f"{url}/predict", {"rows": []})[0] == 400
        assert call(f"{url}/predict", {"instances": rows, "parameters": {"method": "explain"}})[0] == 400
        assert call(f"{url}/predict", {"instances": rows, "parameters": {"method": "predict_proba"}})[0] == 400
        assert call(f"{url}/predict")[0] == 405
        assert call(f"{url}/nowhere")[0] == 404
        # a good request after bad ones is answered normally
        status, body = call(f"{url}/predict", {"instances": rows})
        assert status == 200 and len(body["predictions"]) == 3
        page = call(f"{url}/")[1]
        assert "<form" in page and "ocean_proximity" in page and "NEAR BAY" in page
        assert "http://" not in page and "https://" not in page  # no external assets


def _classifier(tmp_path, labels):
    import joblib
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = np.where(X["a"] > 0.5, labels[2], np.where(X["b"] > 0, labels[1], labels[0]))
    model = LogisticRegression().fit(X, y)
    joblib.dump(model, tmp_path / "clf.joblib")
    return model, X


@pytest.mark.parametrize("labels", [[0, 1, 2], ["cat", "dog", "emu"]], ids=["int", "str"])
def test_predict_proba_keeps_label_types(tmp_path, labels):
    model, X = _classifier(tmp_path, labels)
    folder = make_bundle(tmp_path / "clf.joblib", tmp_path / "bundle", "clf", "v1")
    server, url = serve_folder(folder, tmp_path / "server.log", "--workers", "0")
    rows = X.head(5).to_dict(orient="records")
    with server:
        status, body = call(f"{url}/predict", {"instances": rows, "parameters": {"method": "predict_proba"}})
        assert status == 200
        expected = model.predict_proba(X.head(5))
        for answer, probs in zip(body["predictions"], expected):
            assert [p["label"] for p in answer] == labels  # 0 stays 0, "cat" stays "cat"
            assert [p["probability"] for p in answer] == probs.tolist()
        status, body = call(f"{url}/predict", {"instances": rows})
        assert body["predictions"] == model.predict(X.head(5)).tolist()


def test_nan_outputs_are_null_with_a_warning(tmp_path):
    import joblib
    import pandas as pd
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import LinearRegression

    X = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    model = TransformedTargetRegressor(LinearRegression(), func=np.exp, inverse_func=np.log,
                                       check_inverse=False).fit(X, [1.0, 2.0, 3.0, 4.0])
    joblib.dump(model, tmp_path / "m.joblib")
    folder = make_bundle(tmp_path / "m.joblib", tmp_path / "bundle", "nan", "v1")
    server, url = serve_folder(folder, tmp_path / "server.log", "--workers", "0")
    with server:
        status, body = call(f"{url}/predict", {"instances": [{"x": 2.0}, {"x": -100.0}]})
    assert status == 200
    assert body["predictions"][0] == pytest.approx(float(model.predict(pd.DataFrame({"x": [2.0]}))[0]))
    assert body["predictions"][1] is None  # log of a negative number: NaN, sent as null
    assert any("nan" in w for w in body["metadata"]["warnings"])


def test_tampered_artifact_is_never_loaded(bundle, tmp_path):
    import shutil
    import subprocess

    folder = tmp_path / "tampered"
    shutil.copytree(bundle, folder)
    with open(folder / "model.joblib", "ab") as f:
        f.write(b"\0")
    ready = tmp_path / "ready.json"
    r = subprocess.run([sys.executable, "-m", "mlcloud.deploy.server", str(folder), "--host",
                        "127.0.0.1", "--port", "0", "--ready-file", str(ready)],
                       env=base_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "does not match the manifest" in r.stderr and "Traceback" not in r.stderr
    assert json.loads(ready.read_text())["exit_code"] == 2
