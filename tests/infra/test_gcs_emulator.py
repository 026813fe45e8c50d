"""The Cloud Storage emulator, run as a real server process and driven by google-cloud-storage."""

from __future__ import annotations

import base64
import hashlib
import io
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import google_crc32c
import pytest
from google.api_core.exceptions import PreconditionFailed
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

# --- socket guard: every connection made by this process must stay on 127.0.0.0/8 -------------

_CONNECTS: list[str] = []


def _audit(event: str, args: tuple) -> None:
    if event == "socket.connect":
        sock, address = args
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            _CONNECTS.append(str(address[0]))


sys.addaudithook(_audit)


def _loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


@pytest.fixture(autouse=True)
def no_connection_leaves_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    del _CONNECTS[:]
    yield
    assert _CONNECTS, "the guard saw no connection at all: is the audit hook working?"
    outside = [a for a in _CONNECTS if not _loopback(a)]
    assert outside == [], f"connections left loopback: {outside}"


# --- the emulator process ---------------------------------------------------------------------


@dataclass
class Emulator:
    proc: subprocess.Popen[bytes]
    url: str
    ready_file: Path

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout=10)


def start_emulator(data: Path, ready_file: Path) -> Emulator:
    cmd = [sys.executable, "-m", "mlcloud.infra.gcs", "--data", str(data), "--port", "0",
           "--ready-file", str(ready_file)]
    log = ready_file.with_suffix(".log")
    ready_file.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not ready_file.exists():
        if proc.poll() is not None:
            raise AssertionError(f"emulator exited {proc.returncode}: {log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("emulator did not write its ready file within 30 s")
        time.sleep(0.05)
    info = json.loads(ready_file.read_text())
    assert info["pid"] == proc.pid
    assert info["url"].startswith("http://127.0.0.1:")
    return Emulator(proc, info["url"], ready_file)


def make_client(url: str) -> storage.Client:
    return storage.Client(project="local", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": url})


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    root = tmp_path_factory.mktemp("gcs")
    emu = start_emulator(root / "data", root / "run" / "gcs.json")
    yield emu
    emu.stop()


@pytest.fixture
def client(emulator: Emulator) -> storage.Client:
    c = make_client(emulator.url)
    response = c._http.post(emulator.url + "/_emulator/reset")  # the client's own transport
    assert response.status_code == 200
    return c


@pytest.fixture
def bucket(client: storage.Client) -> storage.Bucket:
    return client.create_bucket("models")


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def crc32c_b64(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


MB = 1024 * 1024

# --- tests ------------------------------------------------------------------------------------


def test_health_route_answers_json(client: storage.Client, emulator: Emulator) -> None:
    response = client._http.get(emulator.url + "/_emulator/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["pid"] == emulator.proc.pid


@pytest.mark.parametrize("size", [0, 1000, 12 * MB])
def test_bytes_read_back_equal_bytes_written(bucket: storage.Bucket, size: int) -> None:
    data = os.urandom(size)
    blob = bucket.blob("m/model.joblib")
    if size > 8 * MB:
        blob.chunk_size = 4 * MB  # resumable, in three chunks
    blob.upload_from_string(data, content_type="application/octet-stream")

    assert bucket.blob("m/model.joblib").download_as_bytes() == data
    stored = bucket.get_blob("m/model.joblib")
    assert stored.size == size
    assert stored.md5_hash == md5_b64(data)
    assert stored.crc32c == crc32c_b64(data)


def test_generation_changes_on_every_overwrite(bucket: storage.Bucket) -> None:
    blob = bucket.blob("a.txt")
    generations = []
    for i in range(3):
        blob.upload_from_string(f"v{i}".encode())
        generations.append(bucket.get_blob("a.txt").generation)
    assert len(set(generations)) == 3
    assert generations == sorted(generations)
    assert blob.generation == generations[-1]


def test_create_only_small_write_is_refused_and_bytes_kept(bucket: storage.Bucket) -> None:
    bucket.blob("v1/model.joblib").upload_from_string(b"first", if_generation_match=0)
    with pytest.raises(PreconditionFailed) as caught:
        bucket.blob("v1/model.joblib").upload_from_string(b"second", if_generation_match=0)
    assert caught.value.code == 412
    assert "pre-conditions you specified did not hold" in caught.value.message
    assert bucket.blob("v1/model.joblib").download_as_bytes() == b"first"


@pytest.mark.parametrize("how", ["chunked", "single_request"])
def test_create_only_large_resumable_write_is_refused_and_bytes_kept(
    bucket: storage.Bucket, how: str
) -> None:
    first, second = os.urandom(12 * MB), os.urandom(12 * MB)

    def upload(data: bytes) -> None:
        blob = bucket.blob("big.bin")
        if how == "chunked":
            blob.chunk_size = 4 * MB
            blob.upload_from_string(data, if_generation_match=0)
        else:  # more than 8 MB from a file: one resumable session, one PUT
            blob.upload_from_file(io.BytesIO(data), size=len(data), if_generation_match=0)

    upload(first)
    with pytest.raises(PreconditionFailed):
        upload(second)
    assert bucket.blob("big.bin").download_as_bytes() == first


def test_resumable_precondition_is_checked_again_at_the_final_chunk(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    data = b"x" * 1000
    session_url = bucket.blob("race.bin").create_resumable_upload_session(
        size=len(data), if_generation_match=0
    )
    assert session_url.startswith(client._connection.API_BASE_URL)
    assert "ifGenerationMatch=0" in session_url
    bucket.blob("race.bin").upload_from_string(b"winner", if_generation_match=0)

    response = client._http.put(session_url, data=data,
                                headers={"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"})
    assert response.status_code == 412
    assert response.json() == {"error": {
        "code": 412,
        "message": "At least one of the pre-conditions you specified did not hold.",
        "errors": [{
            "domain": "global", "reason": "conditionNotMet",
            "message": response.json()["error"]["errors"][0]["message"],
            "locationType": "header", "location": "If-Match",
        }],
    }}
    assert bucket.blob("race.bin").download_as_bytes() == b"winner"


def test_write_with_matching_generation_succeeds_and_stale_one_is_refused(bucket: storage.Bucket) -> None:
    bucket.blob("a").upload_from_string(b"one")
    gen1 = bucket.get_blob("a").generation
    bucket.blob("a").upload_from_string(b"two", if_generation_match=gen1)
    with pytest.raises(PreconditionFailed):
        bucket.blob("a").upload_from_string(b"three", if_generation_match=gen1)
    assert bucket.blob("a").download_as_bytes() == b"two"


def test_delete_with_if_generation_match_deletes_only_that_generation(bucket: storage.Bucket) -> None:
    bucket.blob("a").upload_from_string(b"one")
    gen1 = bucket.get_blob("a").generation
    bucket.blob("a").upload_from_string(b"two")
    with pytest.raises(PreconditionFailed):
        bucket.blob("a").delete(if_generation_match=gen1)
    assert bucket.blob("a").download_as_bytes() == b"two"
    bucket.blob("a").delete(if_generation_match=bucket.get_blob("a").generation)
    assert bucket.get_blob("a") is None


def test_restart_keeps_buckets_and_objects(tmp_path: Path) -> None:
    data, ready = tmp_path / "data", tmp_path / "gcs.json"
    emu = start_emulator(data, ready)
    try:
        make_client(emu.url).create_bucket("keep").blob("k/v.txt").upload_from_string(b"kept")
    finally:
        assert emu.stop() == 0  # SIGTERM stops it cleanly
    assert not ready.exists()

    emu = start_emulator(data, ready)
    try:
        client = make_client(emu.url)
        assert [b.name for b in client.list_buckets()] == ["keep"]
        assert client.bucket("keep").blob("k/v.txt").download_as_bytes() == b"kept"
    finally:
        emu.stop()


def test_refuses_a_host_outside_loopback(tmp_path: Path) -> None:
    _CONNECTS.append("127.0.0.1")  # this test makes no connection; keep the guard's sanity check
    result = subprocess.run(
        [sys.executable, "-m", "mlcloud.infra.gcs", "--data", str(tmp_path), "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "not a loopback address" in result.stderr


def test_copy_and_metadata_patch_honour_preconditions(bucket: storage.Bucket) -> None:
    bucket.blob("src").upload_from_string(b"source")
    bucket.blob("dst").upload_from_string(b"taken")
    with pytest.raises(PreconditionFailed):
        bucket.copy_blob(bucket.blob("src"), bucket, "dst", if_generation_match=0)
    assert bucket.blob("dst").download_as_bytes() == b"taken"

    blob = bucket.get_blob("dst")
    blob.metadata = {"stage": "prod"}
    blob.patch(if_metageneration_match=blob.metageneration)
    blob.metadata = {"stage": "old"}
    with pytest.raises(PreconditionFailed):
        blob.patch(if_metageneration_match=1)
    assert bucket.get_blob("dst").metadata == {"stage": "prod"}
