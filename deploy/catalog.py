"""Every version of a model: what the bucket holds, what the registry knows, what serves."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mlcloud.deploy import endpoint
from mlcloud.deploy.target import Target
from mlcloud.deploy.versions import list_versions


@dataclass(frozen=True)
class VersionRow:
    version: str
    created: str | None
    sha256: str | None
    sklearn: str | None
    size: int | None
    complete: bool  # False: an interrupted upload (no manifest yet)
    registered: bool
    deployed: bool
    traffic: int | None  # None when not deployed
    default: bool

    def to_json(self) -> dict:
        return asdict(self)


def describe(target: Target) -> list[VersionRow]:
    s = target.settings
    stored = list_versions(target.storage, s.models_uri())
    snap = endpoint.read(target)
    traffic = snap.shares
    rows = []
    for v, sv in stored.items():
        m = sv.manifest or {}
        art = m.get("artifact", {})
        rows.append(VersionRow(
            version=v, created=m.get("created"), sha256=art.get("sha256"),
            sklearn=m.get("runtime", {}).get("sklearn"), size=art.get("size"),
            complete=sv.complete, registered=v in snap.by_id.values(), deployed=v in traffic,
            traffic=traffic.get(v), default=(v == snap.default)))
    return rows
