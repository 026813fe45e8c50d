"""mlcloud serve (an uploaded version, or a bundle folder) and mlcloud image (the container build)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import instances_of
from modelserver import call, make_bundle


def _serve(args: list[str], cwd: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """Run `mlcloud serve ... --port 0` and read the URL it announces on stderr."""
    out = log.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "mlcloud.cli", "serve", *args, "--port", "0"],
                            cwd=cwd, stdout=out, stderr=out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        m = re.search(r"serving \S+ \S+ at (http://127\.0\.0\.1:\d+)", log.read_text())
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"mlcloud serve did not start:\n{log.read_text()}")


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    return proc.wait(30)


def test_serve_an_uploaded_version(cli, workdir, name, housing):
    assert cli("init", "--name", name, "--model", housing.path).code == 0
    assert cli("upload").code == 0
    proc, url = _serve(["--version", "v1", "--workers", "1"], workdir, workdir / "serve.log")
    try:
        rows = instances_of(housing.test)
        status, body = call(f"{url}/predict", {"instances": rows})
        assert status == 200
        assert body["predictions"] == housing.pipeline.predict(housing.test).tolist()
        assert call(f"{url}/health")[1]["version"] == "v1"
    finally:
        code = _stop(proc)
    log = (workdir / "serve.log").read_text()
    assert code == 0 and "Traceback" not in log, log


def test_serve_a_bundle_folder(housing, tmp_path):
    folder = make_bundle(housing.path, tmp_path / "bundle", "housing", "v7")
    proc, url = _serve([str(folder), "--workers", "0"], tmp_path, tmp_path / "serve.log")
    try:
        rows = instances_of(housing.test.head(5))
        status, body = call(f"{url}/predict", {"instances": rows})
        assert (status, body["predictions"]) == (200, housing.pipeline.predict(housing.test.head(5)).tolist())
        assert "housing v7" in call(f"{url}/")[1]
    finally:
        assert _stop(proc) == 0


@pytest.mark.parametrize("args, fragment", [
    ([], "serve needs one model"),
    (["nowhere"], "is not a bundle folder"),
])
def test_serve_refusals_exit_2(cli, workdir, args, fragment):
    r = cli("serve", *args, "--port", "0")
    assert r.code == 2 and fragment in r.err and "Traceback" not in r.err


def test_serve_on_a_port_in_use_is_refused(cli, workdir, housing, tmp_path):
    import socket

    folder = make_bundle(housing.path, tmp_path / "bundle")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        r = cli("serve", folder, "--port", str(taken.getsockname()[1]))
    assert r.code == 2 and "pick another with --port" in r.err, r.err


def test_serve_unknown_version_is_refused(cli, workdir, name, housing):
    assert cli("init", "--name", name, "--model", housing.path).code == 0
    assert cli("upload").code == 0
    r = cli("serve", "--version", "v9", "--port", "0")
    assert r.code == 2 and "no version v9" in r.err


def test_image_writes_a_pinned_build_context_and_prints_the_commands(cli, workdir, name, housing):
    assert cli("init", "--name", name, "--model", housing.path).code == 0
    assert cli("upload").code == 0
    r = cli("image", "--version", "v1", "-o", workdir / "ctx", "--repository",
            "europe-west4-docker.pkg.dev/my-project/serving")
    assert r.code == 0, r.err
    image = f"europe-west4-docker.pkg.dev/my-project/serving/{name}:v1"
    import joblib
    import numpy
    import platform
    import sklearn

    assert r.out.splitlines() == [
        "gcloud auth configure-docker europe-west4-docker.pkg.dev",
        f"docker build --build-arg PYTHON_VERSION={platform.python_version()} -t {image} {workdir / 'ctx'}",
        f"docker push {image}",
        f"mlcloud deploy --version v1 --image {image}",
    ]
    pins = (workdir / "ctx" / "requirements.txt").read_text().splitlines()
    assert f"scikit-learn=={sklearn.__version__}" in pins
    assert f"numpy=={numpy.__version__}" in pins and f"joblib=={joblib.__version__}" in pins
    dockerfile = (workdir / "ctx" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m", "mlcloud.deploy.server"]' in dockerfile
    assert "FROM python:${PYTHON_VERSION}-slim" in dockerfile
    assert (workdir / "ctx" / "mlcloud" / "deploy" / "server" / "page.html").is_file()
    again = cli("image", "--version", "v1", "-o", workdir / "ctx")
    assert again.code == 2 and "not empty" in again.err


def test_deploy_without_a_prebuilt_container_names_the_image_route(cli, workdir, name, housing):
    from mlcloud.deploy import containers
    import sklearn

    if containers.prebuilt_image(sklearn.__version__, "us-central1"):
        pytest.skip(f"Vertex has a prebuilt container for scikit-learn {sklearn.__version__}")
    assert cli("init", "--name", name, "--model", housing.path).code == 0
    assert cli("upload").code == 0
    r = cli("deploy", "--version", "v1")
    assert r.code == 0
    assert "mlcloud image --version v1" in r.err
