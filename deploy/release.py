"""Deploy a stored version: register it in the Vertex AI Model Registry, make sure the model's
endpoint exists, deploy the version there and give it its share of the traffic (100% by default,
or a canary share with ``traffic``: the versions already serving keep the rest in their existing
proportions, see ``split.canary``). Versions deployed before stay deployed at 0% so that a
rollback needs no new deployment; ``keep`` undeploys older versions without traffic beyond the
newest N. The version with the largest share is the registry's default.

Steps: DeployModel with an empty split (the service leaves the split as it is: a new version
starts at 0%, or at 100% on an empty endpoint), then one UpdateEndpoint with the etag of a fresh
read (a change made meanwhile by someone else makes it fail instead of being undone), then the
record in the model's history (``history``). Re-running converges: a version already registered
is reused, an endpoint already there is used, a version already deployed is not deployed twice,
and a split already in place is left alone. A failed deploy removes what it created and says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from mlcloud.deploy import containers, endpoint, history, split
from mlcloud.deploy.endpoint import version_aliases  # noqa: F401 - re-exported (prediction)
from mlcloud.deploy.errors import (
    ConcurrentChange,
    IntegrityError,
    InvalidSetting,
    MlcloudError,
    RuntimeMismatch,
    UserError,
)
from mlcloud.deploy.manifest import ARTIFACT
from mlcloud.deploy.target import Target
from mlcloud.deploy.versions import complete, list_versions, read_manifest, sort_key
from mlcloud.deploy.vertex import Tick, VertexRefused

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
    before: dict[str, int] = field(default_factory=dict)
    undeployed: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def traffic_by_version(endpoint_json: dict, by_id: dict[str, str]) -> dict[str, int]:
    split_ = endpoint_json.get("trafficSplit", {})
    out: dict[str, int] = {}
    for dm in endpoint_json.get("deployedModels", []):
        version = by_id.get(dm.get("modelVersionId", ""), dm.get("displayName", dm["id"]))
        out[version] = out.get(version, 0) + int(split_.get(dm["id"], 0))
    return out


def check_artifact(target: Target, manifest: dict, version_uri: str) -> None:
    """The stored artifact must be the one the manifest describes (size and server-side MD5)."""
    art = manifest["artifact"]
    uri = f"{version_uri}/{art.get('file', ARTIFACT)}"
    info = target.storage.stat(uri)
    if info is None or info.size != art["size"] or (info.md5 and info.md5 != art["md5"]):
        raise IntegrityError(
            f"{uri} does not match its manifest (size or MD5 differ): the stored bytes were "
            "changed; refusing to deploy them. Upload the model again as a new version")


def _prebuilt_runtime(manifest: dict) -> containers.Runtime | None:
    """The prebuilt runtime that would serve this version: the one named at upload
    (``--runtime``), else the one for its scikit-learn; None for mlcloud's own image or skops."""
    named = (manifest.get("serving") or {}).get("runtime")
    if named:
        runtime = containers.RUNTIMES.get(named)
        return runtime if runtime is not None and runtime.image else None
    if manifest["artifact"].get("format", "joblib") != "joblib":
        return None
    return containers.prebuilt_for(manifest["runtime"]["sklearn"])


def choose_image(target: Target, manifest: dict, image: str | None) -> tuple[str, list[str]]:
    """The serving image, with the artifact checked again against the runtime it provides (the
    pickle protocol, compression and scikit-learn version upload checked)."""
    from mlcloud.deploy import checks

    if image:
        return image, []
    sk = manifest["runtime"]["sklearn"]
    runtime = _prebuilt_runtime(manifest)
    if runtime is not None:
        info = {"format": manifest["artifact"].get("format", "joblib"),
                "artifact": manifest["artifact"], "runtime": manifest["runtime"]}
        forced = bool((manifest.get("serving") or {}).get("forced"))
        return containers.image_uri(runtime, target.settings.region), \
            checks.check_runtime(info, runtime, force=forced)
    msg = (f"Vertex AI has no prebuilt serving container for scikit-learn {sk} "
           f"(it offers {containers.supported()})")
    route = (f"`mlcloud image --version {manifest.get('version', 'VERSION')}` writes a serving "
             "image with these exact versions and prints its build and push commands; then "
             "deploy with --image URI")
    if target.settings.local:
        return LOCAL_IMAGE.format(sklearn=sk), [
            f"{msg}: the local emulator serves it with the installed libraries, but the cloud "
            f"will need a custom serving image: {route}"]
    raise RuntimeMismatch(f"{msg}: retrain with one of those versions, or deploy with a custom "
                          f"serving image: {route}")


