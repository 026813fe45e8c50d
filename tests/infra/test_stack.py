"""The local stack: start, probe, stop and restart the emulators as real background processes."""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import signal
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from mlcloud.deploy.errors import EmulatorUnreachable
from mlcloud.infra import stack
from mlcloud.infra.processes import pid_alive

VERTEX_AVAILABLE = importlib.util.find_spec("mlcloud.infra.vertex.__main__") is not None
AVAILABLE = stack.SERVICES if VERTEX_AVAILABLE else ("gcs",)
NO_VERTEX = "mlcloud.infra.vertex has no __main__ yet (being written in parallel); Vertex part skipped"

# --- socket guards: this process (audit hook) and the emulators (sitecustomize on PYTHONPATH) ---

_CONNECTS: list[str] = []


def _audit(event: str, args: tuple) -> None:
    if event == "socket.connect" and args[0].family in (socket.AF_INET, socket.AF_INET6):
        _CONNECTS.append(str(args[1][0]))


sys.addaudithook(_audit)

_CHILD_GUARD = textwrap.dedent(
    """
    import os, socket, sys
    _LOG = os.environ["MLCLOUD_TEST_SOCKET_LOG"]

    def _record(line):
        with open(_LOG, "a") as f:
            f.write(line + "\\n")

    def _audit(event, args):
        if event == "socket.connect" and args[0].family in (socket.AF_INET, socket.AF_INET6):
            import ipaddress
            if not ipaddress.ip_address(args[1][0]).is_loopback:
                _record(f"OUTSIDE {os.getpid()} {args[1]!r}")

    _record(f"GUARDED {os.getpid()}")
    sys.addaudithook(_audit)
    """
)


@pytest.fixture
def socket_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    guard_dir, log = tmp_path / "guard", tmp_path / "sockets.log"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(_CHILD_GUARD)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(guard_dir), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MLCLOUD_TEST_SOCKET_LOG", str(log))
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    del _CONNECTS[:]
    yield log
    lines = log.read_text().splitlines() if log.exists() else []
    assert [line for line in lines if line.startswith("OUTSIDE")] == []
    assert all(ipaddress.ip_address(a).is_loopback for a in _CONNECTS), _CONNECTS


@pytest.fixture
def home(tmp_path: Path, socket_log: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    yield home
    stack.down(home)


def guarded_pids(log: Path) -> set[int]:
    return {int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith("GUARDED")}


def client_for(url: str) -> storage.Client:
    return storage.Client(project="local", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": url})


# --- tests ------------------------------------------------------------------------------------


def test_up_starts_services_healthy_on_loopback(home: Path, socket_log: Path) -> None:
    result = stack.up(home, services=AVAILABLE)

    for name in AVAILABLE:
        service = result[name]
        assert service.ok and not service.already_running
        assert service.url is not None and service.url.startswith("http://127.0.0.1:")
        assert json.loads((home / "run" / f"{name}.json").read_text()) == {"url": service.url, "pid": service.pid}
        assert (home / "logs" / f"{name}.log").is_file()
        assert (home / name).is_dir()
        assert service.pid in guarded_pids(socket_log)  # the child ran with the socket guard
    if not VERTEX_AVAILABLE:
        assert not result.vertex.running


@pytest.mark.skipif(not VERTEX_AVAILABLE, reason=NO_VERTEX)
def test_up_starts_vertex_after_gcs(home: Path) -> None:
    result = stack.up(home)
    assert result.healthy
    log = (home / "logs" / "vertex.log").read_text()
    assert f"--storage-url {result.gcs.url}" in log


def test_status_then_up_again_is_a_no_op(home: Path) -> None:
    first = stack.up(home, services=AVAILABLE)
    probed = stack.status(home)
    again = stack.up(home, services=AVAILABLE)
    ensured, started = stack.ensure(home, services=AVAILABLE)

    assert started is False
    for name in AVAILABLE:
        assert probed[name].ok and probed[name].pid == first[name].pid
        assert again[name].already_running and again[name].pid == first[name].pid
        assert ensured[name].pid == first[name].pid


def test_down_stops_everything_and_removes_ready_files(home: Path) -> None:
    before = stack.up(home, services=AVAILABLE)
    after = stack.down(home)

    for name in stack.SERVICES:
        assert not after[name].running and not after[name].healthy
        assert not (home / "run" / f"{name}.json").exists()
    for name in AVAILABLE:
        assert not pid_alive(before[name].pid)
    _, started = stack.ensure(home, services=AVAILABLE)
    assert started is True


def test_a_killed_process_is_not_running_and_up_restarts_it(home: Path) -> None:
    before = stack.up(home, services=AVAILABLE)
    os.kill(before.gcs.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(before.gcs.pid) and time.monotonic() < deadline:
        time.sleep(0.05)

    probed = stack.status(home)
    assert not probed.gcs.running and not probed.gcs.healthy

    after = stack.up(home, services=AVAILABLE)
    assert after.gcs.ok and not after.gcs.already_running
    assert after.gcs.pid != before.gcs.pid
    if VERTEX_AVAILABLE:  # it pointed at the old Cloud Storage URL, so it was restarted too
        assert after.vertex.ok and after.vertex.pid != before.vertex.pid


def test_a_stale_ready_file_counts_as_not_running(home: Path) -> None:
    (home / "run").mkdir(parents=True)
    (home / "run" / "gcs.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": 2**22 + 7}))
    assert not stack.status(home).gcs.running
    assert stack.up(home, services=("gcs",)).gcs.ok


def test_data_survives_down_and_up(home: Path) -> None:
    url = stack.up(home, services=("gcs",)).gcs.url
    client_for(url).create_bucket("models").blob("iris/1/model.joblib").upload_from_string(b"weights")
    stack.down(home)

    url = stack.up(home, services=("gcs",)).gcs.url
    assert client_for(url).bucket("models").blob("iris/1/model.joblib").download_as_bytes() == b"weights"


def test_concurrent_up_calls_start_one_copy(home: Path, socket_log: Path) -> None:
    results: list[stack.StackStatus] = []
    threads = [threading.Thread(target=lambda: results.append(stack.up(home, services=("gcs",))))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert len(results) == 3
    assert len({r.gcs.pid for r in results}) == 1
    assert sorted(r.gcs.already_running for r in results) == [False, True, True]
    assert len(guarded_pids(socket_log)) == 1  # one emulator process was ever started


def test_a_service_that_fails_to_start_raises_with_its_log(home: Path) -> None:
    (home / "gcs").mkdir(parents=True)
    (home / "gcs" / ".cloudstorage").write_text("not a directory")  # the emulator cannot open its data

    with pytest.raises(EmulatorUnreachable) as caught:
        stack.up(home, services=("gcs",), timeout=30)
    message = str(caught.value)
    assert "Cloud Storage emulator did not start: it exited with status" in message
    assert str(home / "logs" / "gcs.log") in message
    assert "File exists" in message  # from the log's last lines
    assert not stack.status(home).gcs.running
