"""Fetch a bundle (manifest + artifact) from Cloud Storage or a local folder and load it once.

Through ``mlcloud.deploy.storage.Storage``: the storage emulator when ``STORAGE_EMULATOR_HOST``
is set (anonymous credentials, loopback), else real Cloud Storage with the container's default
credentials. ``Predictor.load`` checks the artifact's sha256 against the manifest before
unpickling; the user's own modules shipped with ``upload --code`` (``code/...``, listed in the
manifest with their sha256) are checked the same way, written to a private folder and put first
on ``sys.path`` before the model is loaded.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path, PurePosixPath
from typing import Callable

from mlcloud.deploy.errors import InputError, IntegrityError, ObjectMissing, UserError
from mlcloud.deploy.manifest import ARTIFACT, MANIFEST

CODE_DIR = "code"


def _manifest(raw: bytes, where: str) -> dict:
    try:
        manifest = json.loads(raw)
        manifest["schema"]["features"]
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{where} is not an mlcloud manifest ({type(e).__name__}: {e}); "
                         "upload the model with mlcloud upload") from None
    return manifest


def _install_code(manifest: dict, read: Callable[[str], bytes]) -> None:
    """Fetch the manifest's code files (sha256 checked) into a folder first on sys.path."""
    files = manifest.get("code") or []
    if not files:
        return
    from mlcloud.deploy.artifacts import add_code_path

    root = Path(tempfile.mkdtemp(prefix="mlcloud-serve-code-"))
    for entry in files:
        rel = PurePosixPath(entry["path"])
        if rel.is_absolute() or ".." in rel.parts:
            raise IntegrityError(f"the manifest lists code outside its folder: {entry['path']}")
        data = read(f"{CODE_DIR}/{rel}")
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise IntegrityError(f"{CODE_DIR}/{rel} does not match its sha256 in the manifest: "
                                 "the stored code was changed; the model is not loaded")
        target = root.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    add_code_path(root)


def check_source(source: str) -> None:
    """Refuse a local source that is no folder before anything is bound or loaded."""
    if source.startswith("gs://"):
        return
    folder = Path(source)
    if folder.is_file() and folder.name == MANIFEST:
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"{source} is not a bundle folder: serve a folder holding {MANIFEST} and "
                        f"{ARTIFACT} (e.g. from mlcloud download), or --version vN")


def read_bundle(source: str, *, storage_emulator: str | None = None,
                project: str | None = None) -> tuple[dict, bytes]:
    """(manifest, artifact bytes) of the bundle at ``source`` (gs:// folder or local folder);
    its code files, if any, are installed on the way."""
    if source.startswith("gs://"):
        from mlcloud.deploy.storage import Storage

        store = (Storage.for_emulator(storage_emulator) if storage_emulator
                 else Storage.for_gcp(project))
        folder = source.rstrip("/")
        manifest = _manifest(store.read_bytes(f"{folder}/{MANIFEST}"), f"{folder}/{MANIFEST}")
        _install_code(manifest, lambda rel: store.read_bytes(f"{folder}/{rel}"))
        file = manifest.get("artifact", {}).get("file", ARTIFACT)
        return manifest, store.read_bytes(f"{folder}/{file}")
    check_source(source)
    folder = Path(source)
    if folder.is_file():
        folder = folder.parent
    if not (folder / MANIFEST).is_file():
        raise ObjectMissing(str(folder / MANIFEST))
    manifest = _manifest((folder / MANIFEST).read_bytes(), str(folder / MANIFEST))

    def read(rel: str) -> bytes:
        path = folder / rel
        if not path.is_file():
            raise ObjectMissing(str(path))
        return path.read_bytes()

    _install_code(manifest, read)
    artifact = folder / manifest.get("artifact", {}).get("file", ARTIFACT)
    if not artifact.is_file():
        raise ObjectMissing(str(artifact))
    return manifest, artifact.read_bytes()


def load(source: str, *, storage_emulator: str | None = None, project: str | None = None):
    """The Predictor for the bundle at ``source``; raises IntegrityError for changed bytes."""
    from mlcloud.deploy.serving import Predictor

    manifest, artifact = read_bundle(source, storage_emulator=storage_emulator, project=project)
    return Predictor.load(artifact, manifest)
