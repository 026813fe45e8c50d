"""What versions of a model exist in the bucket, and which name the next one takes.

A version is the folder ``gs://BUCKET/models/NAME/VERSION/``; it is complete once its manifest
``mlcloud.json`` exists (the manifest is written last). A folder without one is an interrupted
upload.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from mlcloud.deploy.errors import ObjectMissing, VersionNotFound
from mlcloud.deploy.manifest import ARTIFACT, MANIFEST
from mlcloud.deploy.storage import ObjectInfo, Storage

_NUMBERED = re.compile(r"^v([1-9][0-9]*)$")


@dataclass(frozen=True)
class StoredVersion:
    version: str
    uri: str
    manifest: dict | None
    artifact: ObjectInfo | None

    @property
    def complete(self) -> bool:
        return self.manifest is not None


def sort_key(version: str) -> tuple:
    m = _NUMBERED.match(version)
    return (0, int(m.group(1)), "") if m else (1, 0, version)


def list_versions(storage: Storage, models_uri: str) -> dict[str, StoredVersion]:
    out = {}
    folders = [f for f in storage.list_folders(models_uri) if not f.startswith("_")]  # _history
    for v in sorted(folders, key=sort_key):
        uri = f"{models_uri}/{v}"
        try:
            manifest = json.loads(storage.read_bytes(f"{uri}/{MANIFEST}"))
        except ObjectMissing:  # an interrupted upload: no manifest yet
            manifest = None
        out[v] = StoredVersion(v, uri, manifest, storage.stat(f"{uri}/{ARTIFACT}"))
    return out


def next_version(versions: dict[str, StoredVersion]) -> str:
    numbers = [int(m.group(1)) for v, sv in versions.items()
               if sv.complete and (m := _NUMBERED.match(v))]
    return f"v{max(numbers, default=0) + 1}"


def complete(versions: dict[str, StoredVersion]) -> list[str]:
    return [v for v, sv in versions.items() if sv.complete]


def read_manifest(storage: Storage, models_uri: str, name: str, version: str) -> dict:
    try:
        return json.loads(storage.read_bytes(f"{models_uri}/{version}/{MANIFEST}"))
    except ObjectMissing:
        raise VersionNotFound(name, version, complete(list_versions(storage, models_uri))) from None
