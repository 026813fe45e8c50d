"""Deploy a stored version: register it in the Vertex AI Model Registry, make sure the model's
endpoint exists, deploy the version there with 100% of the traffic and make it the default.

Re-running converges: a version already registered is reused, an endpoint already there is used,
a version already serving all traffic is left alone. A failed deploy removes what it created.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from mlcloud.deploy import containers
from mlcloud.deploy.errors import (
    IntegrityError,
    MlcloudError,
    RuntimeMismatch,
    UserError,
)
from mlcloud.deploy.manifest import ARTIFACT
from mlcloud.deploy.target import Target
from mlcloud.deploy.versions import complete, list_versions, read_manifest
from mlcloud.deploy.vertex import Tick

LOCAL_IMAGE = "mlcloud-local/sklearn:{sklearn}"


@dataclass
class DeployResult:
    name: str
    version: str
    endpoint: str
    deployed_model_id: str
    model: str
    model_version_id: str
    image: str
    status: str  # "deployed" or "unchanged"
    previous_default: str | None
    traffic: dict[str, int]
    message: str
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def version_aliases(vertex, model_id: str) -> tuple[dict[str, str], str | None]:
    """{modelVersionId: mlcloud version} for a registry model, and its default mlcloud version."""
    by_id, default = {}, None
    for m in vertex.list_versions(model_id):
        aliases = [a for a in m.get("versionAliases", []) if a != "default"]
        if aliases:
            by_id[m["versionId"]] = aliases[0]
            if "default" in m.get("versionAliases", []):
                default = aliases[0]
    return by_id, default


def traffic_by_version(endpoint: dict, by_id: dict[str, str]) -> dict[str, int]:
    split = endpoint.get("trafficSplit", {})
    out = {}
    for dm in endpoint.get("deployedModels", []):
        version = by_id.get(dm.get("modelVersionId", ""), dm.get("displayName", dm["id"]))
        out[version] = int(split.get(dm["id"], 0))
    return out


def check_artifact(target: Target, manifest: dict, version_uri: str) -> None:
    """The stored artifact must be the one the manifest describes (size and server-side MD5)."""
    info = target.storage.stat(f"{version_uri}/{ARTIFACT}")
    art = manifest["artifact"]
    if info is None or info.size != art["size"] or (info.md5 and info.md5 != art["md5"]):
        raise IntegrityError(
            f"{version_uri}/{ARTIFACT} does not match its manifest (size or MD5 differ): the stored "
            "bytes were changed; refusing to deploy them. Upload the model again as a new version")


def choose_image(target: Target, manifest: dict, image: str | None) -> tuple[str, list[str]]:
    if image:
        return image, []
    sk = manifest["runtime"]["sklearn"]
    prebuilt = containers.prebuilt_image(sk, target.settings.region)
    if prebuilt:
        return prebuilt, []
    msg = (f"Vertex AI has no prebuilt serving container for scikit-learn {sk} "
           f"(it offers {containers.supported()})")
    if target.settings.local:
        return LOCAL_IMAGE.format(sklearn=sk), [
            f"{msg}: the local emulator serves it with the installed libraries, but the cloud "
            "will need a custom serving image"]
    raise RuntimeMismatch(f"{msg}: retrain with one of those versions, or deploy with a custom "
                          "serving image")


def deploy(target: Target, version: str | None, *, image: str | None = None,
           tick: Tick | None = None) -> DeployResult:
    s = target.settings
    name = s.model_name
    stored = list_versions(target.storage, s.models_uri())
    if version is None:
        vertex = target.vertex
        _, default = version_aliases(vertex, name)
        raise UserError(f"specify --version (available: {', '.join(complete(stored)) or 'none'}; "
                        f"default: {default or 'none'})")
    manifest = read_manifest(target.storage, s.models_uri(), name, version)
    check_artifact(target, manifest, s.version_uri(version))
    image, warnings = choose_image(target, manifest, image)
    vertex = target.vertex
    model_name = vertex.model_name(name)
    by_id, previous_default = version_aliases(vertex, name)
    created: list[str] = []
    try:
        registered = vertex.get_model(f"{model_name}@{version}")
        if registered is None:
            up = vertex.upload_model(
                name, display_name=name, artifact_uri=s.version_uri(version), image=image,
                alias=version, labels={"mlcloud-name": name, "mlcloud-version": version},
                parent_exists=bool(by_id), tick=tick)
            vid = up["modelVersionId"]
            created.append(f"registry version {name}@{version}")
        else:
            vid = registered["versionId"]
        by_id[vid] = version
        endpoint = vertex.get_endpoint(name)
        if endpoint is None:
            endpoint, made = vertex.create_endpoint(name, name, {"mlcloud-name": name}, tick)
            if made:
                created.append(f"endpoint {name}")
        serving = [dm for dm in endpoint.get("deployedModels", []) if dm.get("modelVersionId") == vid
                   and dm.get("model", "").split("@")[0] == model_name]
        split = endpoint.get("trafficSplit", {})
        if serving and int(split.get(serving[0]["id"], 0)) == 100:
            status, dm_id = "unchanged", serving[0]["id"]
        elif serving:
            dm_id, status = serving[0]["id"], "deployed"
            vertex.set_traffic(name, {d["id"]: (100 if d["id"] == dm_id else 0)
                                      for d in endpoint["deployedModels"]})
        else:
            traffic = {"0": 100, **{d["id"]: 0 for d in endpoint.get("deployedModels", [])}}
            dm = vertex.deploy_model(name, f"{model_name}@{vid}", display_name=f"{name}-{version}",
                                     traffic=traffic, tick=tick)
            dm_id, status = dm["id"], "deployed"
        if previous_default != version:
            vertex.merge_aliases(f"{model_name}@{vid}", ["default"])
    except (MlcloudError, KeyboardInterrupt) as e:
        cleaned = _clean_up(vertex, name, model_name, version, created)
        if cleaned and isinstance(e, MlcloudError):
            e.args = (f"{e.args[0]} (cleaned up: {', '.join(cleaned)})",)
        raise
    endpoint = vertex.get_endpoint(name)
    traffic = traffic_by_version(endpoint, by_id)
    if status == "unchanged":
        message = f"{name} {version} is already deployed with 100% of the traffic; nothing changed"
    else:
        message = f"{name}: default {previous_default or 'none'} -> {version} (100% of the traffic)"
    return DeployResult(name, version, endpoint["name"], dm_id, model_name, vid, image, status,
                        previous_default, traffic, message, warnings)


def _clean_up(vertex, name: str, model_name: str, version: str, created: list[str]) -> list[str]:
    cleaned = []
    for what in reversed(created):
        try:
            if what.startswith("endpoint"):
                ep = vertex.get_endpoint(name)
                if ep is not None and not ep.get("deployedModels"):
                    vertex.delete_endpoint(name)
                    cleaned.append(what)
            else:
                versions = vertex.list_versions(name)
                if len(versions) <= 1:
                    vertex.delete_model(model_name)
                else:
                    vertex.delete_model_version(f"{model_name}@{version}")
                cleaned.append(what)
        except MlcloudError:
            pass
    return cleaned
