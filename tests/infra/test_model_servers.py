"""The Vertex emulator runs each deployed model as its own model-server process: a crashed one is
reported in the endpoint's state and restarted, and the emulator itself stays up."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np

from conftest import instances_of
from modelserver import call, live_stack


def servers(vertex_url: str) -> dict:
    status, body = call(f"{vertex_url}/_emulator/servers")
    assert status == 200
    return body["servers"]


def test_a_crashed_model_server_is_reported_and_restarted(cli, workdir, name, housing, home):
    assert cli("init", "--name", name, "--model", housing.path).code == 0
    assert cli("upload").code == 0
    dep = cli("deploy", "--version", "v1", "--json")
    assert dep.code == 0, dep.err
    dm_id = dep.json()["deployed_model_id"]
    stack = live_stack(home)
    vertex = stack.vertex.url
    first = servers(vertex)[dm_id]
    assert first["ready"] and first["restarts"] == 0
    assert first["pid"] not in (None, stack.vertex.pid)  # a process of its own

    os.kill(first["pid"], signal.SIGKILL)
    seen_down, deadline = None, time.monotonic() + 120
    while time.monotonic() < deadline:
        now = servers(vertex)[dm_id]
        if not now["ready"] and seen_down is None:
            seen_down = now["message"]
            ep = _endpoint(vertex, name)
            replica = next(d for d in ep["deployedModels"] if d["id"] == dm_id)["status"]
            assert replica["availableReplicaCount"] == 0
            assert "restart" in replica["message"]
        if now["ready"] and now["restarts"] >= 1:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"not restarted: {servers(vertex)[dm_id]}")
    assert seen_down is not None and "exited with status -9" in seen_down
    assert now["pid"] != first["pid"]
    ep = _endpoint(vertex, name)
    assert next(d for d in ep["deployedModels"] if d["id"] == dm_id)["status"]["availableReplicaCount"] == 1

    (workdir / "input.json").write_text(json.dumps({"instances": instances_of(housing.test)}))
    res = cli("predict", workdir / "input.json")
    assert res.code == 0, res.err
    np.testing.assert_array_equal(res.json()["predictions"], housing.pipeline.predict(housing.test))
    assert call(f"{vertex}/_emulator/health")[0] == 200  # the emulator never went down


def _endpoint(vertex: str, name: str) -> dict:
    status, body = call(f"{vertex}/v1/projects/local/locations/us-central1/endpoints")
    assert status == 200, body
    return next(e for e in body["endpoints"] if e["displayName"] == name)
