"""The Vertex AI emulator, run as a real server process and driven by the aiplatform_v1 REST clients.

A Cloud Storage emulator process holds a tiny real scikit-learn pipeline (artifact + manifest);
the Vertex emulator fetches it from there at deploy time and predictions are compared with
``pipeline.predict`` on the same rows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1
from google.cloud import storage

PROJECT, LOCATION = "p", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
BUCKET = "mlcloud-test-models"
ROWS = [{"x": 1.0, "c": "a"}, {"x": 2.5, "c": "b"}, {"x": -3.0, "c": "a"}]


# --- processes --------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _post(url: str, body: dict | None = None, method: str = "POST") -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@dataclass
class Vertex:
    proc: subprocess.Popen
    url: str
    data: Path

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def start_vertex(data: Path, storage_url: str) -> Vertex:
    ready = data.parent / f"{data.name}.ready.json"
    ready.unlink(missing_ok=True)
    log = data.parent / f"{data.name}.stderr"
    with open(log, "ab") as err:  # a file, not a pipe nobody reads
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlcloud.infra.vertex", "--data", str(data), "--storage-url", storage_url,
             "--port", "0", "--ready-file", str(ready)], env=_env(), stderr=err)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"vertex emulator exited {proc.returncode}: {log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("vertex emulator did not become ready")
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    assert info["pid"] == proc.pid
    return Vertex(proc, info["url"], data)


@pytest.fixture(scope="module")
def gcs_url(tmp_path_factory) -> str:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
                             "--port", str(port), "--in-memory", "-q"], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "GCS emulator did not start"
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def gcs(gcs_url) -> storage.Client:
    client = storage.Client(project="local", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": gcs_url})
    client.create_bucket(BUCKET)
    return client


@pytest.fixture(scope="module")
def server(tmp_path_factory, gcs_url, gcs):
    v = start_vertex(tmp_path_factory.mktemp("vertex") / "data", gcs_url)
    yield v
    assert v.stop() == 0


@pytest.fixture
def vertex(server) -> Vertex:
    """The shared emulator, reset before each test."""
    assert _post(f"{server.url}/_emulator/reset") == (200, {"status": "reset"})
    return server


def _opts(url: str) -> dict:
    return {"client_options": {"api_endpoint": url}, "credentials": AnonymousCredentials(), "transport": "rest"}


@dataclass
class Clients:
    models: v1.ModelServiceClient
    endpoints: v1.EndpointServiceClient
    predictions: v1.PredictionServiceClient


def clients_for(url: str) -> Clients:
    return Clients(v1.ModelServiceClient(**_opts(url)), v1.EndpointServiceClient(**_opts(url)),
                   v1.PredictionServiceClient(**_opts(url)))


@pytest.fixture
def api(vertex) -> Clients:
    return clients_for(vertex.url)


# --- a real model in Cloud Storage ------------------------------------------------------------


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    import joblib
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "c": ["a", "b", "a", "b", "a", "b"]})
    y = 2.0 * frame["x"] + (frame["c"] == "b") * 10.0 + 0.5
    pipe = Pipeline([("prep", ColumnTransformer([("cat", OneHotEncoder(), ["c"])], remainder="passthrough")),
                     ("reg", LinearRegression())]).fit(frame, y)
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(pipe, path)
    return pipe, path.read_bytes()


def _manifest(artifact: bytes, version: str) -> dict:
    return {"manifest_version": 1, "name": "housing", "version": version,
            "artifact": {"file": "model.joblib", "format": "joblib",
                         "sha256": hashlib.sha256(artifact).hexdigest(),
                         "md5": base64.b64encode(hashlib.md5(artifact).digest()).decode(), "size": len(artifact)},
            "schema": {"columns": "named", "features": [
                {"name": "x", "kind": "number"}, {"name": "c", "kind": "category", "categories": ["a", "b"]}]},
            "task": {"kind": "regression"}}


def put_version(gcs: storage.Client, version: str, artifact: bytes, manifest: dict) -> str:
    folder = f"models/housing/{version}"
    bucket = gcs.bucket(BUCKET)
    bucket.blob(f"{folder}/model.joblib").upload_from_string(artifact)
    bucket.blob(f"{folder}/mlcloud.json").upload_from_string(json.dumps(manifest))
    return f"gs://{BUCKET}/{folder}"


@pytest.fixture(scope="module")
def good_uri(gcs, pipeline) -> str:
    _, artifact = pipeline
    return put_version(gcs, "v1", artifact, _manifest(artifact, "v1"))


@pytest.fixture(scope="module")
def tampered_uri(gcs, pipeline) -> str:
    _, artifact = pipeline
    return put_version(gcs, "v9", artifact + b"tampered", _manifest(artifact, "v9"))


# --- helpers ----------------------------------------------------------------------------------


def upload(api: Clients, uri: str = "gs://nowhere/x", *, parent_model: str = "", aliases=(), model_id: str = "",
           display_name: str = "housing") -> v1.UploadModelResponse:
    model = v1.Model(display_name=display_name, artifact_uri=uri, version_aliases=list(aliases),
                     labels={"app": "mlcloud"},
                     container_spec=v1.ModelContainerSpec(image_uri="us-docker.pkg.dev/x/sklearn:latest"))
    op = api.models.upload_model(request=v1.UploadModelRequest(
        parent=PARENT, model=model, parent_model=parent_model, model_id=model_id))
    return op.result(timeout=30)


def create_endpoint(api: Clients, endpoint_id: str = "") -> v1.Endpoint:
    op = api.endpoints.create_endpoint(request=v1.CreateEndpointRequest(
        parent=PARENT, endpoint=v1.Endpoint(display_name="housing-ep"), endpoint_id=endpoint_id))
    return op.result(timeout=30)


def deploy(api: Clients, endpoint: str, model: str, split: dict | None = None):
    op = api.endpoints.deploy_model(endpoint=endpoint, deployed_model=v1.DeployedModel(
        model=model, dedicated_resources=v1.DedicatedResources(
            machine_spec=v1.MachineSpec(machine_type="n1-standard-2"), min_replica_count=1)),
        traffic_split=split or {})
    return op


def status_of(exc: gexc.GoogleAPICallError) -> str:
    return exc.response.json()["error"]["status"]


# --- models and versions ----------------------------------------------------------------------


def test_health_and_unknown_route(vertex):
    assert _get(f"{vertex.url}/_emulator/health") == (200, {"status": "ok"})
    code, body = _get(f"{vertex.url}/v1/{PARENT}/nothingHere")
    assert code == 404 and body["error"]["status"] == "NOT_FOUND" and body["error"]["code"] == 404


def test_upload_operation_is_typed_and_polled(vertex):
    code, op = _post(f"{vertex.url}/v1/{PARENT}/models:upload",
                     {"model": {"displayName": "housing", "artifactUri": "gs://b/m/v1"}})
    assert code == 200 and op["done"] is True
    assert op["name"].startswith(f"{PARENT}/models/") and "/operations/" in op["name"]
    assert op["response"]["@type"] == "type.googleapis.com/google.cloud.aiplatform.v1.UploadModelResponse"
    assert op["response"]["modelVersionId"] == "1"
    assert op["metadata"]["@type"] == "type.googleapis.com/google.cloud.aiplatform.v1.UploadModelOperationMetadata"
    assert op["metadata"]["genericMetadata"]["createTime"] <= op["metadata"]["genericMetadata"]["updateTime"]
    for prefix in ("v1", "ui"):
        assert _get(f"{vertex.url}/{prefix}/{op['name']}") == (200, op)
    model = op["response"]["model"]
    code, listed = _get(f"{vertex.url}/v1/{model}/operations")
    assert code == 200 and listed["operations"] == [op]


def test_versions_aliases_and_default(api):
    first = upload(api, "gs://b/m/v1")
    name = first.model
    assert name.startswith(f"{PARENT}/models/") and first.model_version_id == "1"
    second = upload(api, "gs://b/m/v2", parent_model=name, aliases=["v2", "candidate"])
    assert (second.model, second.model_version_id) == (name, "2")

    m = api.models.get_model(name=name)  # the default version
    assert (m.version_id, list(m.version_aliases), m.artifact_uri) == ("1", ["default"], "gs://b/m/v1")
    assert m.display_name == "housing" and dict(m.labels) == {"app": "mlcloud"}
    assert m.container_spec.image_uri == "us-docker.pkg.dev/x/sklearn:latest"
    assert m.version_create_time and m.version_update_time and m.create_time

    by_alias = api.models.get_model(name=f"{name}@v2")
    assert (by_alias.version_id, list(by_alias.version_aliases)) == ("2", ["v2", "candidate"])
    assert by_alias.create_time == m.create_time  # the model's, shared by versions
    assert api.models.get_model(name=f"{name}@2").artifact_uri == "gs://b/m/v2"
    assert api.models.get_model(name=f"{name}@1").version_id == "1"

    versions = list(api.models.list_model_versions(name=name))
    assert [(v.version_id, list(v.version_aliases)) for v in versions] == [
        ("1", ["default"]), ("2", ["v2", "candidate"])]
    assert [(x.name, x.version_id) for x in api.models.list_models(parent=PARENT)] == [(name, "1")]

    # move "default" and "v2" to version 1 / 2 with merge; an alias names one version only
    merged = api.models.merge_version_aliases(name=f"{name}@2", version_aliases=["default", "-candidate"])
    assert list(merged.version_aliases) == ["v2", "default"]
    assert list(api.models.get_model(name=f"{name}@1").version_aliases) == []
    assert api.models.get_model(name=name).version_id == "2"
    third = upload(api, "gs://b/m/v3", parent_model=name, aliases=["v2"])  # takes v2 from version 2
    assert third.model_version_id == "3"
    assert api.models.get_model(name=f"{name}@v2").version_id == "3"
    assert list(api.models.get_model(name=f"{name}@2").version_aliases) == ["default"]
    assert api.models.get_model(name=name).version_id == "2"  # a new version is not the default

    with pytest.raises(gexc.NotFound):
        api.models.get_model(name=f"{name}@nope")
    with pytest.raises(gexc.NotFound):
        api.models.get_model(name=f"{PARENT}/models/999")
    with pytest.raises(gexc.BadRequest) as e:
        api.models.merge_version_aliases(name=name, version_aliases=["-default"])
    assert status_of(e.value) == "INVALID_ARGUMENT"
    with pytest.raises(gexc.BadRequest) as e:
        api.models.merge_version_aliases(name=name, version_aliases=["7up"])
    assert status_of(e.value) == "INVALID_ARGUMENT"


def test_client_chosen_model_id_and_conflict(api):
    res = upload(api, model_id="housing-model")
    assert res.model == f"{PARENT}/models/housing-model"
    with pytest.raises(gexc.Conflict) as e:
        upload(api, model_id="housing-model")
    assert status_of(e.value) == "ALREADY_EXISTS"
    with pytest.raises(gexc.NotFound):
        upload(api, parent_model=f"{PARENT}/models/missing")


def test_delete_version_and_model(api, vertex):
    name = upload(api).model
    upload(api, parent_model=name)
    with pytest.raises(gexc.BadRequest) as e:
        api.models.delete_model_version(name=f"{name}@1").result(timeout=30)  # the default
    assert status_of(e.value) == "FAILED_PRECONDITION"
    api.models.delete_model_version(name=f"{name}@2").result(timeout=30)
    assert [v.version_id for v in api.models.list_model_versions(name=name)] == ["1"]
    upload(api, parent_model=name)
    code, op = _post(f"{vertex.url}/v1/{name}@3", method="DELETE")
    assert code == 200 and op["response"] == {"@type": "type.googleapis.com/google.protobuf.Empty"}
    assert op["metadata"]["@type"] == "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata"
    assert [v.version_id for v in api.models.list_model_versions(name=name)] == ["1"]
    api.models.delete_model(name=name).result(timeout=30)
    with pytest.raises(gexc.NotFound):
        api.models.get_model(name=name)


def test_list_filter_and_paging(api):
    names = [upload(api, display_name=f"m{i}").model for i in range(3)]
    pager = api.models.list_models(request=v1.ListModelsRequest(parent=PARENT, page_size=2))
    assert [m.name for m in pager] == names
    assert [m.name for m in api.models.list_models(
        request=v1.ListModelsRequest(parent=PARENT, filter='display_name="m1"'))] == [names[1]]


# --- endpoints --------------------------------------------------------------------------------


def test_endpoint_create_get_list_conflict(api, vertex):
    ep = create_endpoint(api, endpoint_id="housing-ep")
    assert ep.name == f"{PARENT}/endpoints/housing-ep" and ep.display_name == "housing-ep"
    auto = create_endpoint(api)
    assert auto.name.startswith(f"{PARENT}/endpoints/")
    assert api.endpoints.get_endpoint(name=ep.name).create_time == ep.create_time
    assert sorted(e.name for e in api.endpoints.list_endpoints(parent=PARENT)) == sorted([ep.name, auto.name])
    with pytest.raises(gexc.Conflict) as e:
        create_endpoint(api, endpoint_id="housing-ep")
    assert e.value.response.json()["error"] == {
        "code": 409, "status": "ALREADY_EXISTS", "message": f"Endpoint {ep.name} already exists."}
    with pytest.raises(gexc.NotFound) as e:
        api.endpoints.get_endpoint(name=f"{PARENT}/endpoints/nope")
    assert status_of(e.value) == "NOT_FOUND"
    code, op = _post(f"{vertex.url}/v1/{PARENT}/endpoints?endpointId=second", {"displayName": "x"})
    assert op["response"]["@type"] == "type.googleapis.com/google.cloud.aiplatform.v1.Endpoint"
    assert op["metadata"]["@type"] == (
        "type.googleapis.com/google.cloud.aiplatform.v1.CreateEndpointOperationMetadata")
    api.endpoints.delete_endpoint(name=auto.name).result(timeout=30)
    with pytest.raises(gexc.NotFound):
        api.endpoints.get_endpoint(name=auto.name)


# --- deployments, traffic and predictions -----------------------------------------------------


def test_deploy_predict_traffic_rules(api, vertex, pipeline, good_uri):
    pipe, _ = pipeline
    name = upload(api, good_uri).model
    upload(api, good_uri, parent_model=name, aliases=["v2"])
    ep = create_endpoint(api, endpoint_id="traffic")

    op = deploy(api, ep.name, f"{name}@v2", {"0": 100})
    first = op.result(timeout=60).deployed_model
    assert first.id and first.model == name and first.model_version_id == "2"
    assert op.operation.name.startswith(f"{ep.name}/operations/")
    raw = _get(f"{vertex.url}/ui/{op.operation.name}")[1]
    assert raw["done"] is True
    assert raw["response"]["@type"] == "type.googleapis.com/google.cloud.aiplatform.v1.DeployModelResponse"
    assert raw["metadata"]["@type"] == (
        "type.googleapis.com/google.cloud.aiplatform.v1.DeployModelOperationMetadata")
    got = api.endpoints.get_endpoint(name=ep.name)
    assert dict(got.traffic_split) == {first.id: 100}
    assert [d.id for d in got.deployed_models] == [first.id]
    refs = api.models.get_model(name=f"{name}@2").deployed_models
    assert [(r.endpoint, r.deployed_model_id) for r in refs] == [(ep.name, first.id)]

    # predictions are the pipeline's
    import pandas as pd

    res = api.predictions.predict(endpoint=ep.name, instances=ROWS)
    assert list(res.predictions) == pytest.approx(list(pipe.predict(pd.DataFrame(ROWS))))
    assert (res.deployed_model_id, res.model, res.model_version_id, res.model_display_name) == (
        first.id, name, "2", "housing")
    with pytest.raises(gexc.BadRequest) as e:
        api.predictions.predict(endpoint=ep.name, instances=[{"x": "high", "c": "a"}])
    assert status_of(e.value) == "INVALID_ARGUMENT" and "feature 'x': expected a number or null, got the string 'high'" in e.value.message

    # second deployment without a split: it gets 0 and the first keeps 100
    second = deploy(api, ep.name, f"{name}@1").result(timeout=60).deployed_model
    assert second.id != first.id and second.model_version_id == "1"
    assert dict(api.endpoints.get_endpoint(name=ep.name).traffic_split) == {first.id: 100, second.id: 0}

    # a split that does not sum to 100 is refused and nothing changes
    before = api.endpoints.get_endpoint(name=ep.name)
    with pytest.raises(gexc.BadRequest) as e:
        api.endpoints.update_endpoint(endpoint=v1.Endpoint(name=ep.name, traffic_split={first.id: 50, second.id: 10}),
                                      update_mask={"paths": ["traffic_split"]})
    assert status_of(e.value) == "INVALID_ARGUMENT" and "sum to 100" in e.value.message
    with pytest.raises(gexc.BadRequest) as e:
        deploy(api, ep.name, name, {"0": 50, first.id: 40})
    assert status_of(e.value) == "INVALID_ARGUMENT"
    with pytest.raises(gexc.BadRequest) as e:
        deploy(api, ep.name, name, {"0": 50, "12345": 50})
    assert status_of(e.value) == "INVALID_ARGUMENT"
    assert api.endpoints.get_endpoint(name=ep.name) == before

    # undeploying the model that carries the traffic is refused; move it first
    with pytest.raises(gexc.BadRequest) as e:
        api.endpoints.undeploy_model(endpoint=ep.name, deployed_model_id=first.id).result(timeout=30)
    assert status_of(e.value) == "FAILED_PRECONDITION"
    with pytest.raises(gexc.BadRequest) as e:
        api.models.delete_model(name=name).result(timeout=30)
    assert status_of(e.value) == "FAILED_PRECONDITION"
    with pytest.raises(gexc.BadRequest) as e:
        api.endpoints.delete_endpoint(name=ep.name).result(timeout=30)
    assert status_of(e.value) == "FAILED_PRECONDITION"

    updated = api.endpoints.update_endpoint(
        endpoint=v1.Endpoint(name=ep.name, traffic_split={first.id: 0, second.id: 100}),
        update_mask={"paths": ["traffic_split"]})
    assert dict(updated.traffic_split) == {first.id: 0, second.id: 100}
    assert {api.predictions.predict(endpoint=ep.name, instances=ROWS[:1]).deployed_model_id
            for _ in range(5)} == {second.id}
    api.endpoints.undeploy_model(endpoint=ep.name, deployed_model_id=first.id).result(timeout=30)
    got = api.endpoints.get_endpoint(name=ep.name)
    assert dict(got.traffic_split) == {second.id: 100} and [d.id for d in got.deployed_models] == [second.id]
    assert list(api.models.get_model(name=f"{name}@2").deployed_models) == []

    # the last model may go; then predict has nothing to route to
    api.endpoints.undeploy_model(endpoint=ep.name, deployed_model_id=second.id).result(timeout=30)
    with pytest.raises(gexc.BadRequest) as e:
        api.predictions.predict(endpoint=ep.name, instances=ROWS)
    assert status_of(e.value) == "FAILED_PRECONDITION"
    third = deploy(api, ep.name, name).result(timeout=60).deployed_model
    assert int(third.id) > int(second.id)  # ids are never reused
    with pytest.raises(gexc.NotFound):
        deploy(api, ep.name, f"{name}@nope")


def test_traffic_split_is_followed(api, good_uri):
    name = upload(api, good_uri).model
    ep = create_endpoint(api)
    a = deploy(api, ep.name, name).result(timeout=60).deployed_model
    b = deploy(api, ep.name, name, {a.id: 50, "0": 50}).result(timeout=60).deployed_model
    seen = {api.predictions.predict(endpoint=ep.name, instances=ROWS[:1]).deployed_model_id for _ in range(40)}
    assert seen == {a.id, b.id}
    api.endpoints.undeploy_model(endpoint=ep.name, deployed_model_id=a.id, traffic_split={b.id: 100}).result(timeout=30)
    assert dict(api.endpoints.get_endpoint(name=ep.name).traffic_split) == {b.id: 100}


def test_tampered_artifact_fails_the_deploy(api, vertex, good_uri, tampered_uri):
    name = upload(api, good_uri).model
    bad = upload(api, tampered_uri, parent_model=name).model_version_id
    ep = create_endpoint(api)
    good = deploy(api, ep.name, name).result(timeout=60).deployed_model
    before = api.endpoints.get_endpoint(name=ep.name)

    op = deploy(api, ep.name, f"{name}@{bad}", {"0": 100})
    with pytest.raises(gexc.FailedPrecondition) as e:  # from the operation's google.rpc.Status
        op.result(timeout=60)
    assert "sha256" in str(e.value)
    raw = _get(f"{vertex.url}/v1/{op.operation.name}")[1]
    assert raw["done"] is True and "response" not in raw
    assert raw["error"]["code"] == 9 and "does not match the manifest" in raw["error"]["message"]
    assert api.endpoints.get_endpoint(name=ep.name) == before
    assert api.predictions.predict(endpoint=ep.name, instances=ROWS).deployed_model_id == good.id

    missing = upload(api, f"gs://{BUCKET}/models/housing/v404", parent_model=name).model_version_id
    op = deploy(api, ep.name, f"{name}@{missing}")
    with pytest.raises(gexc.GoogleAPICallError):
        op.result(timeout=60)
    assert api.endpoints.get_endpoint(name=ep.name) == before


def test_restart_keeps_everything(tmp_path, gcs_url, gcs, pipeline, good_uri):
    import pandas as pd

    pipe, _ = pipeline
    data = tmp_path / "data"
    first = start_vertex(data, gcs_url)
    try:
        api = clients_for(first.url)
        name = upload(api, good_uri, model_id="kept").model
        upload(api, good_uri, parent_model=name, aliases=["v2"])
        ep = create_endpoint(api, endpoint_id="kept-ep")
        dm = deploy(api, ep.name, f"{name}@v2").result(timeout=60).deployed_model
        before_ep = api.endpoints.get_endpoint(name=ep.name)
        before_models = list(api.models.list_model_versions(name=name))
    finally:
        assert first.stop() == 0
    assert not (tmp_path / "data.ready.json").exists()
    assert json.loads((data / "vertex-state.json").read_text())["format"] == 1

    second = start_vertex(data, gcs_url)
    try:
        api = clients_for(second.url)
        # the first predict waits while the deployed model's server starts again
        res = api.predictions.predict(endpoint=ep.name, instances=ROWS)
        assert res.deployed_model_id == dm.id
        assert list(res.predictions) == pytest.approx(list(pipe.predict(pd.DataFrame(ROWS))))
        assert api.endpoints.get_endpoint(name=ep.name) == before_ep
        assert list(api.models.list_model_versions(name=name)) == before_models
        nxt = upload(api, good_uri, parent_model=name)
        assert nxt.model_version_id == "3"
    finally:
        assert second.stop() == 0


# --- wire details -----------------------------------------------------------------------------


def test_error_envelopes(vertex):
    code, body = _post(f"{vertex.url}/v1/{PARENT}/models:upload", {"model": {}})
    assert code == 400 and body == {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                              "message": "Model.display_name is required."}}
    req = urllib.request.Request(f"{vertex.url}/v1/{PARENT}/models:upload", data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 400 and json.loads(e.value.read())["error"]["status"] == "INVALID_ARGUMENT"
    code, body = _get(f"{vertex.url}/v1/{PARENT}/models/1/operations/77")
    assert code == 404 and body["error"]["status"] == "NOT_FOUND"
    code, body = _post(f"{vertex.url}/v1/{PARENT}/endpoints/nope:predict", {"instances": [[1]]})
    assert code == 404 and body["error"]["status"] == "NOT_FOUND"


def test_refuses_non_loopback_host(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mlcloud.infra.vertex", "--data", str(tmp_path),
                           "--storage-url", "http://127.0.0.1:1", "--host", "0.0.0.0"],
                          env=_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "refusing to bind 0.0.0.0" in proc.stderr


def test_operation_wait(api, vertex, good_uri):
    name = upload(api, good_uri).model
    ep = create_endpoint(api)
    op = deploy(api, ep.name, name)
    code, waited = _post(f"{vertex.url}/v1/{op.operation.name}:wait?timeout=50s")
    assert code == 200 and waited["done"] is True
    assert waited["response"]["deployedModel"]["model"] == name
    assert waited["response"]["deployedModel"]["modelVersionId"] == "1"


IMPLEMENTED = {
    "model_service": ["UploadModel", "GetModel", "ListModels", "ListModelVersions", "MergeVersionAliases",
                      "DeleteModel", "DeleteModelVersion"],
    "endpoint_service": ["CreateEndpoint", "GetEndpoint", "ListEndpoints", "UpdateEndpoint", "DeleteEndpoint",
                         "DeployModel", "UndeployModel"],
    "prediction_service": ["Predict"],
}


def _sample(uri: str) -> str:
    """A concrete path for a google.api.http template: each * a segment, ** two."""
    def fill(m):
        return "/".join({"**": "a/b", "*": "x1"}[part] if part in ("*", "**") else part
                        for part in m.group(2).split("/"))

    return re.sub(r"\{([\w.]+)=([^}]+)\}", fill, uri)


@pytest.mark.parametrize("service,rpc", [(s, r) for s, rpcs in IMPLEMENTED.items() for r in rpcs])
def test_routes_cover_the_client_paths(service, rpc):
    """Every path the aiplatform_v1 REST transport uses for an implemented RPC has a route."""
    import importlib

    from mlcloud.infra.vertex import routes

    mod = importlib.import_module(f"google.cloud.aiplatform_v1.services.{service}.transports.rest_base")
    transport = next(getattr(mod, n) for n in dir(mod) if n.endswith("RestTransport"))
    options = getattr(transport, f"_Base{rpc}")._get_http_options()
    for opt in [o for o in options if "publishers/" not in o["uri"]]:  # Model Garden: not emulated
        path = _sample(opt["uri"])
        route, params, _ = routes.match(opt["method"].upper(), path)
        assert route is not None, f"{rpc}: no route for {opt['method'].upper()} {path}"


@pytest.mark.parametrize("rpc", ["GetOperation", "WaitOperation", "ListOperations"])
def test_routes_cover_operation_paths(rpc):
    from google.cloud.aiplatform_v1.services.endpoint_service.transports import rest_base

    from mlcloud.infra.vertex import routes

    options = getattr(rest_base._BaseEndpointServiceRestTransport, f"_Base{rpc}")._get_http_options()
    wanted = [o for o in options if re.search(r"locations/\*(/(models|endpoints)/\*)?(/operations/\*)?\}", o["uri"])]
    assert len(wanted) >= 4
    for opt in wanted:
        path = _sample(opt["uri"])
        assert routes.match(opt["method"].upper(), path)[0] is not None, path
