"""Upload: check the pipeline, then write its artifact, its code and its manifest create-only.

Nothing is written before every check has passed; an existing version is never overwritten
(writes carry ifGenerationMatch=0); re-uploading identical bytes changes nothing; the manifest is
written last so that a folder without one is an interrupted upload that the next upload finishes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlcloud.deploy import checks, containers, layout
from mlcloud.deploy import manifest as mf
from mlcloud.deploy.errors import InvalidSetting, ModelFileError, ObjectExists, VersionConflict
from mlcloud.deploy.settings import VERSION_RULE
from mlcloud.deploy.storage import ObjectInfo, Progress
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
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class UploadOptions:
    version: str | None = None
    sample: Path | None = None
    code: tuple[Path, ...] = ()
    runtime: str | None = None  # a name from containers.RUNTIMES; None: decided by the target
    force: bool = False  # accept a scikit-learn version the runtime does not serve
    max_bytes: int = containers.MAX_ARTIFACT_BYTES
    fmt: str | None = None  # expect "joblib" or "skops"; None: detected


def _runtime_warnings(target: Target, info: dict, opts: UploadOptions) -> tuple[list[str], dict | None]:
    """Check the artifact against the runtime that will serve it (warnings, manifest 'serving')."""
    if opts.runtime:
        runtime = checks.runtime_named(opts.runtime)
        warnings = checks.check_runtime(info, runtime, force=opts.force)
        return warnings, {"runtime": runtime.name, **({"forced": True} if warnings else {})}
    if target.settings.local:
        return [], None  # the emulator serves with the installed libraries, like mlcloud's image
    prebuilt = containers.prebuilt_for(info["runtime"]["sklearn"])
    if prebuilt is None:
        return [f"Vertex AI has no prebuilt container for scikit-learn {info['runtime']['sklearn']}:"
                " deploy will need mlcloud's serving image (--runtime mlcloud)"], None
    return checks.check_runtime(info, prebuilt, force=opts.force), None


def upload(target: Target, model_path: Path, opts: UploadOptions = UploadOptions(), *,
           progress: Progress | None = None) -> UploadResult:
    s, storage = target.settings, target.storage
    s.model_name  # a missing name is refused before any work
    version = opts.version
    if version is not None and (not VERSION_RULE.match(version) or version == "default"):
        raise InvalidSetting("version", version, "use v1, v2, … or lowercase letters, digits and '-'")
    model_file = layout.find_model_file(model_path)
    if opts.sample is not None and not opts.sample.is_file():
        raise ModelFileError(f"sample file {opts.sample} not found")
    bundle = layout.collect_code(list(opts.code))
    try:
        info = mf.inspect_model(model_file, opts.sample, bundle.root)
        if opts.fmt and info.get("format") != opts.fmt:
            raise ModelFileError(f"{model_file} is a {info.get('format')} file, not {opts.fmt}"
                                 + (": save it with skops.io.dump(model, 'model.skops')"
                                    if opts.fmt == "skops" else ""))
        digest = mf.digest(model_file)
        checks.check_size(digest.size + bundle.size, opts.max_bytes)
        warnings, serving = _runtime_warnings(target, info, opts)
        if not s.local:
            storage.ensure_bucket(s.bucket_name, create=False)
            checks.check_bucket_location(s.bucket_name, *storage.bucket_location(s.bucket_name),
                                         s.region)
        return _write(target, model_file, digest, info, bundle, serving, version, warnings, progress)
    finally:
        bundle.close()


def _write(target: Target, model_file: Path, digest: mf.Digest, info: dict,
           bundle: layout.CodeBundle, serving: dict | None, version: str | None,
           warnings: list[str], progress: Progress | None) -> UploadResult:
    s, storage = target.settings, target.storage
    name = s.model_name
    storage.ensure_bucket(s.bucket_name, create=s.local)
    versions = list_versions(storage, s.models_uri())
    artifact = layout.artifact_name(info.get("format", "joblib"))
    renamed = f" (stored as {artifact})" if model_file.name != artifact else ""

    def result(v: str, status: str, message: str) -> UploadResult:
        return UploadResult(name, v, s.version_uri(v), digest.sha256, digest.size, status,
                            message, warnings)

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

    uri = s.version_uri(version)
    finished = _write_file(target, f"{uri}/{artifact}", _stale(storage, existing, artifact),
                           model_file, digest, progress)
    for rel, path in bundle.files:
        code_uri = f"{uri}/{layout.CODE_DIR}/{rel}"
        _write_file(target, code_uri, storage.stat(code_uri) if existing else None, path,
                    mf.digest(path), None)
    manifest = mf.build(name, version, digest, info, code=bundle.digests(), serving=serving)
    body = mf.dumps(manifest)
    try:
        storage.create(f"{uri}/{mf.MANIFEST}", body, size=len(body), content_type="application/json")
    except ObjectExists:  # another upload completed this version meanwhile
        now = list_versions(storage, s.models_uri())
        if _same(now[version].manifest, digest):
            return result(version, "unchanged", f"{name} {version} already holds these bytes; nothing uploaded")
        raise _conflict(name, version, now[version].manifest, next_version(now)) from None
    status = "completed" if finished else "uploaded"
    verb = "finished the interrupted upload of" if finished else "uploaded"
    return result(version, status, f"{verb} {name} {version}{renamed}")


def _stale(storage, existing: StoredVersion | None, artifact: str) -> ObjectInfo | None:
    if existing is None:
        return None
    if existing.artifact is not None and existing.artifact.uri.endswith("/" + artifact):
        return existing.artifact
    return storage.stat(f"{existing.uri}/{artifact}")


def _same(manifest: dict | None, digest: mf.Digest) -> bool:
    return bool(manifest) and manifest["artifact"]["sha256"] == digest.sha256


def _conflict(name: str, version: str, manifest: dict | None, free: str) -> VersionConflict:
    theirs = (manifest or {}).get("artifact", {}).get("sha256", "?")[:12]
    return VersionConflict(
        f"{name} {version} already exists with other bytes (sha256 {theirs}…); versions are never "
        f"overwritten: upload as {free} (--version {free}, or leave --version out)")


def _write_file(target: Target, uri: str, stale: ObjectInfo | None, path: Path,
                digest: mf.Digest, progress: Progress | None) -> bool:
    """Write one file create-only. True when an interrupted upload's copy was reused."""
    storage = target.storage
    if stale is not None:
        if stale.md5 == digest.md5 and stale.size == digest.size:
            return True
        storage.delete(uri, generation=stale.generation)  # only the interrupted upload's bytes
    try:
        with open(path, "rb") as f:
            storage.create(uri, f, size=digest.size, content_type="application/octet-stream",
                           progress=progress)
    except ObjectExists:
        now = storage.stat(uri)
        if now is None or now.md5 != digest.md5:
            raise VersionConflict(f"another upload is writing {uri} right now; run upload again") from None
    return False
