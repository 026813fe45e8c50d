"""What a model's endpoint serves, in mlcloud's terms, and changing its split safely.

A ``Snapshot`` is one read of the endpoint and the registry: each deployed model with its mlcloud
version, the split by version, the default version and the endpoint's etag. ``apply`` writes a new
split by version with that etag, so a split computed from a stale read is refused by the service
(ABORTED) instead of silently undoing someone else's change.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlcloud.deploy.errors import ConcurrentChange, NotDeployed
from mlcloud.deploy.target import Target
from mlcloud.deploy.versions import sort_key


@dataclass(frozen=True)
class Deployed:
    version: str
    id: str  # deployedModelId
    model_version_id: str
    share: int
    created: str | None
    ready: bool
    health: str


@dataclass(frozen=True)
class Snapshot:
    name: str
    endpoint: dict | None
    by_id: dict[str, str]  # registry modelVersionId -> mlcloud version
    default: str | None
    deployed: list[Deployed]  # in version order

    @property
    def shares(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.deployed:
            out[d.version] = out.get(d.version, 0) + d.share
        return out

    @property
    def etag(self) -> str:
        return (self.endpoint or {}).get("etag", "")

    def versions(self) -> list[str]:
        return list(dict.fromkeys(d.version for d in self.deployed))

    def ids_for(self, shares: dict[str, int]) -> dict[str, int]:
        """A split by version -> by deployed model id (a version deployed twice: its first gets it)."""
        out, seen = {}, set()
        for d in self.deployed:
            out[d.id] = 0 if d.version in seen else shares.get(d.version, 0)
            seen.add(d.version)
        return out

    def require(self) -> "Snapshot":
        if not self.deployed:
            raise NotDeployed(f"{self.name} is not deployed: run `mlcloud deploy --version vN` first")
        return self


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


def read(target: Target) -> Snapshot:
    name = target.settings.model_name
    vertex = target.vertex
    by_id, default = version_aliases(vertex, name)
    ep = vertex.get_endpoint(name)
    split = (ep or {}).get("trafficSplit", {})
    rows = []
    for dm in (ep or {}).get("deployedModels", []):
        vid = dm.get("modelVersionId", "")
        status = dm.get("status", {})
        ready = int(status.get("availableReplicaCount", 0)) > 0
        rows.append(Deployed(by_id.get(vid, dm.get("displayName", dm["id"])), dm["id"], vid,
                             int(split.get(dm["id"], 0)), dm.get("createTime"), ready,
                             status.get("message", "") or ("ready" if ready else "unknown")))
    rows.sort(key=lambda d: (sort_key(d.version), int(d.id) if d.id.isdigit() else 0))
    return Snapshot(name, ep, by_id, default, rows)


def apply(target: Target, snap: Snapshot, shares: dict[str, int], why: str) -> Snapshot:
    """Set the split (by version) if the endpoint is still as ``snap`` saw it; the new snapshot."""
    try:
        target.vertex.set_traffic(snap.name, snap.ids_for(shares), etag=snap.etag)
    except ConcurrentChange:
        now = read(target)
        from mlcloud.deploy.split import show

        raise ConcurrentChange(
            f"{snap.name}'s endpoint was changed by someone else while {why}: it now serves "
            f"{show(now.shares)}; nothing was changed by this command: run it again") from None
    after = read(target)
    make_default(target, after)
    return after


def make_default(target: Target, snap: Snapshot) -> str | None:
    """Move the registry's default alias to the version with the largest share."""
    from mlcloud.deploy.split import top

    best = top(snap.shares)
    if best and best != snap.default:
        vid = next(d.model_version_id for d in snap.deployed if d.version == best)
        target.vertex.merge_aliases(f"{target.vertex.model_name(snap.name)}@{vid}", ["default"])
    return best
