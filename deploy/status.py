"""What serves a model right now: its endpoint, each deployed version with its share and health,
the default version, and the last recorded change."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mlcloud.deploy import endpoint, history
from mlcloud.deploy.target import Target


@dataclass(frozen=True)
class DeployedRow:
    version: str
    deployed_model_id: str
    traffic: int
    healthy: bool
    health: str
    deployed_at: str | None


@dataclass(frozen=True)
class Status:
    name: str
    endpoint: str | None
    default: str | None
    deployed: list[DeployedRow]
    last_change: dict | None

    def to_json(self) -> dict:
        return asdict(self)


def status(target: Target) -> Status:
    snap = endpoint.read(target)
    rows = [DeployedRow(d.version, d.id, d.share, d.ready, d.health, d.created) for d in snap.deployed]
    recent = history.recent(target, 1)
    return Status(snap.name, (snap.endpoint or {}).get("name"), snap.default, rows,
                  recent[0].to_json() if recent else None)
