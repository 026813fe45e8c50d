"""Helpers for tests of the model server: real bundles and real server processes, no mocks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def live_stack(home: Path):
    """The session's local stack as it is now (a test before may have restarted it on new ports)."""
    from mlcloud.infra import stack

    return stack.ensure(home)[0]


def make_bundle(model_path: Path, folder: Path, name: str = "housing", version: str = "v1") -> Path:
    """A bundle folder (model.joblib + mlcloud.json) built the way upload builds its manifest."""
    from mlcloud.deploy import manifest as mf

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "model.joblib"
    shutil.copyfile(model_path, target)
    info = mf.inspect_model(target)
    (folder / "mlcloud.json").write_bytes(mf.dumps(mf.build(name, version, mf.digest(target), info)))
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env() -> dict[str, str]:
    """What any child needs here: PATH, HOME and the test guard; no AIP_* and no cloud settings."""
    keep = ("PATH", "HOME", "PYTHONPATH", "MLCLOUD_TEST_GUARD_LOG", "NO_COLOR", "LANG", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ}


def call(url: str, body=None, method: str | None = None, timeout: float = 60) -> tuple[int, dict | str]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"),
                                 headers={"Content-Type": "application/json"})
    try:
        with _DIRECT.open(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the server exited with {proc.returncode}"
        try:
            if call(url, timeout=30)[0] == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} was not healthy within {timeout} s")


@contextmanager
def running(args: list[str], env: dict[str, str], health: str, log: Path,
            cwd: Path | None = None) -> Iterator[subprocess.Popen]:
    """Start a server process, wait for 200 on ``health``, stop it (SIGTERM) at the end."""
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=out, cwd=cwd)
    try:
        wait_healthy(health, proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def serve_folder(folder: Path, log: Path, *extra: str, env: dict | None = None):
    """``python -m mlcloud.deploy.server FOLDER`` on loopback; yields (process, base URL)."""
    port = free_port()
    args = [sys.executable, "-m", "mlcloud.deploy.server", str(folder), "--host", "127.0.0.1",
            "--port", str(port), *extra]
    url = f"http://127.0.0.1:{port}"
    return running(args, env or base_env(), f"{url}/health", log), url
