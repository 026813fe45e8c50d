"""Stopping and starting the local stack loses nothing: models, versions, endpoints, serving."""

from __future__ import annotations

import json

import numpy as np

from conftest import instances_of


def test_restart_keeps_everything(cli, workdir, name, housing, housing_v2, home):
    from mlcloud.infra import stack

    cli("init", "--name", name, "--model", housing.path)
    assert cli("upload").code == 0
    assert cli("deploy", "--version", "v1").code == 0
    assert cli("upload", housing_v2.path).code == 0
    assert cli("deploy", "--version", "v2").code == 0
    before = cli("versions", "--json").json()

    down = cli("local", "down", "--json")
    assert down.code == 0
    assert [s["running"] for s in down.json()["services"]] == [False, False]
    assert cli("local", "status").code == 3
    up = cli("local", "up", "--json")
    assert up.code == 0 and all(s["healthy"] for s in up.json()["services"])

    assert cli("versions", "--json").json() == before
    (workdir / "input.json").write_text(json.dumps({"instances": instances_of(housing.test.head(20))}))
    res = cli("predict", "input.json")
    assert res.code == 0, res.err
    assert res.json()["version"] == "v2"
    np.testing.assert_allclose(res.json()["predictions"],
                               housing_v2.pipeline.predict(housing.test.head(20)), rtol=1e-9)
    assert stack.status(home).healthy


def test_commands_start_the_stack_when_it_is_down(cli, workdir, name, housing, home):
    from mlcloud.infra import stack

    stack.down(home)
    res = cli("upload", housing.path, "--name", name)
    assert res.code == 0, res.err
    assert res.err.startswith("started the local stack (storage http://127.0.0.1:")
    assert stack.status(home).healthy
