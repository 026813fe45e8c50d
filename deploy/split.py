"""Traffic splits in mlcloud's terms: {version: whole percent}, pure functions, no I/O.

Rounding of a canary: the new version gets exactly its share; the versions already serving share
the rest in their existing proportions, rounded by largest remainder (each gets the floor of its
exact share, then the points left go one each to the largest fractional parts; ties go to the
larger current share, then to the newer version). The result always sums to exactly 100.
"""

from __future__ import annotations

import re

from mlcloud.deploy.errors import UserError
from mlcloud.deploy.versions import sort_key

_SHARE = re.compile(r"^([a-z][a-z0-9-]*)=([0-9]{1,3})%?$")


def ordered(shares: dict[str, int]) -> dict[str, int]:
    return {v: shares[v] for v in sorted(shares, key=sort_key)}


def show(shares: dict[str, int]) -> str:
    """``v1=90% v2=10%`` (version order); ``nothing`` for an empty split."""
    return " ".join(f"{v}={p}%" for v, p in ordered(shares).items()) or "nothing"


def top(shares: dict[str, int]) -> str | None:
    """The version with the largest share (the newer one on a tie); None when nothing serves."""
    live = [v for v, p in shares.items() if p > 0]
    if not live:
        return None
    return max(live, key=lambda v: (shares[v], sort_key(v)))


def parse(items: list[str]) -> dict[str, int]:
    """``["v2=90", "v3=10"]`` -> {"v2": 90, "v3": 10}; refuses malformed or repeated items."""
    out: dict[str, int] = {}
    for item in items:
        m = _SHARE.match(item.strip())
        if not m:
            raise UserError(f"cannot read the share {item!r}: write VERSION=PERCENT, e.g. v2=90 v3=10")
        version, share = m.group(1), int(m.group(2))
        if version in out:
            raise UserError(f"{version} is given twice: name each version once")
        out[version] = share
    return out


def check(shares: dict[str, int], deployed: list[str], name: str) -> dict[str, int]:
    """A complete split over ``deployed`` (versions left out get 0), or a refusal saying why."""
    unknown = [v for v in shares if v not in deployed]
    if unknown:
        raise UserError(
            f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not deployed on {name}'s "
            f"endpoint (deployed: {', '.join(sorted(deployed, key=sort_key)) or 'none'}); "
            "deploy it first with mlcloud deploy --version VERSION --traffic PERCENT")
    big = [f"{v}={p}" for v, p in shares.items() if p > 100]
    if big:
        raise UserError(f"a share is at most 100%: {', '.join(big)}")
    total = sum(shares.values())
    if total != 100:
        raise UserError(f"the shares sum to {total}%, not 100%: {show(shares)}; nothing changed")
    return ordered({v: shares.get(v, 0) for v in deployed})


def canary(current: dict[str, int], version: str, share: int) -> dict[str, int]:
    """``version`` gets ``share``; the others keep the rest in their existing proportions."""
    if not 0 <= share <= 100:
        raise UserError(f"--traffic is a whole percentage from 0 to 100, not {share}")
    others = {v: p for v, p in current.items() if v != version}
    rest, total = 100 - share, sum(others.values())
    if rest and not total:
        live = ", ".join(others) or "nothing"
        raise UserError(f"{version} must take 100% of the traffic: no other version serves ({live} "
                        "carries no traffic); leave --traffic out")
    exact = {v: (rest * p / total if total else 0.0) for v, p in others.items()}
    out = {v: int(x) for v, x in exact.items()}
    left = rest - sum(out.values())
    for v in sorted(exact, key=lambda v: (exact[v] - out[v], others[v], sort_key(v)), reverse=True)[:left]:
        out[v] += 1
    out[version] = share
    return ordered(out)
