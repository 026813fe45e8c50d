"""Change what an endpoint serves without a new deployment: set the split, undeploy a version,
roll back. Each change is one etag-checked update of the endpoint (see ``endpoint.apply``) and one
record in the model's history; a refusal changes nothing and says why.

Rollback: the version that served before the last recorded change gets 100% again. If the
endpoint no longer looks as the last record left it (someone changed it outside mlcloud, or a
command died before it wrote its record), the split of that record is what served before. A
rollback is itself a change, so a second rollback goes forward again. ``to`` names the version
instead, deploying it first if it is not deployed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from mlcloud.deploy import endpoint, history, split
from mlcloud.deploy.errors import UserError
from mlcloud.deploy.target import Target
from mlcloud.deploy.vertex import Tick


@dataclass
class Change:
    name: str
    status: str  # "changed" or "unchanged"
    before: dict[str, int]
    after: dict[str, int]
    message: str
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def _record(target: Target, command: str, before: dict, after: dict, last: int,
            warnings: list[str]) -> None:
    written = history.append(target, command, before, after, last)
    if written.meanwhile:
        others = "; ".join(f"{c.command} at {c.time}" for c in written.meanwhile)
        warnings.append(f"another change of {target.settings.model_name} ran at the same time "
                        f"({others}); the endpoint now serves {split.show(after)}")


def set_split(target: Target, shares: dict[str, int]) -> Change:
    """``mlcloud traffic v2=90 v3=10``: deployed versions only, summing to 100."""
    name = target.settings.model_name
    last = history.last_seq(target)
    snap = endpoint.read(target).require()
    wanted = split.check(shares, snap.versions(), name)
    if wanted == snap.shares:
        return Change(name, "unchanged", snap.shares, snap.shares,
                      f"{name} already serves {split.show(wanted)}; nothing changed")
    after = endpoint.apply(target, snap, wanted, "the split was being set")
    warnings: list[str] = []
    command = "traffic " + " ".join(f"{v}={p}" for v, p in split.ordered(shares).items())
    _record(target, command, snap.shares, after.shares, last, warnings)
    return Change(name, "changed", snap.shares, after.shares,
                  f"{name}: {split.show(snap.shares)} -> {split.show(after.shares)}", warnings)


def undeploy(target: Target, version: str, shares: dict[str, int] | None = None,
             tick: Tick | None = None) -> Change:
    """Undeploy a version; refused while it carries traffic unless ``shares`` moves it away.
    The artifact and the registry version stay."""
    name = target.settings.model_name
    last = history.last_seq(target)
    snap = endpoint.read(target).require()
    deployed = snap.versions()
    if version not in deployed:
        raise UserError(f"{version} is not deployed on {name}'s endpoint (deployed: "
                        f"{', '.join(deployed)}); nothing to undeploy")
    rest = [v for v in deployed if v != version]
    if shares and not rest:
        raise UserError(f"{version} is the only version deployed on {name}'s endpoint: deploy "
                        "another version before undeploying it")
    if shares:
        if shares.get(version):
            raise UserError(f"the new split gives {shares[version]}% to {version}, which is being "
                            "undeployed: give its share to the versions that stay")
        wanted = split.check({v: p for v, p in shares.items() if v != version}, rest, name)
    elif snap.shares.get(version):
        if not rest:
            raise UserError(f"{version} is the only version deployed on {name}'s endpoint and serves "
                            "all its traffic: deploy another version first; nothing changed")
        others = {v: snap.shares.get(v, 0) for v in rest}
        others[split.top(others) or rest[-1]] += snap.shares[version]
        example = " ".join(f"{v}={p}" for v, p in split.ordered(others).items())
        raise UserError(f"{version} carries {snap.shares[version]}% of {name}'s traffic: give the new "
                        f"split, e.g. mlcloud undeploy --version {version} {example}; nothing changed")
    else:
        wanted = {v: snap.shares.get(v, 0) for v in rest}
    ids = [d.id for d in snap.deployed if d.version == version]
    stay = endpoint.Snapshot(name, snap.endpoint, snap.by_id, snap.default,
                             [d for d in snap.deployed if d.version != version])
    for i, dm_id in enumerate(ids):
        target.vertex.undeploy_model(name, dm_id, stay.ids_for(wanted) if i == 0 else None, tick)
    after = endpoint.read(target)
    endpoint.make_default(target, after)
    warnings: list[str] = []
    _record(target, f"undeploy {version}", snap.shares, after.shares, last, warnings)
    return Change(name, "changed", snap.shares, after.shares,
                  f"{name}: undeployed {version} (its artifact and registry version stay); "
                  f"serving {split.show(after.shares)}", warnings)


def rollback(target: Target, to: str | None = None, tick: Tick | None = None) -> Change:
    name = target.settings.model_name
    last = history.last_seq(target)
    snap = endpoint.read(target)
    if to is None:
        to = _previous(target, snap)
    wanted = {v: (100 if v == to else 0) for v in snap.versions()}
    if to in snap.versions() and snap.shares == wanted:
        return Change(name, "unchanged", snap.shares, snap.shares,
                      f"{name} already serves {to} with 100% of the traffic; nothing changed")
    if to not in snap.versions():  # deploy it first; older versions stay deployed
        from mlcloud.deploy.release import deploy

        result = deploy(target, to, tick=tick, keep=None, command=f"rollback --to {to}")
        return Change(name, "changed", result.before, result.traffic,
                      f"{name}: rolled back {split.top(result.before) or 'nothing'} -> {to} "
                      f"(deployed it; 100% of the traffic)", result.warnings)
    after = endpoint.apply(target, snap.require(), wanted, "rolling back")
    warnings: list[str] = []
    _record(target, f"rollback --to {to}", snap.shares, after.shares, last, warnings)
    return Change(name, "changed", snap.shares, after.shares,
                  f"{name}: rolled back {split.top(snap.shares) or 'nothing'} -> {to} "
                  "(100% of the traffic)", warnings)


def _previous(target: Target, snap: endpoint.Snapshot) -> str:
    """The version that served before the last change (see the module's docstring)."""
    name = target.settings.model_name
    recent = history.recent(target, 1)
    if not recent:
        raise UserError(f"no change of {name} is recorded, so there is nothing to roll back to: "
                        "name the version with mlcloud rollback --to VERSION")
    last = recent[0]
    before = last.before if last.after == snap.shares else last.after
    target_version = split.top(before)
    if target_version is None:
        raise UserError(f"nothing served {name} before its last change ({last.command} at "
                        f"{last.time}): name the version with mlcloud rollback --to VERSION")
    return target_version

