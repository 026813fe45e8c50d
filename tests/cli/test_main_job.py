"""The main job end to end on the real local emulators: init → upload → deploy → predict."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from conftest import instances_of


def write_input(path, instances):
    path.write_text(json.dumps({"instances": instances}))
    return path


def test_housing_end_to_end(cli, workdir, name, housing):
    assert cli("init", "--name", name, "--model", housing.path).code == 0
    up = cli("upload", "--json")
    assert up.code == 0, up.err
    assert up.json()["version"] == "v1"
    assert up.json()["uri"] == f"gs://mlcloud-local/models/{name}/v1"

    dep = cli("deploy", "--version", "v1", "--json")
    assert dep.code == 0, dep.err
    assert dep.json()["traffic"] == {"v1": 100}

    rows = instances_of(housing.test)
    # housing.csv leaves total_bedrooms empty in these held-out rows: they travel as null and the
    # pipeline's imputer fills them, in the emulator as in pipeline.predict
    assert any(r["total_bedrooms"] is None for r in rows)
    res = cli("predict", write_input(workdir / "input.json", rows))
    assert res.code == 0, res.err
    body = res.json()
    expected = housing.pipeline.predict(housing.test)
    assert len(body["predictions"]) == 100
    np.testing.assert_allclose(body["predictions"], expected, rtol=1e-9, atol=0)
    assert body["version"] == "v1"
    assert body["deployedModelId"] == dep.json()["deployed_model_id"]
    assert body["model"].endswith(f"/models/{name}")
    assert body["modelVersionId"] == dep.json()["model_version_id"]


def test_rows_as_lists_and_json_lines(cli, workdir, name, housing):
    cli("init", "--name", name, "--model", housing.path)
    assert cli("upload").code == 0
    assert cli("deploy", "--version", "v1").code == 0
    rows = instances_of(housing.test.head(5))
    as_lists = [list(r.values()) for r in rows]
    lines = workdir / "rows.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    expected = housing.pipeline.predict(housing.test.head(5))
    for path in (write_input(workdir / "lists.json", as_lists), lines):
        res = cli("predict", path)
        assert res.code == 0, res.err
        np.testing.assert_allclose(res.json()["predictions"], expected, rtol=1e-9)


def test_second_version_takes_the_traffic(cli, workdir, name, housing, housing_v2):
    cli("init", "--name", name, "--model", housing.path)
    assert cli("upload").code == 0
    first = cli("deploy", "--version", "v1", "--json").json()
    up2 = cli("upload", housing_v2.path, "--json")
    assert up2.code == 0 and up2.json()["version"] == "v2"

    inp = write_input(workdir / "input.json", instances_of(housing.test.head(10)))
    before = cli("predict", inp).json()  # upload alone never changes which version serves
    assert before["version"] == "v1"
    np.testing.assert_allclose(before["predictions"], housing.pipeline.predict(housing.test.head(10)),
                               rtol=1e-9)

    dep = cli("deploy", "--version", "v2", "--json")
    assert dep.code == 0, dep.err
    assert dep.json()["traffic"] == {"v1": 0, "v2": 100}
    assert dep.json()["message"] == f"{name}: default v1 -> v2 (100% of the traffic)"
    after = cli("predict", inp).json()
    assert after["version"] == "v2"
    assert after["deployedModelId"] == dep.json()["deployed_model_id"] != first["deployed_model_id"]
    np.testing.assert_allclose(after["predictions"], housing_v2.pipeline.predict(housing.test.head(10)),
                               rtol=1e-9)

    again = cli("deploy", "--version", "v2", "--json")
    assert again.code == 0 and again.json()["status"] == "unchanged"


def test_upload_is_create_only(cli, workdir, name, housing, housing_v2, stack):
    from mlcloud.deploy.storage import Storage

    cli("init", "--name", name, "--model", housing.path)
    assert cli("upload").code == 0
    store = Storage.for_emulator(stack.gcs.url)
    uri = f"gs://mlcloud-local/models/{name}/v1/model.joblib"
    original = housing.path.read_bytes()
    assert store.read_bytes(uri) == original
    generation = store.stat(uri).generation

    same = cli("upload", "--json")
    assert same.code == 0
    assert same.json()["status"] == "unchanged" and same.json()["version"] == "v1"
    assert "nothing uploaded" in same.json()["message"]

    other = cli("upload", housing_v2.path, "--version", "v1")
    assert other.code == 2
    assert other.err.strip().splitlines() == [
        f"error: {name} v1 already exists with other bytes (sha256 "
        f"{hashlib.sha256(original).hexdigest()[:12]}…); versions are never overwritten: "
        "upload as v2 (--version v2, or leave --version out)"]
    assert store.read_bytes(uri) == original
    assert store.stat(uri).generation == generation
    assert store.list_folders(f"gs://mlcloud-local/models/{name}") == ["v1"]


def test_tampered_artifact_is_refused_at_deploy(cli, workdir, name, housing, housing_v2, stack):
    from mlcloud.deploy.storage import Storage

    cli("init", "--name", name, "--model", housing.path)
    assert cli("upload").code == 0
    store = Storage.for_emulator(stack.gcs.url)
    # Someone overwrites the artifact behind mlcloud's back (no precondition).
    blob = store._client.bucket("mlcloud-local").blob(f"models/{name}/v1/model.joblib")
    blob.upload_from_filename(str(housing_v2.path))
    res = cli("deploy", "--version", "v1")
    assert res.code == 2
    assert "does not match its manifest" in res.err
    assert len(res.err.strip().splitlines()) == 1
    from mlcloud.deploy.vertex import Vertex

    vertex = Vertex.for_emulator(stack.vertex.url, "local", "us-central1")
    assert vertex.get_endpoint(name) is None
    assert vertex.get_model(vertex.model_name(name)) is None


def test_interrupted_upload_is_finished_by_the_next(cli, workdir, name, housing, stack):
    from mlcloud.deploy.storage import Storage

    store = Storage.for_emulator(stack.gcs.url)
    store.ensure_bucket("mlcloud-local", create=True)
    data = housing.path.read_bytes()
    store.create(f"gs://mlcloud-local/models/{name}/v1/model.joblib", data, size=len(data),
                 content_type="application/octet-stream")  # ...and then the upload died
    cli("init", "--name", name, "--model", housing.path)
    res = cli("upload", "--json")
    assert res.code == 0, res.err
    assert res.json()["status"] == "completed" and res.json()["version"] == "v1"
    manifest = json.loads(store.read_bytes(f"gs://mlcloud-local/models/{name}/v1/mlcloud.json"))
    assert manifest["artifact"]["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("version", ["v7", "canary-1"])
def test_explicit_version(cli, workdir, name, housing, version):
    cli("init", "--name", name, "--model", housing.path)
    res = cli("upload", "--version", version, "--json")
    assert res.code == 0 and res.json()["version"] == version
