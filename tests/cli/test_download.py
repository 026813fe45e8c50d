"""download: the exact bytes of every version back; altered stored bytes are refused by download
(nothing written) and by deploy (nothing created)."""

from __future__ import annotations

import hashlib

from fleet import live, upload_versions


def test_round_trip_every_version(cli, workdir, name):
    upload_versions(cli, workdir, name, ("v1", "v2", "v3"))
    for v in ("v1", "v2", "v3"):
        out = workdir / "back" / f"{v}.joblib"
        out.parent.mkdir(exist_ok=True)
        r = cli("download", "--name", name, "--version", v, "-o", out, "--json")
        assert r.code == 0, r.err
        original = (workdir / f"{v}.joblib").read_bytes()
        assert out.read_bytes() == original
        assert r.json()["sha256"] == hashlib.sha256(original).hexdigest()
        assert r.json()["size"] == len(original)
    into = cli("download", "--name", name, "--version", "v2", "-o", workdir / "back", "--json")
    assert into.code == 0, into.err  # a folder: the file goes inside, named for the version
    assert into.json()["path"] == str(workdir / "back" / f"{name}-v2.joblib")
    written = workdir / "back" / f"{name}-v2.joblib"
    assert written.read_bytes() == (workdir / "v2.joblib").read_bytes()
    assert written.stat().st_mode & 0o044, "an ordinary readable file, not mkstemp's 0600"
    missing = cli("download", "--name", name, "--version", "v9", "-o", workdir / "v9.joblib")
    assert missing.code == 2
    assert missing.err.strip() == f"error: {name} has no version v9 (available: v1, v2, v3)"


def test_altered_bytes_are_refused_by_download_and_deploy(cli, workdir, name, stack):
    from mlcloud.deploy.storage import Storage
    from mlcloud.deploy.vertex import Vertex

    upload_versions(cli, workdir, name, ("v1", "v2"))
    store = Storage.for_emulator(live().gcs.url)
    # v1's artifact is replaced behind mlcloud's back (no precondition): v2's bytes instead
    store._client.bucket("mlcloud-local").blob(f"models/{name}/v1/model.joblib").upload_from_filename(
        str(workdir / "v2.joblib"))
    out = workdir / "v1-back.joblib"
    r = cli("download", "--name", name, "--version", "v1", "-o", out)
    assert r.code == 2
    actual = hashlib.sha256((workdir / "v2.joblib").read_bytes()).hexdigest()
    manifest = hashlib.sha256((workdir / "v1.joblib").read_bytes()).hexdigest()
    assert r.err.strip() == (
        f"error: the stored artifact of {name} v1 does not match its manifest (sha256 {actual[:12]}… "
        f"instead of {manifest[:12]}…): the stored bytes were changed; nothing was written")
    assert not out.exists() and list(workdir.glob(".v1-back*")) == []
    d = cli("deploy", "--name", name, "--version", "v1")
    assert d.code == 2
    assert d.err.strip() == (
        f"error: gs://mlcloud-local/models/{name}/v1/model.joblib does not match its manifest (size "
        "or MD5 differ): the stored bytes were changed; refusing to deploy them. Upload the model "
        "again as a new version")
    vertex = Vertex.for_emulator(live().vertex.url, "local", "us-central1")
    assert vertex.get_endpoint(name) is None and vertex.list_versions(name) == []
    ok = cli("download", "--name", name, "--version", "v2", "-o", workdir / "v2-back.joblib")
    assert ok.code == 0 and (workdir / "v2-back.joblib").read_bytes() == (workdir / "v2.joblib").read_bytes()
