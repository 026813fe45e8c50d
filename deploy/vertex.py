"""The Vertex AI adapter: the only module that talks to google-cloud-aiplatform.

It uses the ``aiplatform_v1`` REST clients (not the high-level SDK). Local mode points the same
clients at the Vertex emulator with anonymous credentials. Everything above speaks plain dicts in
the REST JSON shape (camelCase field names), so the rest of mlcloud never sees protobuf.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from mlcloud.deploy import retry
from mlcloud.deploy.errors import (
    ConcurrentChange,
    CredentialsMissing,
    EmulatorUnreachable,
    OperationTimeout,
    ServiceError,
    UserError,
)

Tick = Callable[[float], None]  # seconds waited so far
EXISTS = object()  # what _call returns for a 409 when the caller expects that the resource may exist


class VertexRefused(UserError):
    """The service refused a request as invalid or against its rules."""


class Vertex:
    def __init__(self, project: str, region: str, *, endpoint: str | None, credentials,
                 policy: retry.Policy, emulator: bool):
        from google.cloud.aiplatform_v1.services.endpoint_service import EndpointServiceClient
        from google.cloud.aiplatform_v1.services.model_service import ModelServiceClient
        from google.cloud.aiplatform_v1.services.prediction_service import PredictionServiceClient

        opts = {"api_endpoint": endpoint}
        kw = dict(transport="rest", credentials=credentials, client_options=opts)
        self.parent = f"projects/{project}/locations/{region}"
        self.policy = policy
        self.url = endpoint
        self.emulator = emulator
        self.models = ModelServiceClient(**kw)
        self.endpoints = EndpointServiceClient(**kw)
        self.prediction = PredictionServiceClient(**kw)

    @classmethod
    def for_emulator(cls, url: str, project: str, region: str) -> "Vertex":
        from google.auth.credentials import AnonymousCredentials

        return cls(project, region, endpoint=url, credentials=AnonymousCredentials(),
                   policy=retry.LOCAL, emulator=True)

    @classmethod
    def for_gcp(cls, project: str, region: str) -> "Vertex":
        import google.auth
        import google.auth.exceptions

        try:
            credentials, _ = google.auth.default(
                scopes=["https://www.googleapis.com/auth/cloud-platform"])
        except google.auth.exceptions.DefaultCredentialsError as e:
            raise CredentialsMissing() from e
        return cls(project, region, endpoint=f"https://{region}-aiplatform.googleapis.com",
                   credentials=credentials, policy=retry.CLOUD, emulator=False)

    # -- plumbing ----------------------------------------------------------------------------
    def _call(self, fn: Callable[[], Any], what: str, *, missing_ok: bool = False,
              exists_ok: bool = False) -> Any:
        """Run one call; map the client's exceptions onto mlcloud's error tree. With missing_ok
        a 404 returns None; with exists_ok a 409 returns EXISTS."""
        import google.auth.exceptions
        import requests
        from google.api_core import exceptions as gexc

        try:
            return fn()
        except gexc.NotFound as e:
            if missing_ok:
                return None
            raise ServiceError(f"Vertex AI could not {what}: {e.message}") from e
        except (gexc.Conflict, gexc.AlreadyExists) as e:  # REST maps 409 to Conflict
            if isinstance(e, gexc.Aborted) or _status(e) == "ABORTED":  # changed meanwhile by another
                raise ConcurrentChange(f"Vertex AI refused to {what}: {e.message}") from e
            if exists_ok:
                return EXISTS
            raise ServiceError(f"Vertex AI could not {what}: {e.message}") from e
        except (gexc.BadRequest, gexc.FailedPrecondition) as e:  # REST maps every 400 to BadRequest
            raise VertexRefused(f"Vertex AI refused to {what}: {e.message}") from e
        except google.auth.exceptions.GoogleAuthError as e:
            raise CredentialsMissing(str(e).splitlines()[0]) from e
        except (requests.ConnectionError, gexc.RetryError, gexc.ServiceUnavailable) as e:
            if self.emulator:
                raise EmulatorUnreachable("Vertex AI emulator", self.url) from e
            raise ServiceError(f"Vertex AI is not reachable to {what}: {e}") from e
        except gexc.GoogleAPICallError as e:
            raise ServiceError(f"Vertex AI failed to {what}: {e.message}") from e

    @staticmethod
    def _dict(message) -> dict:
        from google.protobuf import json_format

        return json_format.MessageToDict(type(message).pb(message))

    def wait(self, operation, what: str, tick: Tick | None = None) -> Any:
        """Wait for a long-running operation with a bounded timeout, ticking for progress."""
        start, delay = time.monotonic(), 0.1
        while not self._call(operation.done, what):
            waited = time.monotonic() - start
            if waited > self.policy.operation_timeout:
                raise OperationTimeout(what, self.policy.operation_timeout)
            if tick:
                tick(waited)
            time.sleep(delay)
            delay = min(delay * 1.5, 5.0)
        return self._call(lambda: operation.result(timeout=self.policy.timeout), what)

    # -- models ------------------------------------------------------------------------------
    def model_name(self, model_id: str) -> str:
        return f"{self.parent}/models/{model_id}"

    def get_model(self, name: str) -> dict | None:
        """A model version by resource name (``.../models/ID``, ``@VERSION_ID`` or ``@ALIAS``)."""
        m = self._call(lambda: self.models.get_model(name=name, timeout=self.policy.timeout),
                       f"get model {name}", missing_ok=True)
        return self._dict(m) if m is not None else None

    def list_versions(self, model_id: str) -> list[dict]:
        name = self.model_name(model_id)
        pager = self._call(lambda: self.models.list_model_versions(
            name=name, timeout=self.policy.timeout), f"list versions of {name}", missing_ok=True)
        return [self._dict(m) for m in pager] if pager is not None else []

    def upload_model(self, model_id: str, *, display_name: str, artifact_uri: str, image: str,
                     alias: str, labels: dict[str, str], parent_exists: bool,
                     tick: Tick | None = None) -> dict:
        """Register a model version; a new model named ``model_id``, or a new version of it."""
        from google.cloud import aiplatform_v1 as v1

        model = v1.Model(display_name=display_name, artifact_uri=artifact_uri,
                         container_spec=v1.ModelContainerSpec(image_uri=image),
                         version_aliases=[alias], labels=labels)
        req = v1.UploadModelRequest(parent=self.parent, model=model)
        if parent_exists:
            req.parent_model = self.model_name(model_id)
        else:
            req.model_id = model_id
        what = f"register {display_name} {alias}"
        op = self._call(lambda: self.models.upload_model(request=req, timeout=self.policy.timeout), what)
        result = self.wait(op, what, tick)
        return {"model": result.model, "modelVersionId": result.model_version_id}

    def merge_aliases(self, name_at_version: str, aliases: list[str]) -> dict:
        m = self._call(lambda: self.models.merge_version_aliases(
            name=name_at_version, version_aliases=aliases, timeout=self.policy.timeout),
            f"set aliases {aliases} on {name_at_version}")
        return self._dict(m)

    def delete_model_version(self, name_at_version: str) -> None:
        op = self._call(lambda: self.models.delete_model_version(
            name=name_at_version, timeout=self.policy.timeout),
            f"delete {name_at_version}", missing_ok=True)
        if op is not None:
            self.wait(op, f"delete {name_at_version}")

    def delete_model(self, name: str) -> None:
        op = self._call(lambda: self.models.delete_model(name=name, timeout=self.policy.timeout),
                        f"delete {name}", missing_ok=True)
        if op is not None:
            self.wait(op, f"delete {name}")

    # -- endpoints ---------------------------------------------------------------------------
    def endpoint_name(self, endpoint_id: str) -> str:
        return f"{self.parent}/endpoints/{endpoint_id}"

    def get_endpoint(self, endpoint_id: str) -> dict | None:
        name = self.endpoint_name(endpoint_id)
        e = self._call(lambda: self.endpoints.get_endpoint(name=name, timeout=self.policy.timeout),
                       f"get endpoint {name}", missing_ok=True)
        return self._dict(e) if e is not None else None

    def create_endpoint(self, endpoint_id: str, display_name: str, labels: dict[str, str],
                        tick: Tick | None = None) -> tuple[dict, bool]:
        """Create the endpoint; (endpoint, created). Another creator winning the race is fine."""
        from google.cloud import aiplatform_v1 as v1

        what = f"create endpoint {endpoint_id}"
        op = self._call(lambda: self.endpoints.create_endpoint(
            parent=self.parent, endpoint_id=endpoint_id,
            endpoint=v1.Endpoint(display_name=display_name, labels=labels),
            timeout=self.policy.timeout), what, exists_ok=True)
        if op is EXISTS:
            return self.get_endpoint(endpoint_id), False
        self.wait(op, what, tick)
        return self.get_endpoint(endpoint_id), True

    def delete_endpoint(self, endpoint_id: str) -> None:
        name = self.endpoint_name(endpoint_id)
        op = self._call(lambda: self.endpoints.delete_endpoint(name=name, timeout=self.policy.timeout),
                        f"delete endpoint {name}", missing_ok=True)
        if op is not None:
            self.wait(op, f"delete endpoint {name}")

    def deploy_model(self, endpoint_id: str, model_at_version: str, *, display_name: str,
                     traffic: dict[str, int], tick: Tick | None = None) -> dict:
        """Deploy a model version; ``traffic`` uses key "0" for the version being deployed."""
        from google.cloud import aiplatform_v1 as v1

        deployed = v1.DeployedModel(
            model=model_at_version, display_name=display_name,
            dedicated_resources=v1.DedicatedResources(
                machine_spec=v1.MachineSpec(machine_type="n1-standard-2"),
                min_replica_count=1, max_replica_count=1))
        what = f"deploy {display_name}"
        op = self._call(lambda: self.endpoints.deploy_model(
            endpoint=self.endpoint_name(endpoint_id), deployed_model=deployed,
            traffic_split=traffic, timeout=self.policy.timeout), what)
        result = self.wait(op, what, tick)
        return self._dict(result.deployed_model)

    def set_traffic(self, endpoint_id: str, traffic: dict[str, int], etag: str = "") -> dict:
        """Replace the endpoint's split; with ``etag`` only if nobody changed it since it was read."""
        from google.cloud import aiplatform_v1 as v1
        from google.protobuf import field_mask_pb2

        endpoint = v1.Endpoint(name=self.endpoint_name(endpoint_id), traffic_split=traffic, etag=etag)
        e = self._call(lambda: self.endpoints.update_endpoint(
            endpoint=endpoint, update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]),
            timeout=self.policy.timeout), f"set traffic on {endpoint_id}")
        return self._dict(e)

    def undeploy_model(self, endpoint_id: str, deployed_model_id: str,
                       traffic: dict[str, int] | None = None, tick: Tick | None = None) -> bool:
        """Undeploy one deployed model; ``traffic`` is the split of the models that stay. False
        when it was not deployed (any more): undeploying is idempotent."""
        what = f"undeploy deployed model {deployed_model_id} from {endpoint_id}"
        op = self._call(lambda: self.endpoints.undeploy_model(
            endpoint=self.endpoint_name(endpoint_id), deployed_model_id=deployed_model_id,
            traffic_split=traffic or {}, timeout=self.policy.timeout), what, missing_ok=True)
        if op is None:
            return False
        self.wait(op, what, tick)
        return True

    # -- prediction --------------------------------------------------------------------------
    def predict(self, endpoint_id: str, instances: list, parameters: dict | None = None) -> dict:
        from google.protobuf import json_format, struct_pb2

        values = [json_format.ParseDict(i, struct_pb2.Value()) for i in instances]
        params = json_format.ParseDict(parameters, struct_pb2.Value()) if parameters else None
        name = self.endpoint_name(endpoint_id)
        r = self._call(lambda: self.prediction.predict(
            endpoint=name, instances=values, parameters=params, timeout=self.policy.timeout),
            f"predict on {name}")
        return self._dict(r)


def _status(e) -> str:
    """The canonical status (``ABORTED``...) of a REST error, from Google's error envelope."""
    try:
        return e.response.json()["error"]["status"]
    except Exception:  # noqa: BLE001 - no JSON body: no status
        return ""
