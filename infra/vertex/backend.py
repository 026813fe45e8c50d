"""State and rules of the Vertex AI emulator: models and their versions, endpoints, deployments.

No HTTP here: methods take aiplatform v1 request messages (or plain values) and return resource
JSON dicts or operation dicts; refusals raise the typed errors of ``errors``. Every mutation
holds ``lock`` and ends with an atomic save of the state file (see ``state``).

Long-running work: DeployModel resolves and validates synchronously, then a background thread
fetches, verifies and loads the artifact; only once it is loaded does the endpoint change and the
operation become done. A failure marks the operation done with ``error`` and changes nothing.
At start-up, operations left pending by a previous process are failed (ABORTED) and the deployed
models of every endpoint are reloaded in the background.
"""

from __future__ import annotations

import copy
import logging
import random
import threading
import uuid
from pathlib import Path

from google.cloud import aiplatform_v1 as v1
from google.protobuf import empty_pb2, json_format

from . import state as st
from . import traffic
from .errors import Aborted, AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, VertexError
from .operations import Operations, now, timestamp, to_dict, to_pb
from .runtime import Runtime

log = logging.getLogger("mlcloud.infra.vertex")

DEFAULT = "default"
PREDICT_WAIT = 20.0  # seconds a predict waits for a model that is still loading, then UNAVAILABLE


def _etag() -> str:
    return uuid.uuid4().hex[:16]


def _touch(ep: dict) -> None:
    """Mark an endpoint changed: a new updateTime and etag (read-modify-write checks it)."""
    ep["updateTime"] = timestamp(now())
    ep["etag"] = _etag()


def _split_name(name: str) -> tuple[str, str | None]:
    base, _, spec = name.partition("@")
    return base, (spec or None)


