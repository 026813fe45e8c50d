"""Canary deploys, the traffic command, --keep, idempotence, concurrent deploys, failed deploys."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from fleet import expected, live, shares, target_for, upload_versions


def test_canary_split_is_served_in_proportion(cli, workdir, name, stack):
    from scipy.stats import binomtest

    pipes = upload_versions(cli, workdir, name, ("v2", "v3"))
    assert cli("deploy", "--name", name, "--version", "v2").code == 0
    dep = cli("deploy", "--name", name, "--version", "v3", "--traffic", "10")
    assert dep.code == 0, dep.err
    assert dep.out.splitlines() == [f"{name}: v3 takes 10% of the traffic (default v2)",
                                    "traffic: v2=90%, v3=10%"]
    assert shares(cli, name) == {"v2": 90, "v3": 10}

    target = target_for(name, stack)
    vertex = target.vertex
    from mlcloud.deploy.endpoint import read

    by_dm = {d.id: d.version for d in read(target).deployed}
    n = 2000

    def one(i: int):
        x = float(i % 50)
        r = vertex.predict(name, [[x]])
        return by_dm[r["deployedModelId"]], x, r["predictions"][0]

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(one, range(n)))
    served = [v for v, _, _ in answers]
    assert set(served) == {"v2", "v3"}
    k = served.count("v3")
    assert binomtest(k, n, 0.10).pvalue > 0.001, k
    for version, x, y in answers:
        assert y == pytest.approx(expected(pipes[version], x), rel=1e-12, abs=1e-12)


def test_canary_rounding_keeps_proportions_and_sums_to_100(cli, workdir, name):
    upload_versions(cli, workdir, name, ("v1", "v2", "v3"))
    assert cli("deploy", "--name", name, "--version", "v1").code == 0
    assert cli("deploy", "--name", name, "--version", "v2", "--traffic", "33").code == 0
    assert shares(cli, name) == {"v1": 67, "v2": 33}
    dep = cli("deploy", "--name", name, "--version", "v3", "--traffic", "10", "--json")
    assert dep.code == 0, dep.err
    # 90 split 67:33 is 60.3 : 29.7 -> 60 + 30 by largest remainder
    assert dep.json()["traffic"] == {"v1": 60, "v2": 30, "v3": 10}
    assert dep.json()["before"] == {"v1": 67, "v2": 33}


def test_traffic_command_and_its_refusals(cli, workdir, name, stack):
    upload_versions(cli, workdir, name, ("v1", "v2", "v3"))
    assert cli("deploy", "--name", name, "--version", "v1").code == 0
    assert cli("deploy", "--name", name, "--version", "v2").code == 0
    ok = cli("traffic", "v1=90", "v2=10", "--name", name)
    assert ok.code == 0, ok.err
    assert ok.out.splitlines() == [f"{name}: v1=0% v2=100% -> v1=90% v2=10%",
                                   "before: v1=0% v2=100%", "after:  v1=90% v2=10%"]
    refusals = {
        ("v1=50", "v2=40"): "the shares sum to 90%, not 100%: v1=50% v2=40%; nothing changed",
        ("v1=50", "v3=50"): ("v3 is not deployed on {name}'s endpoint (deployed: v1, v2); deploy it "
                             "first with mlcloud deploy --version VERSION --traffic PERCENT"),
        ("v1=50", "v1=50"): "v1 is given twice: name each version once",
        ("v1=fifty",): "cannot read the share 'v1=fifty': write VERSION=PERCENT, e.g. v2=90 v3=10",
        ("v1=150", "v2=0"): "a share is at most 100%: v1=150",
    }
    for args, message in refusals.items():
        r = cli("traffic", *args, "--name", name)
        assert r.code == 2, (args, r.err)
        assert r.err.strip() == "error: " + message.format(name=name)
        assert shares(cli, name) == {"v1": 90, "v2": 10}
    same = cli("traffic", "v1=90", "v2=10", "--name", name, "--json")
    assert same.code == 0 and same.json()["status"] == "unchanged"
    assert cli("traffic", "v2=100", "--name", name).code == 0  # left out: 0%
    assert shares(cli, name) == {"v1": 0, "v2": 100}
    listing = {r["version"]: r for r in cli("versions", "--name", name, "--json").json()}
    assert [v for v, r in listing.items() if r["default"]] == ["v2"]
    assert (listing["v3"]["deployed"], listing["v3"]["traffic"]) == (False, None)

    # a split computed from a stale read is refused by the service's etag check: nothing changes
    from mlcloud.deploy import endpoint
    from mlcloud.deploy.errors import ConcurrentChange

    target = target_for(name, stack)
    stale = endpoint.read(target)
    assert cli("traffic", "v1=50", "v2=50", "--name", name).code == 0
    with pytest.raises(ConcurrentChange) as e:
        endpoint.apply(target, stale, {"v1": 100, "v2": 0}, "the split was being set")
    assert str(e.value) == (f"{name}'s endpoint was changed by someone else while the split was being "
                            "set: it now serves v1=50% v2=50%; nothing was changed by this command: "
                            "run it again")
    assert e.value.exit_code == 1
    assert shares(cli, name) == {"v1": 50, "v2": 50}


def test_deploy_keeps_the_newest_and_is_idempotent(cli, workdir, name):
    upload_versions(cli, workdir, name, ("v1", "v2", "v3"))
    for v in ("v1", "v2"):
        assert cli("deploy", "--name", name, "--version", v).code == 0
    assert shares(cli, name) == {"v1": 0, "v2": 100}
    dep = cli("deploy", "--name", name, "--version", "v3")
    assert dep.code == 0, dep.err
    assert dep.out.splitlines() == [f"{name}: default v2 -> v3 (100% of the traffic)",
                                    "traffic: v2=0%, v3=100%",
                                    "undeployed (no traffic, beyond the newest 2): v1"]
    again = cli("deploy", "--name", name, "--version", "v3", "--json")
    assert again.code == 0
    assert again.json()["status"] == "unchanged"
    assert again.json()["message"] == f"{name} v3 is already deployed with 100% of the traffic; nothing changed"
    assert cli("deploy", "--name", name, "--version", "v1", "--keep", "3").code == 0  # redeploy
    assert shares(cli, name) == {"v1": 100, "v2": 0, "v3": 0}
    assert cli("deploy", "--name", name, "--version", "v3", "--keep", "1").code == 0
    assert shares(cli, name) == {"v3": 100}
    bad = cli("deploy", "--name", name, "--version", "v3", "--keep", "0")
    assert bad.code == 2
    assert bad.err.strip() == ("error: invalid --keep 0: at least the version being deployed "
                               "stays: use 1 or more")


def test_deploy_refusals_change_nothing(cli, workdir, name):
    upload_versions(cli, workdir, name, ("v1", "v2"))
    first = cli("deploy", "--name", name, "--version", "v1", "--traffic", "10")
    assert first.code == 2
    assert first.err.strip() == ("error: v1 must take 100% of the traffic: no other version serves "
                                 "(nothing carries no traffic); leave --traffic out")
    assert shares(cli, name) == {}
    assert cli("deploy", "--name", name, "--version", "v1").code == 0
    bad = cli("deploy", "--name", name, "--version", "v2", "--traffic", "120")
    assert bad.code == 2 and bad.err.strip() == "error: --traffic is a whole percentage from 0 to 100, not 120"
    assert shares(cli, name) == {"v1": 100}
    none = cli("deploy", "--name", name)
    assert none.code == 2
    assert none.err.strip() == "error: specify --version (available: v1, v2; default: v1)"


def test_concurrent_deploys_end_consistent(cli, workdir, name, stack):
    from mlcloud.deploy.errors import ConcurrentChange
    from mlcloud.deploy.release import deploy

    upload_versions(cli, workdir, name, ("v1", "v2", "v3"))
    assert cli("deploy", "--name", name, "--version", "v1").code == 0
    start = threading.Barrier(2)
    results: dict = {}

    def run(version):
        target = target_for(name, stack)
        start.wait()
        try:
            results[version] = deploy(target, version)
        except ConcurrentChange as e:
            results[version] = e

    threads = [threading.Thread(target=run, args=(v,)) for v in ("v2", "v3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    from mlcloud.deploy.endpoint import read

    snap = read(target_for(name, stack))
    split = dict(snap.endpoint["trafficSplit"])
    assert sum(split.values()) == 100
    assert set(split) == {d["id"] for d in snap.endpoint["deployedModels"]}
    assert sorted(v for v, p in snap.shares.items() if p == 100) in (["v2"], ["v3"])
    told = [v for v, r in results.items() if isinstance(r, ConcurrentChange)
            or any("ran at the same time" in w for w in r.warnings)]
    assert told, results  # the one that lost the race was told
    for v in told:
        r = results[v]
        text = str(r) if isinstance(r, ConcurrentChange) else " ".join(r.warnings)
        assert split_text(snap.shares) in text
    # history holds both changes, in order, and the split they left
    from mlcloud.deploy import history

    changes = history.recent(target_for(name, stack), 3)
    assert [c.command for c in changes][0] == "deploy v1"
    assert sorted(c.command for c in changes[1:]) == ["deploy v2", "deploy v3"]


def split_text(shares: dict) -> str:
    from mlcloud.deploy.split import show

    return show(shares)


def test_failed_deploy_cleans_up_what_it_created(cli, workdir, name, stack):
    """The manifest's sha256 is altered (size and MD5 still match): only the service's load-time
    check catches it; what the deploy created is removed, what served before still serves."""
    from mlcloud.deploy.storage import Storage
    from mlcloud.deploy.vertex import Vertex

    upload_versions(cli, workdir, name, ("v1", "v2", "v3"))
    store = Storage.for_emulator(live().gcs.url)
    for v in ("v1", "v3"):
        uri = f"models/{name}/{v}/mlcloud.json"
        manifest = json.loads(store.read_bytes(f"gs://mlcloud-local/{uri}"))
        manifest["artifact"]["sha256"] = "0" * 64
        store._client.bucket("mlcloud-local").blob(uri).upload_from_string(json.dumps(manifest))
    res = cli("deploy", "--name", name, "--version", "v1")
    assert res.code == 2
    line, = res.err.strip().splitlines()
    assert line.startswith(f"error: Vertex AI refused to deploy {name}-v1: Cannot load the model at "
                           f"gs://mlcloud-local/models/{name}/v1: artifact sha256 ")
    assert line.endswith(f"(cleaned up: endpoint {name}, registry version {name}@v1)")
    vertex = Vertex.for_emulator(live().vertex.url, "local", "us-central1")
    assert vertex.get_endpoint(name) is None
    assert vertex.get_model(vertex.model_name(name)) is None

    assert cli("deploy", "--name", name, "--version", "v2").code == 0
    res = cli("deploy", "--name", name, "--version", "v3")
    assert res.code == 2
    assert res.err.strip().endswith(f"(cleaned up: registry version {name}@v3)")
    assert shares(cli, name) == {"v2": 100}
    assert [m["versionAliases"] for m in vertex.list_versions(name)] == [["default", "v2"]]
    again = cli("deploy", "--name", name, "--version", "v3")  # refused again, the same way
    assert again.code == 2 and again.err.strip().endswith(f"(cleaned up: registry version {name}@v3)")


def test_rerun_after_an_interrupted_deploy_converges(cli, workdir, name, stack):
    """A deploy killed after DeployModel finished and before the split changed: the next run
    reuses the registry version and the deployed model, and only moves the traffic."""
    upload_versions(cli, workdir, name, ("v1", "v2"))
    assert cli("deploy", "--name", name, "--version", "v1").code == 0
    vertex = target_for(name, stack).vertex
    up = vertex.upload_model(name, display_name=name, artifact_uri=f"gs://mlcloud-local/models/{name}/v2",
                             image="x", alias="v2", labels={}, parent_exists=True)
    dm = vertex.deploy_model(name, f"{vertex.model_name(name)}@{up['modelVersionId']}",
                             display_name=f"{name}-v2", traffic={})
    assert shares(cli, name) == {"v1": 100, "v2": 0}
    r = cli("deploy", "--name", name, "--version", "v2", "--json")
    assert r.code == 0, r.err
    assert (r.json()["status"], r.json()["traffic"]) == ("deployed", {"v1": 0, "v2": 100})
    assert r.json()["deployed_model_id"] == dm["id"]
    assert [m["versionId"] for m in vertex.list_versions(name)] == ["1", up["modelVersionId"]]