def deploy(target: Target, version: str | None, *, image: str | None = None,
           tick: Tick | None = None, traffic: int | None = None, keep: int | None = 2,
           command: str | None = None) -> DeployResult:
    """Deploy ``version`` with ``traffic`` percent (100 when None); ``keep`` None undeploys nothing."""
    s = target.settings
    name = s.model_name
    if version is None:
        stored = list_versions(target.storage, s.models_uri())
        _, default = version_aliases(target.vertex, name)
        raise UserError(f"specify --version (available: {', '.join(complete(stored)) or 'none'}; "
                        f"default: {default or 'none'})")
    if keep is not None and keep < 1:
        raise InvalidSetting("--keep", keep, "at least the version being deployed stays: use 1 or more")
    share = 100 if traffic is None else traffic
    manifest = read_manifest(target.storage, s.models_uri(), name, version)
    check_artifact(target, manifest, s.version_uri(version))
    image, warnings = choose_image(target, manifest, image)
    vertex = target.vertex
    model_name = vertex.model_name(name)
    last = history.last_seq(target)
    first = endpoint.read(target)
    split.canary(first.shares, version, share)  # refused now, before anything is created
    created: list[tuple[str, str]] = []
    try:
        registered = vertex.get_model(f"{model_name}@{version}")
        if registered is None:
            up = vertex.upload_model(
                name, display_name=name, artifact_uri=s.version_uri(version), image=image,
                alias=version, labels={"mlcloud-name": name, "mlcloud-version": version},
                parent_exists=bool(first.by_id), tick=tick)
            vid = up["modelVersionId"]
            created.append(("version", vid))
        else:
            vid = registered["versionId"]
        if first.endpoint is None:
            _, made = vertex.create_endpoint(name, name, {"mlcloud-name": name}, tick)
            if made:
                created.append(("endpoint", name))
        if not any(d.model_version_id == vid for d in first.deployed):
            vertex.deploy_model(name, f"{model_name}@{vid}", display_name=f"{name}-{version}",
                                traffic={}, tick=tick)  # empty: the split is left as it is
    except (MlcloudError, KeyboardInterrupt) as e:
        cleaned = _clean_up(vertex, name, model_name, vid if created and created[0][0] == "version"
                            else None, version, created)
        if cleaned and isinstance(e, MlcloudError):
            e.args = (f"{e.args[0]} (cleaned up: {', '.join(cleaned)})",)
        raise
    snap = endpoint.read(target)
    wanted = split.canary(snap.shares, version, share)
    if snap.shares != wanted:
        try:
            snap = endpoint.apply(target, snap, wanted, f"deploying {version}")
        except ConcurrentChange:
            now = endpoint.read(target)
            raise ConcurrentChange(
                f"{version} is deployed, but {name}'s endpoint was changed by someone else meanwhile: "
                f"it serves {split.show(now.shares)}; run the same deploy again to give {version} "
                f"{share}%") from None
    else:
        endpoint.make_default(target, snap)
    undeployed = _keep_newest(target, snap, version, keep, warnings) if keep is not None else []
    final = endpoint.read(target)
    changed = final.shares != first.shares or bool(undeployed)
    if changed:
        what = command or f"deploy {version}" + (f" --traffic {traffic}" if traffic is not None else "")
        written = history.append(target, what, first.shares, final.shares, last)
        if written.meanwhile:
            others = "; ".join(f"{c.command} at {c.time}" for c in written.meanwhile)
            warnings.append(f"another change of {name} ran at the same time ({others}); the "
                            f"endpoint now serves {split.show(final.shares)}")
    got = final.shares.get(version)
    if got != share:
        raise ConcurrentChange(
            f"{version} is deployed, but another change of {name} finished at the same time: the "
            f"endpoint serves {split.show(final.shares)}; run `mlcloud traffic` or deploy again")
    mine = next(d for d in final.deployed if d.model_version_id == vid)
    if not changed:
        status, message = "unchanged", (
            f"{name} {version} is already deployed with {share}% of the traffic; nothing changed")
    else:
        status = "deployed"
        if share == 100 and first.default != version:
            message = f"{name}: default {first.default or 'none'} -> {version} (100% of the traffic)"
        else:
            message = f"{name}: {version} takes {share}% of the traffic (default {final.default})"
    return DeployResult(name, version, final.endpoint["name"], mine.id, model_name, vid, image,
                        status, first.default, final.shares, message, warnings, first.shares,
                        undeployed)


def _keep_newest(target: Target, snap: endpoint.Snapshot, version: str, keep: int,
                 warnings: list[str]) -> list[str]:
    """Undeploy versions without traffic beyond the newest ``keep`` (the one just deployed always
    counts among them), and second copies of a version deployed twice."""
    others = [v for v in sorted(snap.versions(), key=sort_key) if v != version]
    newest = [version] + others[len(others) - (keep - 1):] if keep > 1 else [version]
    gone, seen = [], set()
    for d in snap.deployed:
        duplicate = d.version in seen
        seen.add(d.version)
        if d.share or (d.version in newest and not duplicate):
            continue
        try:
            if target.vertex.undeploy_model(snap.name, d.id):  # False: another command did it
                gone.append(d.version)
        except (VertexRefused, ConcurrentChange) as e:
            warnings.append(f"{d.version} stays deployed: {e}")
    return gone


def _clean_up(vertex, name: str, model_name: str, vid: str | None, version: str,
              created: list[tuple[str, str]]) -> list[str]:
    cleaned = []
    for kind, _ in reversed(created):
        try:
            if kind == "endpoint":
                ep = vertex.get_endpoint(name)
                if ep is not None and not ep.get("deployedModels"):
                    vertex.delete_endpoint(name)
                    cleaned.append(f"endpoint {name}")
            elif vid is not None:
                if len(vertex.list_versions(name)) <= 1:
                    vertex.delete_model(model_name)
                else:
                    vertex.delete_model_version(f"{model_name}@{vid}")
                cleaned.append(f"registry version {name}@{version}")
        except MlcloudError:
            pass
    return cleaned