class VertexBackend:
    def __init__(self, data_dir: Path, runtime: Runtime, seed: int | None = None):
        self.lock = threading.RLock()
        self.file = st.StateFile(data_dir)
        self.runtime = runtime
        self.rng = random.Random(seed)
        self._generation = 0
        self._set_state(self.file.load())

    def _set_state(self, state: dict) -> None:
        self.state = state
        self.ops = Operations(state["operations"], lambda: self._next("operation"), self.lock)

    def _next(self, kind: str) -> int:
        n = self.state["next"][kind]
        self.state["next"][kind] = n + 1
        return n

    def _new_name(self, parent: str, collection: str, given: str, rule, field: str,
                  taken: str) -> str:
        """A new resource name: the client-chosen id (checked, refused if taken) or the next
        free number."""
        kind = collection.rstrip("s")
        if given:
            name = f"{parent}/{collection}/{st.check_id(given, rule, field)}"
            if name in self.state[collection]:
                raise AlreadyExists(taken.format(name=name))
            return name
        name = f"{parent}/{collection}/{self._next(kind)}"
        while name in self.state[collection]:
            name = f"{parent}/{collection}/{self._next(kind)}"
        return name

    def _save(self) -> None:
        self.file.save(self.state)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        with self.lock:
            for name in self.ops.pending():
                self.ops.fail(name, Aborted("The emulator restarted before the operation finished; retry it."))
            self._save()
            for ep in self.state["endpoints"].values():
                for dm in ep.get("deployedModels", []):
                    version = self._version(dm["model"], dm["modelVersionId"])
                    self.runtime.load_in_background(dm["id"], version.get("artifactUri", ""))

    def reset(self) -> None:
        with self.lock:
            self._generation += 1
            self.runtime.clear()
            self._set_state(st.empty())
            self._save()

    # -- models ------------------------------------------------------------------------------
    def _entry(self, base: str) -> dict:
        entry = self.state["models"].get(base)
        if entry is None:
            raise NotFound(f"Model {base} is not found.")
        return entry

    def _resolve(self, name: str) -> tuple[str, str]:
        """``models/ID``, ``models/ID@VERSION`` or ``models/ID@ALIAS`` -> (base name, version id)."""
        base, spec = _split_name(name)
        versions = self._entry(base)["versions"]
        spec = spec or DEFAULT
        if spec in versions:
            return base, spec
        for vid, m in versions.items():
            if spec in m.get("versionAliases", []):
                return base, vid
        raise NotFound(f"Model {name} is not found: no version or alias {spec!r} "
                       f"(versions: {', '.join(versions)}).")

    def _version(self, base: str, vid: str) -> dict:
        return self._entry(base)["versions"][vid]

    def _deployed_refs(self, base: str, vid: str) -> list[dict]:
        return [{"endpoint": ep_name, "deployedModelId": dm["id"]}
                for ep_name, ep in self.state["endpoints"].items()
                for dm in ep.get("deployedModels", [])
                if dm["model"] == base and dm["modelVersionId"] == vid]

    def _render(self, base: str, vid: str) -> dict:
        out = copy.deepcopy(self._version(base, vid))
        refs = self._deployed_refs(base, vid)
        if refs:
            out["deployedModels"] = refs
        return out

    def upload_model(self, parent: str, req: v1.UploadModelRequest) -> dict:
        model = req.model
        if not model.display_name:
            raise InvalidArgument("Model.display_name is required.")
        aliases = list(dict.fromkeys(st.check_alias(a) for a in model.version_aliases))
        with self.lock:
            if req.parent_model:
                base = _split_name(req.parent_model)[0]
                if not base.startswith(parent + "/models/"):
                    raise InvalidArgument(f"parent_model {req.parent_model} is not under {parent}.")
                if req.model_id and base != f"{parent}/models/{req.model_id}":
                    raise InvalidArgument("model_id and parent_model name different models.")
                entry = self._entry(base)
            else:
                base = self._new_name(parent, "models", req.model_id, st.MODEL_ID, "model_id",
                                      "Model {name} already exists; pass parent_model to add a version.")
                entry = {"nextVersion": 1, "versions": {}}
            vid = str(entry["nextVersion"])
            t = now()
            first = next(iter(entry["versions"].values()), None)
            model.name, model.version_id = base, vid
            model.update_time = model.version_create_time = model.version_update_time = t
            if not entry["versions"] and DEFAULT not in aliases:
                aliases.insert(0, DEFAULT)
            model.version_aliases = []
            del model.deployed_models[:]
            entry["nextVersion"] += 1
            entry["versions"][vid] = to_dict(model)
            if first:  # createTime is the model's, shared by its versions
                entry["versions"][vid]["createTime"] = first["createTime"]
            else:
                entry["versions"][vid]["createTime"] = timestamp(t)
            self.state["models"][base] = entry
            self._set_aliases(base, vid, add=aliases, remove=[])
            op = self.ops.start(base, v1.UploadModelOperationMetadata)
            self.ops.finish(op, v1.UploadModelResponse(model=base, model_version_id=vid))
            self._save()
            return self.ops.get(op)

    def _set_aliases(self, base: str, vid: str, add: list[str], remove: list[str]) -> None:
        versions = self._entry(base)["versions"]
        for other_vid, other in versions.items():  # an alias names one version of a model
            if other_vid != vid and set(add) & set(other.get("versionAliases", [])):
                other["versionAliases"] = [a for a in other["versionAliases"] if a not in add]
                other["versionUpdateTime"] = timestamp(now())
        mine = versions[vid]
        kept = [a for a in mine.get("versionAliases", []) if a not in remove]
        mine["versionAliases"] = kept + [a for a in add if a not in kept]
        mine["versionUpdateTime"] = timestamp(now())
        for m in versions.values():
            if not m.get("versionAliases", True):
                del m["versionAliases"]

    def get_model(self, name: str) -> dict:
        with self.lock:
            return self._render(*self._resolve(name))

    def list_models(self, parent: str, flt: str = "", page_size: int = 0, page_token: str = "") -> dict:
        clauses = st.parse_filter(flt)
        with self.lock:
            items = [self._render(*self._resolve(base)) for base in self.state["models"]
                     if base.startswith(parent + "/models/")]
        chunk, token = st.page([m for m in items if st.matches(m, clauses)], page_size, page_token)
        return {"models": chunk, "nextPageToken": token}

    def list_versions(self, name: str, flt: str = "", page_size: int = 0, page_token: str = "") -> dict:
        clauses = st.parse_filter(flt)
        base, spec = _split_name(name)
        if spec:
            raise InvalidArgument(f"ListModelVersions takes a model name without a version: {name}.")
        with self.lock:
            items = [self._render(base, vid) for vid in sorted(self._entry(base)["versions"], key=int)]
        chunk, token = st.page([m for m in items if st.matches(m, clauses)], page_size, page_token)
        return {"models": chunk, "nextPageToken": token}

    def merge_version_aliases(self, name: str, aliases: list[str]) -> dict:
        add = [st.check_alias(a) for a in aliases if not a.startswith("-")]
        remove = [st.check_alias(a[1:]) for a in aliases if a.startswith("-")]
        if set(add) & set(remove):
            raise InvalidArgument(f"Aliases {sorted(set(add) & set(remove))} are both added and removed.")
        if DEFAULT in remove:
            raise InvalidArgument("The 'default' alias cannot be removed; add it to another version instead.")
        with self.lock:
            base, vid = self._resolve(name)
            self._set_aliases(base, vid, add=add, remove=remove)
            self._save()
            return self._render(base, vid)

    def delete_model(self, name: str) -> dict:
        base, spec = _split_name(name)
        if spec:
            raise InvalidArgument(f"DeleteModel takes a model name without a version: {name}; use DeleteModelVersion.")
        with self.lock:
            entry = self._entry(base)
            deployed = [r for vid in entry["versions"] for r in self._deployed_refs(base, vid)]
            if deployed:
                raise FailedPrecondition(
                    f"Model {base} has deployed versions ({', '.join(r['endpoint'] + ' deployed model ' + r['deployedModelId'] for r in deployed)}); undeploy them first.")
            del self.state["models"][base]
            return self._done(base, v1.DeleteOperationMetadata, empty_pb2.Empty())

    def delete_version(self, name: str) -> dict:
        with self.lock:
            base, vid = self._resolve(name)
            if _split_name(name)[1] is None:
                raise InvalidArgument(f"DeleteModelVersion needs a version: {name}@VERSION.")
            if self._deployed_refs(base, vid):
                raise FailedPrecondition(f"Version {vid} of model {base} is deployed; undeploy it first.")
            if DEFAULT in self._version(base, vid).get("versionAliases", []):
                raise FailedPrecondition(
                    f"Version {vid} is the default version of model {base}: make another version the "
                    "default, or delete the whole model.")
            del self._entry(base)["versions"][vid]
            return self._done(base, v1.DeleteOperationMetadata, empty_pb2.Empty())

    def _done(self, resource: str, metadata_cls, response) -> dict:
        op = self.ops.start(resource, metadata_cls)
        self.ops.finish(op, response)
        self._save()
        return self.ops.get(op)

    # -- endpoints ---------------------------------------------------------------------------
    def _endpoint(self, name: str) -> dict:
        ep = self.state["endpoints"].get(name)
        if ep is None:
            raise NotFound(f"Endpoint {name} is not found.")
        return ep

    def create_endpoint(self, parent: str, endpoint: v1.Endpoint, endpoint_id: str = "") -> dict:
        if not endpoint.display_name:
            raise InvalidArgument("Endpoint.display_name is required.")
        with self.lock:
            name = self._new_name(parent, "endpoints", endpoint_id, st.ENDPOINT_ID, "endpoint_id",
                                  "Endpoint {name} already exists.")
            endpoint.name = name
            endpoint.create_time = endpoint.update_time = now()
            endpoint.etag = _etag()
            del endpoint.deployed_models[:]
            endpoint.traffic_split.clear()
            self.state["endpoints"][name] = to_dict(endpoint)
            return self._done(name, v1.CreateEndpointOperationMetadata, endpoint)

    def get_endpoint(self, name: str) -> dict:
        with self.lock:
            return self._show(self._endpoint(name))

    def _show(self, ep: dict) -> dict:
        """An endpoint as returned: each deployed model with its ``status`` (replicas ready)."""
        out = copy.deepcopy(ep)
        for dm in out.get("deployedModels", []):
            dm["status"] = self._health(dm["id"])
        return out

    def _health(self, dm_id: str) -> dict:
        try:
            self.runtime.get(dm_id, 0)
        except VertexError as e:
            return {"message": e.message, "availableReplicaCount": 0}
        return {"message": "ready", "availableReplicaCount": 1}

    def list_endpoints(self, parent: str, flt: str = "", page_size: int = 0, page_token: str = "") -> dict:
        clauses = st.parse_filter(flt)
        with self.lock:
            items = [self._show(ep) for n, ep in self.state["endpoints"].items() if n.startswith(parent + "/endpoints/")]
        chunk, token = st.page([e for e in items if st.matches(e, clauses)], page_size, page_token)
        return {"endpoints": chunk, "nextPageToken": token}

    def delete_endpoint(self, name: str) -> dict:
        with self.lock:
            ep = self._endpoint(name)
            if ep.get("deployedModels"):
                ids = ", ".join(dm["id"] for dm in ep["deployedModels"])
                raise FailedPrecondition(f"Endpoint {name} has deployed models ({ids}); undeploy them first.")
            del self.state["endpoints"][name]
            return self._done(name, v1.DeleteOperationMetadata, empty_pb2.Empty())

    UPDATABLE = {"display_name": "displayName", "description": "description", "labels": "labels",
                 "traffic_split": "trafficSplit"}

    def update_endpoint(self, endpoint: v1.Endpoint, mask: list[str]) -> dict:
        camel = {v: k for k, v in self.UPDATABLE.items()}
        fields = [camel.get(p, p) for p in mask]
        if not fields:
            raise InvalidArgument("update_mask is required.")
        unknown = [f for f in fields if f not in self.UPDATABLE]
        if unknown:
            raise InvalidArgument(f"update_mask fields {unknown} cannot be updated (allowed: {sorted(self.UPDATABLE)}).")
        if "display_name" in fields and not endpoint.display_name:
            raise InvalidArgument("Endpoint.display_name cannot be empty.")
        new = to_dict(endpoint)
        with self.lock:
            ep = self._endpoint(endpoint.name)
            if endpoint.etag and endpoint.etag != ep.get("etag"):
                raise Aborted(f"Endpoint {endpoint.name} was changed after it was read (etag "
                              f"{endpoint.etag} is not the current {ep.get('etag')}); read it again.")
            if "traffic_split" in fields:
                ids = {dm["id"] for dm in ep.get("deployedModels", [])}
                traffic.validate(dict(endpoint.traffic_split), ids)
            for f in fields:
                key = self.UPDATABLE[f]
                if key in new:
                    ep[key] = new[key]
                else:
                    ep.pop(key, None)
            _touch(ep)
            self._save()
            return self._show(ep)

    # -- deployments -------------------------------------------------------------------------
    def deploy_model(self, endpoint: str, dm: v1.DeployedModel, split: dict[str, int]) -> dict:
        if not dm.model:
            raise InvalidArgument("DeployedModel.model is required.")
        with self.lock:
            ep = self._endpoint(endpoint)
            base, vid = self._resolve(dm.model)
            deployed = [d["id"] for d in ep.get("deployedModels", [])]
            traffic.for_deploy(ep.get("trafficSplit", {}), deployed, split)  # refused now if invalid
            dm.id = str(self._next("deployed"))
            dm.model, dm.model_version_id = base, vid
            dm.display_name = dm.display_name or self._version(base, vid)["displayName"]
            version = self._version(base, vid)
            uri = version.get("artifactUri", "")
            image = version.get("containerSpec", {}).get("imageUri", "")
            op = self.ops.start(endpoint, v1.DeployModelOperationMetadata)
            self._save()
            generation = self._generation
        threading.Thread(target=self._finish_deploy,
                         args=(generation, op, endpoint, dm, split, uri, image),
                         name=f"vertex-deploy-{dm.id}", daemon=True).start()
        return self.ops.get(op)

    def _finish_deploy(self, generation, op, endpoint, dm, split, uri, image="") -> None:
        try:
            self.runtime.check_image(uri, image)
            predictor = self.runtime.fetch(uri)
        except VertexError as e:
            predictor, error = None, e
        else:
            error = None
        with self.lock:
            if generation != self._generation:
                return  # reset meanwhile: the operation is gone
            try:
                if error:
                    raise error
                ep = self._endpoint(endpoint)
                deployed = [d["id"] for d in ep.get("deployedModels", [])]
                if set(split) - {traffic.NEW} - set(deployed):
                    raise Aborted(f"Endpoint {endpoint} changed while the model was deploying; retry.")
                # an empty split is "not updated": the split as it is now, the new model at 0%
                split = traffic.for_deploy(ep.get("trafficSplit", {}), deployed, split)
                self._entry(dm.model)["versions"][dm.model_version_id]  # still there
                dm.create_time = now()
                self.runtime.install(dm.id, predictor)
                ep.setdefault("deployedModels", []).append(to_dict(dm))
                ep["trafficSplit"] = {(dm.id if k == traffic.NEW else k): v for k, v in split.items()}
                _touch(ep)
                self.ops.finish(op, v1.DeployModelResponse(deployed_model=dm))
            except VertexError as e:
                log.info("deploy %s failed: %s", op, e.message)
                self.ops.fail(op, e)
            except Exception as e:  # noqa: BLE001 - an operation must always end
                log.exception("deploy %s crashed", op)
                self.ops.fail(op, VertexError(f"Deploy failed: {type(e).__name__}: {e}"))
            self._save()

    def undeploy_model(self, endpoint: str, deployed_model_id: str, split: dict[str, int]) -> dict:
        with self.lock:
            ep = self._endpoint(endpoint)
            deployed = [d["id"] for d in ep.get("deployedModels", [])]
            if deployed_model_id not in deployed:
                raise NotFound(f"Deployed model {deployed_model_id} is not found on endpoint {endpoint}.")
            new_split = traffic.for_undeploy(ep.get("trafficSplit", {}), deployed, deployed_model_id, split)
            ep["deployedModels"] = [d for d in ep["deployedModels"] if d["id"] != deployed_model_id]
            if not ep["deployedModels"]:
                del ep["deployedModels"]
            ep["trafficSplit"] = new_split
            if not new_split:
                del ep["trafficSplit"]
            _touch(ep)
            self.runtime.unload(deployed_model_id)
            return self._done(endpoint, v1.UndeployModelOperationMetadata, v1.UndeployModelResponse())

    def predict(self, endpoint: str, instances: list, parameters, wait: float = PREDICT_WAIT) -> dict:
        """Blocking (runs the model): call it from a worker thread."""
        with self.lock:
            ep = self._endpoint(endpoint)
            chosen = traffic.choose(ep.get("trafficSplit", {}), self.rng)
            if chosen is None:
                raise FailedPrecondition(f"Endpoint {endpoint} has no deployed model receiving traffic.")
            dm = next(d for d in ep["deployedModels"] if d["id"] == chosen)
        if not instances:
            raise InvalidArgument("instances must not be empty.")
        result = self.runtime.predict(chosen, instances, parameters, wait)
        resp = v1.PredictResponse(deployed_model_id=chosen, model=dm["model"],
                                  model_version_id=dm["modelVersionId"], model_display_name=dm.get("displayName", ""))
        pb = to_pb(resp)
        for p in result["predictions"]:
            json_format.ParseDict(p, pb.predictions.add())
        if result.get("metadata"):  # e.g. warnings about NaN outputs sent as null
            json_format.ParseDict(result["metadata"], pb.metadata)
        return json_format.MessageToDict(pb)
