"""The emulator's REST surface: one route table, request parsing and response shaping.

Paths are those of ``google.cloud.aiplatform_v1`` REST transports (``rest_base.py``); request
bodies are parsed with the v1 request messages (unknown fields ignored, path-bound fields taken
from the path), responses are the JSON mapping of v1 messages kept by the backend.

Implemented (v1; operations also under ``/ui/``, where the REST clients poll them):

    POST   {parent}/models:upload                     ModelService.UploadModel (LRO)
    GET    {name=models/*}                            ModelService.GetModel (ID, ID@VERSION, ID@ALIAS)
    GET    {parent}/models                            ModelService.ListModels (default versions)
    GET    {name=models/*}:listVersions               ModelService.ListModelVersions
    POST   {name=models/*}:mergeVersionAliases        ModelService.MergeVersionAliases
    DELETE {name=models/*}                            ModelService.DeleteModel (LRO); with @V: DeleteModelVersion
    DELETE {name=models/*}:deleteVersion              ModelService.DeleteModelVersion (LRO)
    POST   {parent}/endpoints?endpointId=             EndpointService.CreateEndpoint (LRO)
    GET    {name=endpoints/*}                         EndpointService.GetEndpoint
    GET    {parent}/endpoints                         EndpointService.ListEndpoints
    PATCH  {endpoint.name=endpoints/*}?updateMask=    EndpointService.UpdateEndpoint
    DELETE {name=endpoints/*}                         EndpointService.DeleteEndpoint (LRO)
    POST   {endpoint=endpoints/*}:deployModel         EndpointService.DeployModel (LRO, background load)
    POST   {endpoint=endpoints/*}:undeployModel       EndpointService.UndeployModel (LRO)
    POST   {endpoint=endpoints/*}:predict             PredictionService.Predict
    GET    {name=**/operations/*}                     Operations.GetOperation
    POST   {name=**/operations/*}:wait                Operations.WaitOperation
    GET    {name=**}/operations                       Operations.ListOperations
    GET    /_emulator/health, POST /_emulator/reset   private

List filters: ``display_name="..."`` and ``labels.KEY="..."`` joined with AND.
Not implemented: model update (PATCH), export/copy, evaluations, UpdateEndpointLongRunning,
MutateDeployedModel, rawPredict/explain/streaming, operation cancel/delete, IAM, locations.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from google.cloud import aiplatform_v1 as v1
from google.protobuf import json_format

from .backend import VertexBackend
from .errors import InvalidArgument

P = r"projects/[^/]+/locations/[^/]+"
ID = r"[^/:]+"
OPS = rf"(?:v1|ui)/(?P<name>{P}(?:/(?:models|endpoints)/{ID})?/operations/[^/:]+)"


@dataclass
class Call:
    params: dict[str, str]
    query: dict[str, str]
    text: str

    def q(self, camel: str, default: str = "") -> str:
        snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
        return self.query.get(camel, self.query.get(snake, default))

    def json(self) -> dict:
        try:
            body = json.loads(self.text or "{}")
        except ValueError as e:
            raise InvalidArgument(f"Invalid JSON payload: {e}") from None
        if not isinstance(body, dict):
            raise InvalidArgument("The request body must be a JSON object.")
        return body

    def message(self, cls):
        """The body parsed as a v1 message; unknown fields are ignored."""
        try:
            return cls.from_json(json.dumps(self.json()), ignore_unknown_fields=True)
        except json_format.ParseError as e:
            raise InvalidArgument(f"Invalid {cls.__name__}: {e}") from None

    def paging(self) -> dict:
        try:
            size = int(self.q("pageSize", "0") or 0)
        except ValueError:
            raise InvalidArgument("pageSize must be an integer.") from None
        return {"flt": self.q("filter"), "page_size": size, "page_token": self.q("pageToken")}


Handler = Callable[[VertexBackend, Call], Any]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern
    handler: Handler


def _deploy(b: VertexBackend, c: Call):
    req = c.message(v1.DeployModelRequest)
    return b.deploy_model(c.params["endpoint"], req.deployed_model, dict(req.traffic_split))


def _undeploy(b: VertexBackend, c: Call):
    req = c.message(v1.UndeployModelRequest)
    return b.undeploy_model(c.params["endpoint"], req.deployed_model_id, dict(req.traffic_split))


def _update_endpoint(b: VertexBackend, c: Call):
    ep = c.message(v1.Endpoint)
    ep.name = c.params["name"]
    return b.update_endpoint(ep, [p.strip() for p in c.q("updateMask").split(",") if p.strip()])


def _predict(b: VertexBackend, c: Call):
    c.message(v1.PredictRequest)  # shape check; instances are then passed on as sent (ints stay ints)
    body = c.json()
    if not isinstance(body.get("instances"), list):
        raise InvalidArgument("instances must be a list.")
    return b.predict(c.params["endpoint"], body["instances"], body.get("parameters"))


def _wait(b: VertexBackend, c: Call):
    raw = c.q("timeout", "")
    try:
        seconds = float(raw.rstrip("s")) if raw else 60.0
    except ValueError:
        raise InvalidArgument(f"Invalid timeout {raw!r}.") from None
    return b.ops.wait(c.params["name"], min(max(seconds, 0.0), 60.0))


def _reset(b: VertexBackend, c: Call):
    b.reset()
    return {"status": "reset"}


def _routes(*rows: tuple[str, str, Handler]) -> list[Route]:
    return [Route(m, re.compile(p), h) for m, p, h in rows]


ROUTES = _routes(
    ("POST", rf"/v1/(?P<parent>{P})/models:upload",
     lambda b, c: b.upload_model(c.params["parent"], c.message(v1.UploadModelRequest))),
    ("GET", rf"/v1/(?P<parent>{P})/models", lambda b, c: b.list_models(c.params["parent"], **c.paging())),
    ("GET", rf"/v1/(?P<name>{P}/models/{ID})", lambda b, c: b.get_model(c.params["name"])),
    ("GET", rf"/v1/(?P<name>{P}/models/{ID}):listVersions",
     lambda b, c: b.list_versions(c.params["name"], **c.paging())),
    ("POST", rf"/v1/(?P<name>{P}/models/{ID}):mergeVersionAliases",
     lambda b, c: b.merge_version_aliases(c.params["name"], list(c.message(v1.MergeVersionAliasesRequest).version_aliases))),
    ("DELETE", rf"/v1/(?P<name>{P}/models/[^/:@]+)", lambda b, c: b.delete_model(c.params["name"])),
    ("DELETE", rf"/v1/(?P<name>{P}/models/[^/:@]+@[^/:@]+)", lambda b, c: b.delete_version(c.params["name"])),
    ("DELETE", rf"/v1/(?P<name>{P}/models/{ID}):deleteVersion", lambda b, c: b.delete_version(c.params["name"])),
    ("POST", rf"/v1/(?P<parent>{P})/endpoints",
     lambda b, c: b.create_endpoint(c.params["parent"], c.message(v1.Endpoint), c.q("endpointId"))),
    ("GET", rf"/v1/(?P<parent>{P})/endpoints", lambda b, c: b.list_endpoints(c.params["parent"], **c.paging())),
    ("GET", rf"/v1/(?P<name>{P}/endpoints/{ID})", lambda b, c: b.get_endpoint(c.params["name"])),
    ("PATCH", rf"/v1/(?P<name>{P}/endpoints/{ID})", _update_endpoint),
    ("DELETE", rf"/v1/(?P<name>{P}/endpoints/{ID})", lambda b, c: b.delete_endpoint(c.params["name"])),
    ("POST", rf"/v1/(?P<endpoint>{P}/endpoints/{ID}):deployModel", _deploy),
    ("POST", rf"/v1/(?P<endpoint>{P}/endpoints/{ID}):undeployModel", _undeploy),
    ("POST", rf"/v1/(?P<endpoint>{P}/endpoints/{ID}):predict", _predict),
    ("GET", rf"/{OPS}", lambda b, c: b.ops.get(c.params["name"])),
    ("POST", rf"/{OPS}:wait", _wait),
    ("GET", rf"/(?:v1|ui)/(?P<name>{P}(?:/(?:models|endpoints)/{ID})?)/operations",
     lambda b, c: {"operations": b.ops.list(c.params["name"]), "nextPageToken": ""}),
    ("GET", r"/_emulator/health", lambda b, c: {"status": "ok"}),
    ("POST", r"/_emulator/reset", _reset),
)


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """The route for a request, its path parameters, and whether the path exists for another method."""
    other = False
    for route in ROUTES:
        m = route.pattern.fullmatch(path)
        if m:
            if route.method == method:
                return route, m.groupdict(), True
            other = True
    return None, {}, other
