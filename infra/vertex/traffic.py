"""Traffic split rules of a Vertex AI endpoint (pure functions, no state).

A split maps deployed model ids to whole percentages. When an endpoint has deployed models the
values must sum to 100; every key must be a deployed model id, or ``"0"`` in a DeployModel
request, meaning the model being deployed. Ids absent from a split get 0.
"""

from __future__ import annotations

import random

from .errors import FailedPrecondition, InvalidArgument

NEW = "0"


def validate(split: dict[str, int], allowed: set[str]) -> dict[str, int]:
    unknown = sorted(set(split) - allowed)
    if unknown:
        raise InvalidArgument(
            f"trafficSplit refers to {', '.join(unknown)}, which is not a deployed model id on this "
            f"endpoint (deployed: {', '.join(sorted(allowed - {NEW})) or 'none'}).")
    bad = {k: v for k, v in split.items() if not 0 <= v <= 100}
    if bad:
        raise InvalidArgument(f"trafficSplit values must be between 0 and 100, got {bad}.")
    total = sum(split.values())
    if allowed and total != 100:
        raise InvalidArgument(f"trafficSplit values must sum to 100, got {total}: {dict(sorted(split.items()))}.")
    if not allowed and split:
        raise InvalidArgument("trafficSplit must be empty when the endpoint has no deployed models.")
    return dict(split)


def for_deploy(current: dict[str, int], deployed: list[str], requested: dict[str, int]) -> dict[str, int]:
    """The split after deploying a new model (key ``"0"``); requested empty = not updated."""
    if requested:
        return validate(requested, set(deployed) | {NEW})
    if not deployed:
        return {NEW: 100}
    return {**current, NEW: 0}


def for_undeploy(current: dict[str, int], deployed: list[str], gone: str,
                 requested: dict[str, int]) -> dict[str, int]:
    """The split after undeploying ``gone``; refused while ``gone`` would keep traffic."""
    rest = [d for d in deployed if d != gone]
    if requested:
        if requested.get(gone, 0):
            raise InvalidArgument(
                f"trafficSplit gives {requested[gone]}% to deployed model {gone}, which is being undeployed.")
        split = {k: v for k, v in requested.items() if k != gone}
        return validate(split, set(rest))
    share = current.get(gone, 0)
    if share and rest:
        raise FailedPrecondition(
            f"Deployed model {gone} receives {share}% of the endpoint's traffic: pass a trafficSplit "
            "that moves its traffic to the other deployed models, or update the endpoint's "
            "trafficSplit first.")
    return {k: v for k, v in current.items() if k != gone} if rest else {}


def choose(split: dict[str, int], rng: random.Random) -> str | None:
    """A deployed model id drawn with the split's weights; None when no model has traffic."""
    live = [(k, v) for k, v in sorted(split.items()) if v > 0]
    if not live:
        return None
    return rng.choices([k for k, _ in live], weights=[v for _, v in live])[0]
