"""The version manifest (``mlcloud.json``): what a version is, written last at upload.

It is the contract between upload, deploy, predict and every server: the artifact's hashes, the
versions of the libraries that saved it, the task and the input schema. Later fields (a drift
baseline, evaluation results) are added as new optional keys; readers ignore keys they do not know.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mlcloud.deploy.errors import ModelFileError

MANIFEST_VERSION = 1
ARTIFACT = "model.joblib"  # the file name Vertex's scikit-learn serving expects
MANIFEST = "mlcloud.json"


@dataclass(frozen=True)
class Digest:
    sha256: str
    md5: str  # base64, as Cloud Storage reports md5Hash
    size: int


def digest(path: Path) -> Digest:
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return Digest(sha.hexdigest(), base64.b64encode(md5.digest()).decode(), size)


def inspect_model(path: Path, sample: Path | None = None, code_root: Path | None = None,
                  timeout: float = 600) -> dict:
    """Load the pipeline in a clean Python process (the working directory not on the path; only
    the --code modules added) and return what it says about itself."""
    cmd = [sys.executable, "-P", "-m", "mlcloud.deploy.inspection", str(path.resolve())]
    if sample is not None:
        cmd += ["--sample", str(sample.resolve())]
    if code_root is not None:
        cmd += ["--code", str(code_root)]
    with tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelFileError(f"{path} could not be inspected in a clean Python process: {detail}")
    if not result["ok"]:
        raise ModelFileError(
            f"{path} cannot be loaded as a scikit-learn model in a clean Python process: "
            f"{result['error']}")
    return result["info"]


def build(name: str, version: str, d: Digest, info: dict, *, code: list[dict] | None = None,
          serving: dict | None = None) -> dict:
    from mlcloud.deploy import __version__
    from mlcloud.deploy.layout import artifact_name

    fmt = info.get("format", "joblib")
    extra = {"code": code} if code else {}
    if serving:
        extra["serving"] = serving
    return {
        "manifest_version": MANIFEST_VERSION,
        "name": name,
        "version": version,
        "artifact": {"file": artifact_name(fmt), "format": fmt, "sha256": d.sha256, "md5": d.md5,
                     "size": d.size, **info.get("artifact", {})},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "runtime": info["runtime"],
        "steps": info["steps"],
        "task": info["task"],
        "schema": info["schema"],
        "mlcloud": __version__,
        **extra,
    }


def dumps(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode()
