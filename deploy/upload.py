"""Upload: check the pipeline, then write ``model.joblib`` and its manifest create-only.

Nothing is written before every check has passed; an existing version is never overwritten
(writes carry ifGenerationMatch=0); re-uploading identical bytes changes nothing; the manifest is
written last so that a folder without one is an interrupted upload that the next upload finishes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from mlcloud.deploy import manifest as mf
from mlcloud.deploy.errors import InvalidSetting, ModelFileError, ObjectExists, VersionConflict
from mlcloud.deploy.settings import VERSION_RULE
from mlcloud.deploy.storage import Progress
from mlcloud.deploy.target import Target
from mlcloud.deploy.versions import StoredVersion, list_versions, next_version


@dataclass(frozen=True)
class UploadResult:
    name: str
    version: str
    uri: str
    sha256: str
    size: int
    status: str  # "uploaded", "unchanged" or "completed" (an interrupted upload finished)
    message: str

    def to_json(self) -> dict:
        return asdict(self)


def upload(target: Target, model_file: Path, *, version: str | None = None,
           sample: Path | None = None, progress: Progress | None = None) -> UploadResult:
    s, storage = target.settings, target.storage
    name = s.model_name
    if version is not None and not VERSION_RULE.match(version):
        raise InvalidSetting("version", version, "use v1, v2, … or lowercase letters, digits and '-'")
    if not model_file.is_file():
        raise ModelFileError(f"model file {model_file} not found")
    if sample is not None and not sample.is_file():
        raise ModelFileError(f"sample file {sample} not found")
    info = mf.inspect_model(model_file, sample)
    digest = mf.digest(model_file)

    storage.ensure_bucket(s.bucket_name, create=s.local)
    versions = list_versions(storage, s.models_uri())

    def result(v: str, status: str, message: str) -> UploadResult:
        return UploadResult(name, v, s.version_uri(v), digest.sha256, digest.size, status, message)

    if version is None:
        same = [v for v, sv in versions.items() if sv.complete and _same(sv.manifest, digest)]
        if same:
            return result(same[-1], "unchanged",
                          f"{name} {same[-1]} already holds these bytes; nothing uploaded")
        version = next_version(versions)
    existing = versions.get(version)
    if existing is not None and existing.complete:
        if _same(existing.manifest, digest):
            return result(version, "unchanged", f"{name} {version} already holds these bytes; nothing uploaded")
        raise _conflict(name, version, existing.manifest, next_version(versions))

    finished = _write_artifact(target, s.version_uri(version), existing, model_file, digest, progress)
    manifest = mf.build(name, version, digest, info)
    try:
        storage.create(f"{s.version_uri(version)}/{mf.MANIFEST}", mf.dumps(manifest),
                       size=len(mf.dumps(manifest)), content_type="application/json")
    except ObjectExists:  # another upload completed this version meanwhile
        theirs = list_versions(storage, s.models_uri())[version].manifest
        if _same(theirs, digest):
            return result(version, "unchanged", f"{name} {version} already holds these bytes; nothing uploaded")
        raise _conflict(name, version, theirs, next_version(list_versions(storage, s.models_uri())))
    status = "completed" if finished else "uploaded"
    verb = "finished the interrupted upload of" if finished else "uploaded"
    return result(version, status, f"{verb} {name} {version}")


def _same(manifest: dict | None, digest: mf.Digest) -> bool:
    return bool(manifest) and manifest["artifact"]["sha256"] == digest.sha256


def _conflict(name: str, version: str, manifest: dict | None, free: str) -> VersionConflict:
    theirs = (manifest or {}).get("artifact", {}).get("sha256", "?")[:12]
    return VersionConflict(
        f"{name} {version} already exists with other bytes (sha256 {theirs}…); versions are never "
        f"overwritten: upload as {free} (--version {free}, or leave --version out)")


def _write_artifact(target: Target, uri: str, existing: StoredVersion | None, path: Path,
                    digest: mf.Digest, progress: Progress | None) -> bool:
    """Write model.joblib create-only. True when an interrupted upload's artifact was reused."""
    storage = target.storage
    artifact = f"{uri}/{mf.ARTIFACT}"
    stale = existing.artifact if existing is not None else None
    if stale is not None:
        if stale.md5 == digest.md5 and stale.size == digest.size:
            return True
        storage.delete(artifact, generation=stale.generation)  # only the interrupted upload's bytes
    try:
        with open(path, "rb") as f:
            storage.create(artifact, f, size=digest.size, content_type="application/octet-stream",
                           progress=progress)
    except ObjectExists:
        now = storage.stat(artifact)
        if now is None or now.md5 != digest.md5:
            raise VersionConflict(f"another upload is writing {uri} right now; run upload again") from None
    return False
