"""Rollback (instant and under load), undeploy, status, and the history they rely on."""

from __future__ import annotations

import threading
import time

import pytest

from fleet import expected, shares, target_for, upload_versions


def test_rollback_under_load(cli, workdir, name, stack):
    """A client predicts continuously while v2 is deployed, shifted to 100%, then rolled back:
    no request fails, and every answer is v1's or v2's own."""
    pipes = upload_versions(cli, workdir, name, ("v1", "v2"))
    assert cli("deploy", "--name", name, "--version", "v1").code == 0
    vertex = target_for(name, stack).vertex
    from mlcloud.deploy.endpoint import read

    stop, answers, failures = threading.Event(), [], []

    def client():
        i = 0
        deadline = time.monotonic() + 120  # bounded even if the main thread dies
        while not stop.is_set() and time.monotonic() < deadline and i < 20000:
            x = float(i % 17)
            try:
                r = vertex.predict(name, [[x]])
                answers.append((r["modelVersionId"], x, r["predictions"][0]))
            except Exception as e:  # noqa: BLE001 - counted, then asserted empty
                failures.append(repr(e))
            i += 1

    thread = threading.Thread(target=client)
    thread.start()
    try:
        time.sleep(0.3)
        assert cli("deploy", "--name", name, "--version", "v2", "--traffic", "0").code == 0
        time.sleep(0.3)
        assert cli("traffic", "v2=100", "--name", name).code == 0
        time.sleep(0.3)
        back = cli("rollback", "--name", name)
        assert back.code == 0, back.err
        assert back.out.splitlines() == [f"{name}: rolled back v2 -> v1 (100% of the traffic)",
                                         "before: v1=0% v2=100%", "after:  v1=100% v2=0%"]
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(30)
    assert failures == []
    by_vid = {d.model_version_id: d.version for d in read(target_for(name, stack)).deployed}
    seen = {by_vid[vid] for vid, _, _ in answers}
    assert seen == {"v1", "v2"} and len(answers) > 20
    for vid, x, y in answers:
        assert y == pytest.approx(expected(pipes[by_vid[vid]], x), rel=1e-12, abs=1e-12)
    assert by_vid[answers[-1][0]] == "v1"


def test_rollback_goes_back_and_forth_and_to(cli, workdir, name):
    upload_versions(cli, workdir, name, ("v1", "v2", "v3"))
    none = cli("rollback", "--name", name)
    assert none.code == 2
    assert none.err.strip() == (f"error: no change of {name} is recorded, so there is nothing to roll "
                                "back to: name the version with mlcloud rollback --to VERSION")
    assert cli("deploy", "--name", name, "--version", "v1").code == 0
    first = cli("rollback", "--name", name)
    assert first.code == 2 and "nothing served" in first.err and "(deploy v1 at" in first.err
    assert cli("deploy", "--name", name, "--version", "v2").code == 0
    assert cli("deploy", "--name", name, "--version", "v3", "--traffic", "10", "--keep", "3").code == 0
    assert shares(cli, name) == {"v1": 0, "v2": 90, "v3": 10}
    # the canary is the last change: before it, v2 served
    r = cli("rollback", "--name", name, "--json")
    assert r.code == 0, r.err
    assert (r.json()["before"], r.json()["after"]) == ({"v1": 0, "v2": 90, "v3": 10}, {"v1": 0, "v2": 100, "v3": 0})
    # a change made outside mlcloud's record: the split the record left is what served before
    assert cli("traffic", "v3=100", "--name", name).code == 0
    r = cli("rollback", "--name", name, "--json")
    assert r.json()["after"] == {"v1": 0, "v2": 100, "v3": 0}
    again = cli("rollback", "--name", name, "--json")  # a rollback is a change: forward again
    assert again.json()["after"] == {"v1": 0, "v2": 0, "v3": 100}
    to = cli("rollback", "--to", "v1", "--name", name)
    assert to.code == 0, to.err
    assert to.out.splitlines()[0] == f"{name}: rolled back v3 -> v1 (100% of the traffic)"
    listing = {r["version"]: r for r in cli("versions", "--name", name, "--json").json()}
    assert [v for v, r in listing.items() if r["default"]] == ["v1"]
    same = cli("rollback", "--to", "v1", "--name", name, "--json")
    assert same.code == 0 and same.json()["status"] == "unchanged"
    missing = cli("rollback", "--to", "v9", "--name", name)
    assert missing.code == 2
    assert missing.err.strip() == f"error: {name} has no version v9 (available: v1, v2, v3)"


