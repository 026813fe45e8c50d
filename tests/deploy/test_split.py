"""Traffic splits by version: parsing, checking and canary rounding (pure, no services)."""

from __future__ import annotations

import pytest

from mlcloud.deploy import split
from mlcloud.deploy.errors import UserError


@pytest.mark.parametrize("current, version, share, expected", [
    ({"v2": 100}, "v3", 10, {"v2": 90, "v3": 10}),
    ({}, "v1", 100, {"v1": 100}),
    ({"v1": 67, "v2": 33}, "v3", 10, {"v1": 60, "v2": 30, "v3": 10}),
    ({"v1": 50, "v2": 50}, "v3", 33, {"v1": 33, "v2": 34, "v3": 33}),  # equal remainders: the newer
    ({"v1": 1, "v2": 1, "v3": 98}, "v4", 50, {"v1": 0, "v2": 1, "v3": 49, "v4": 50}),
    ({"v1": 0, "v2": 100}, "v1", 100, {"v1": 100, "v2": 0}),
    ({"v1": 90, "v2": 10}, "v2", 20, {"v1": 80, "v2": 20}),
])
def test_canary(current, version, share, expected):
    got = split.canary(current, version, share)
    assert got == expected and sum(got.values()) == 100


def test_canary_sums_to_100_always():
    import itertools

    for a, b, c in itertools.product(range(0, 101, 7), repeat=3):
        if a + b + c == 0:
            continue
        total = a + b + c
        current = {"v1": a * 100 // total, "v2": b * 100 // total}
        current["v3"] = 100 - current["v1"] - current["v2"]
        for share in (0, 1, 10, 33, 99):
            got = split.canary(current, "v4", share)
            assert sum(got.values()) == 100 and got["v4"] == share


def test_refusals():
    with pytest.raises(UserError, match=r"^v1 must take 100% of the traffic"):
        split.canary({}, "v1", 10)
    with pytest.raises(UserError, match=r"^--traffic is a whole percentage from 0 to 100, not 101$"):
        split.canary({"v1": 100}, "v2", 101)
    assert split.parse(["v2=90", "v3=10%"]) == {"v2": 90, "v3": 10}
    assert split.check({"v2": 100}, ["v1", "v2"], "m") == {"v1": 0, "v2": 100}
    assert split.show({"v10": 5, "v2": 95}) == "v2=95% v10=5%"
    assert split.top({"v1": 50, "v2": 50}) == "v2" and split.top({"v1": 0}) is None
