"""The Vertex emulator's traffic rules, driven directly with the aiplatform_v1 REST clients on the
session stack: each refusal with its status and message, and the endpoint unchanged after it.

Rules: a split sums to 100; it names deployed models only; the key "0" of a DeployModel split is
the model being deployed (and nothing else); an empty DeployModel split leaves the split as it is
when the deployment finishes; undeploying a model with traffic is refused unless the request moves
its traffic; a stale etag is refused (ABORTED); deployed model ids never change and are never
reused.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1

PARENT = "projects/rules/locations/us-central1"
BUCKET = "mlcloud-rules"


@pytest.fixture
def live(stack, home):
    """The session stack as it runs now (a test before may have restarted it on other ports)."""
    from mlcloud.infra import stack as stk

    return stk.ensure(home)[0]


@pytest.fixture
def artifact_uri(live, tmp_path_factory) -> str:
    import joblib
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from mlcloud.deploy.storage import Storage

    path = tmp_path_factory.mktemp("rules") / "model.joblib"
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
    joblib.dump(LinearRegression().fit(frame, 2 * frame["x"]), path)
    data = path.read_bytes()
    manifest = {"manifest_version": 1, "name": "rules", "version": "v1",
                "artifact": {"file": "model.joblib", "format": "joblib",
                             "sha256": hashlib.sha256(data).hexdigest(),
                             "md5": base64.b64encode(hashlib.md5(data).digest()).decode(),
                             "size": len(data)},
                "schema": {"columns": "named", "features": [{"name": "x", "kind": "number"}]},
                "task": {"kind": "regression"}}
    store = Storage.for_emulator(live.gcs.url)
    store.ensure_bucket(BUCKET, create=True)
    uri = f"gs://{BUCKET}/models/rules/v1"
    for file, body in (("model.joblib", data), ("mlcloud.json", json.dumps(manifest).encode())):
        if store.stat(f"{uri}/{file}") is None:
            store.create(f"{uri}/{file}", body, size=len(body), content_type="application/octet-stream")
    return uri


@pytest.fixture
def api(live):
    opts = dict(transport="rest", credentials=AnonymousCredentials(),
                client_options={"api_endpoint": live.vertex.url})
    return v1.ModelServiceClient(**opts), v1.EndpointServiceClient(**opts)


@pytest.fixture
def setup(api, artifact_uri, name):
    """A model with a version, an endpoint with two deployed models: a=100%, b=0%."""
    models, endpoints = api
    model_id = name.replace("-", "_")[:60]
    up = models.upload_model(request=v1.UploadModelRequest(parent=PARENT, model_id=model_id, model=v1.Model(
        display_name="rules", artifact_uri=artifact_uri,
        container_spec=v1.ModelContainerSpec(image_uri="x")))).result(timeout=30)
    ep = endpoints.create_endpoint(parent=PARENT, endpoint=v1.Endpoint(display_name="rules"),
                                   endpoint_id=name[:60].strip("-")).result(timeout=30)
    a = _deploy(endpoints, ep.name, up.model, {"0": 100}).id
    b = _deploy(endpoints, ep.name, up.model, {}).id
    return endpoints, ep.name, up.model, a, b


def _deploy(endpoints, endpoint, model, split):
    return endpoints.deploy_model(endpoint=endpoint, deployed_model=v1.DeployedModel(
        model=model, dedicated_resources=v1.DedicatedResources(
            machine_spec=v1.MachineSpec(machine_type="n1-standard-2"), min_replica_count=1)),
        traffic_split=split).result(timeout=60).deployed_model


def _set(endpoints, endpoint, split, etag=""):
    return endpoints.update_endpoint(endpoint=v1.Endpoint(name=endpoint, traffic_split=split, etag=etag),
                                     update_mask={"paths": ["traffic_split"]})


def _state(endpoints, endpoint):
    ep = endpoints.get_endpoint(name=endpoint)
    return dict(ep.traffic_split), [d.id for d in ep.deployed_models], ep.etag


def _refused(exc_info) -> tuple[str, str]:
    error = exc_info.value.response.json()["error"]
    return error["status"], error["message"]


def test_split_must_sum_to_100_and_name_deployed_models(setup):
    endpoints, ep, _, a, b = setup
    before = _state(endpoints, ep)
    assert before[0] == {a: 100, b: 0}
    with pytest.raises(gexc.BadRequest) as e:
        _set(endpoints, ep, {a: 50, b: 40})
    assert _refused(e) == ("INVALID_ARGUMENT", f"trafficSplit values must sum to 100, got 90: {{'{a}': 50, '{b}': 40}}.")
    with pytest.raises(gexc.BadRequest) as e:
        _set(endpoints, ep, {a: 50, "99999": 50})
    assert _refused(e) == ("INVALID_ARGUMENT", "trafficSplit refers to 99999, which is not a deployed model "
                           f"id on this endpoint (deployed: {', '.join(sorted([a, b]))}).")
    with pytest.raises(gexc.BadRequest) as e:  # "0" only means something in DeployModel
        _set(endpoints, ep, {"0": 50, a: 50})
    assert _refused(e)[0] == "INVALID_ARGUMENT" and "trafficSplit refers to 0," in _refused(e)[1]
    assert _state(endpoints, ep) == before


def test_key_zero_is_the_model_being_deployed(setup):
    endpoints, ep, model, a, b = setup
    c = _deploy(endpoints, ep, model, {"0": 10, a: 90}).id
    assert _state(endpoints, ep)[0] == {a: 90, c: 10}  # b, left out, gets 0
    before = _state(endpoints, ep)
    with pytest.raises(gexc.BadRequest) as e:
        _deploy(endpoints, ep, model, {"0": 10, a: 80})
    assert _refused(e) == ("INVALID_ARGUMENT", "trafficSplit values must sum to 100, got 90: "
                           f"{{'0': 10, '{a}': 80}}.")
    assert _state(endpoints, ep) == before


def test_undeploying_a_model_with_traffic_is_refused(setup):
    endpoints, ep, _, a, b = setup
    before = _state(endpoints, ep)
    with pytest.raises(gexc.BadRequest) as e:
        endpoints.undeploy_model(endpoint=ep, deployed_model_id=a).result(timeout=30)
    assert _refused(e) == ("FAILED_PRECONDITION", f"Deployed model {a} receives 100% of the endpoint's "
                           "traffic: pass a trafficSplit that moves its traffic to the other deployed "
                           "models, or update the endpoint's trafficSplit first.")
    with pytest.raises(gexc.BadRequest) as e:
        endpoints.undeploy_model(endpoint=ep, deployed_model_id=a, traffic_split={a: 50, b: 50}).result(timeout=30)
    assert _refused(e) == ("INVALID_ARGUMENT", f"trafficSplit gives 50% to deployed model {a}, which is "
                           "being undeployed.")
    assert _state(endpoints, ep) == before
    endpoints.undeploy_model(endpoint=ep, deployed_model_id=a, traffic_split={b: 100}).result(timeout=30)
    assert _state(endpoints, ep)[:2] == ({b: 100}, [b])


def test_stale_etag_is_refused(setup):
    endpoints, ep, _, a, b = setup
    split, ids, etag = _state(endpoints, ep)
    _set(endpoints, ep, {a: 0, b: 100}, etag)  # the current etag: accepted
    after = _state(endpoints, ep)
    assert after[0] == {a: 0, b: 100} and after[2] != etag
    with pytest.raises(gexc.Conflict) as e:
        _set(endpoints, ep, {a: 100, b: 0}, etag)  # read before the change above
    assert _refused(e) == ("ABORTED", f"Endpoint {ep} was changed after it was read (etag {etag} is not "
                           f"the current {after[2]}); read it again.")
    assert _state(endpoints, ep) == after


def test_empty_deploy_split_keeps_the_split_at_finish(setup, api):
    """A split changed while a model deploys is kept: the new model starts at 0%."""
    endpoints, ep, model, a, b = setup
    op = endpoints.deploy_model(endpoint=ep, deployed_model=v1.DeployedModel(
        model=model, dedicated_resources=v1.DedicatedResources(
            machine_spec=v1.MachineSpec(machine_type="n1-standard-2"), min_replica_count=1)))
    _set(endpoints, ep, {a: 30, b: 70})
    c = op.result(timeout=60).deployed_model.id
    assert _state(endpoints, ep)[0] == {a: 30, b: 70, c: 0}


def test_deployed_model_ids_are_stable_and_never_reused(setup):
    endpoints, ep, model, a, b = setup
    _set(endpoints, ep, {a: 0, b: 100})
    endpoints.undeploy_model(endpoint=ep, deployed_model_id=a).result(timeout=30)
    c = _deploy(endpoints, ep, model, {}).id
    got = endpoints.get_endpoint(name=ep)
    assert [d.id for d in got.deployed_models] == [b, c]
    assert int(c) > int(b) > int(a)
    assert dict(got.traffic_split) == {b: 100, c: 0}
    assert [d.status.available_replica_count for d in got.deployed_models] == [1, 1]