def test_rollback_to_a_version_no_longer_deployed(cli, workdir, name):
    upload_versions(cli, workdir, name, ("v1", "v2", "v3"))
    for v in ("v1", "v2", "v3"):
        assert cli("deploy", "--name", name, "--version", v, "--keep", "1").code == 0
    assert shares(cli, name) == {"v3": 100}
    r = cli("rollback", "--name", name)
    assert r.code == 0, r.err
    assert r.out.splitlines() == [f"{name}: rolled back v3 -> v2 (deployed it; 100% of the traffic)",
                                  "before: v3=100%", "after:  v2=100% v3=0%"]
    assert shares(cli, name) == {"v2": 100, "v3": 0}


def test_undeploy_rules(cli, workdir, name):
    upload_versions(cli, workdir, name, ("v1", "v2", "v3"))
    assert cli("deploy", "--name", name, "--version", "v1").code == 0
    only = cli("undeploy", "--version", "v1", "--name", name)
    assert only.code == 2
    assert only.err.strip() == (f"error: v1 is the only version deployed on {name}'s endpoint and "
                                "serves all its traffic: deploy another version first; nothing changed")
    assert cli("deploy", "--name", name, "--version", "v2", "--traffic", "30").code == 0
    busy = cli("undeploy", "--version", "v1", "--name", name)
    assert busy.code == 2
    assert busy.err.strip() == (f"error: v1 carries 70% of {name}'s traffic: give the new split, e.g. "
                                "mlcloud undeploy --version v1 v2=100; nothing changed")
    bad = cli("undeploy", "--version", "v1", "v1=50", "v2=50", "--name", name)
    assert bad.code == 2
    assert bad.err.strip() == ("error: the new split gives 50% to v1, which is being undeployed: give "
                               "its share to the versions that stay")
    absent = cli("undeploy", "--version", "v3", "--name", name)
    assert absent.code == 2
    assert absent.err.strip() == (f"error: v3 is not deployed on {name}'s endpoint (deployed: v1, v2); "
                                  "nothing to undeploy")
    assert shares(cli, name) == {"v1": 70, "v2": 30}
    ok = cli("undeploy", "--version", "v1", "v2=100", "--name", name)
    assert ok.code == 0, ok.err
    assert ok.out.splitlines() == [
        f"{name}: undeployed v1 (its artifact and registry version stay); serving v2=100%",
        "before: v1=70% v2=30%", "after:  v2=100%"]
    listing = {r["version"]: r for r in cli("versions", "--name", name, "--json").json()}
    assert listing["v1"]["registered"] and not listing["v1"]["deployed"] and listing["v1"]["complete"]
    assert [v for v, r in listing.items() if r["default"]] == ["v2"]
    # a version without traffic goes without a split
    assert cli("deploy", "--name", name, "--version", "v3", "--traffic", "0").code == 0
    assert cli("undeploy", "--version", "v3", "--name", name).code == 0
    assert shares(cli, name) == {"v2": 100}


def test_status(cli, workdir, name):
    upload_versions(cli, workdir, name, ("v1", "v2"))
    empty = cli("status", "--name", name)
    assert empty.code == 0
    assert empty.out.splitlines() == ["endpoint: none (run mlcloud deploy --version vN)",
                                      "default:  none", "last change: none recorded"]
    assert cli("deploy", "--name", name, "--version", "v1").code == 0
    assert cli("deploy", "--name", name, "--version", "v2", "--traffic", "25").code == 0
    st = cli("status", "--name", name, "--json")
    assert st.code == 0, st.err
    body = st.json()
    assert body["endpoint"] == f"projects/local/locations/us-central1/endpoints/{name}"
    assert body["default"] == "v1"
    assert [(d["version"], d["traffic"], d["healthy"], d["health"]) for d in body["deployed"]] == [
        ("v1", 75, True, "ready"), ("v2", 25, True, "ready")]
    assert body["last_change"]["command"] == "deploy v2 --traffic 25"
    assert (body["last_change"]["before"], body["last_change"]["after"]) == ({"v1": 100}, {"v1": 75, "v2": 25})
    text = cli("status", "--name", name).out.splitlines()
    assert text[0] == f"endpoint: projects/local/locations/us-central1/endpoints/{name}"
    assert text[3].split() == ["v1", body["deployed"][0]["deployed_model_id"], "75%", "ready"]
    assert text[-1].startswith("last change: deploy v2 --traffic 25 at ")
    assert text[-1].endswith(": v1=100% -> v1=75% v2=25%")
