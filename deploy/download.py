"""Download a version's artifact, checked against its manifest before it is kept."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from mlcloud.deploy.errors import IntegrityError
from mlcloud.deploy.manifest import ARTIFACT
from mlcloud.deploy.storage import Progress
from mlcloud.deploy.target import Target
from mlcloud.deploy.versions import read_manifest


@dataclass(frozen=True)
class DownloadResult:
    version: str
    path: str
    sha256: str
    size: int

    def to_json(self) -> dict:
        return asdict(self)


class _Hashing:
    def __init__(self, f):
        self.f, self.sha, self.size = f, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.f.write(data)


def download(target: Target, version: str, out: Path, progress: Progress | None = None) -> DownloadResult:
    """Write the artifact to ``out`` only if its sha256 matches the manifest (atomic rename)."""
    s = target.settings
    manifest = read_manifest(target.storage, s.models_uri(), s.model_name, version)
    out = out.resolve()
    if out.is_dir():
        out = out / f"{s.model_name}-{version}{Path(manifest['artifact'].get('file', ARTIFACT)).suffix}"
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # an ordinary file, not mkstemp's private 0600
    try:
        with os.fdopen(fd, "wb") as f:
            sink = _Hashing(f)
            artifact = manifest["artifact"].get("file", ARTIFACT)
            target.storage.download_to_file(f"{s.version_uri(version)}/{artifact}", sink, progress)
        if sink.sha.hexdigest() != manifest["artifact"]["sha256"]:
            raise IntegrityError(
                f"the stored artifact of {s.model_name} {version} does not match its manifest "
                f"(sha256 {sink.sha.hexdigest()[:12]}… instead of {manifest['artifact']['sha256'][:12]}…): "
                "the stored bytes were changed; nothing was written")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return DownloadResult(version, str(out), sink.sha.hexdigest(), sink.size)
