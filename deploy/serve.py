"""Serve on this machine (``mlcloud serve``) and build the serving container (``mlcloud image``).

``serve_version`` serves a stored version straight from its folder in the bucket (the storage
emulator in local mode), ``serve_folder`` a bundle folder on disk; both run the model server of
``mlcloud.deploy.server`` in this process, with Vertex's ``AIP_*`` variables honoured when set.

``image_context`` writes a Docker build context for a version: ``infra/serving.Dockerfile``, a
``requirements.txt`` pinning the exact scikit-learn, numpy and joblib versions the manifest
recorded (plus the server's own libraries at the versions installed here), and a copy of the
``mlcloud.deploy`` package; the image's entrypoint is the model server. It returns the commands
that build and push the image and deploy the version with it.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Callable, Mapping

from mlcloud.deploy.errors import UserError
from mlcloud.deploy.server import ServerConfig, serve
from mlcloud.deploy.target import Target
from mlcloud.deploy.versions import read_manifest

Announce = Callable[[str, dict], None]
# Libraries the server imports besides the model's own; pinned at the versions installed here.
SERVER_LIBRARIES = ("pandas", "scipy", "threadpoolctl", "google-cloud-storage", "uvicorn",
                    "httptools", "uvloop")


def serve_version(target: Target, version: str, env: Mapping[str, str], *, host: str,
                  port: int | None, workers: int | None, announce: Announce | None = None) -> int:
    s = target.settings
    read_manifest(target.storage, s.models_uri(), s.model_name, version)  # VersionNotFound first
    config = ServerConfig.resolve(
        {k: v for k, v in env.items() if k != "AIP_STORAGE_URI"}, source=s.version_uri(version),
        storage_emulator=s.storage_emulator if s.local else None,
        project=None if s.local else s.gcp_project, host=host, port=port, workers=workers)
    return serve(config, announce=announce)


def serve_folder(folder: Path, env: Mapping[str, str], *, host: str, port: int | None,
                 workers: int | None, announce: Announce | None = None) -> int:
    config = ServerConfig.resolve({k: v for k, v in env.items() if k != "AIP_STORAGE_URI"},
                                  source=str(folder), host=host, port=port, workers=workers)
    return serve(config, announce=announce)


@dataclass
class ImagePlan:
    name: str
    version: str
    image: str
    context: str
    python: str
    requirements: list[str]
    commands: list[str]

    def to_json(self) -> dict:
        return asdict(self)


def _installed(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def requirements(manifest: dict) -> list[str]:
    runtime = manifest.get("runtime", {})
    pins = {"scikit-learn": runtime.get("sklearn"), "numpy": runtime.get("numpy"),
            "joblib": runtime.get("joblib")}
    if manifest.get("artifact", {}).get("format") == "skops":
        pins["skops"] = _installed("skops")
    for package in SERVER_LIBRARIES:
        pins[package] = _installed(package)
    missing = [k for k in ("scikit-learn", "numpy", "joblib") if not pins[k]]
    if missing:
        raise UserError(f"the manifest records no version of {', '.join(missing)}; upload the model "
                        "again with this mlcloud")
    return [f"{k}=={v}" if v else k for k, v in pins.items()]


def default_image(target: Target, version: str, repository: str | None) -> str:
    s = target.settings
    if not repository:
        project = s.project or ("PROJECT" if s.local else s.gcp_project)
        repository = f"{s.region}-docker.pkg.dev/{project}/mlcloud"
    return f"{repository.rstrip('/')}/{s.model_name}:{version}"


def image_context(target: Target, version: str, out: Path, *, repository: str | None = None,
                  image: str | None = None) -> ImagePlan:
    s = target.settings
    manifest = read_manifest(target.storage, s.models_uri(), s.model_name, version)
    python = manifest.get("runtime", {}).get("python")
    if not python:
        raise UserError("the manifest records no Python version; upload the model again")
    pins = requirements(manifest)
    image = image or default_image(target, version, repository)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} is not empty; give another --output folder")
    out.mkdir(parents=True, exist_ok=True)
    dockerfile = resources.files("mlcloud.infra").joinpath("serving.Dockerfile").read_text("utf-8")
    (out / "Dockerfile").write_text(dockerfile)
    (out / "requirements.txt").write_text("\n".join(pins) + "\n")
    package = Path(str(resources.files("mlcloud.deploy")))
    shutil.copytree(package, out / "mlcloud" / "deploy",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    registry = image.split("/", 1)[0]
    commands = [
        f"gcloud auth configure-docker {registry}" if registry.endswith("docker.pkg.dev") else "",
        f"docker build --build-arg PYTHON_VERSION={python} -t {image} {out}",
        f"docker push {image}",
        f"mlcloud deploy --version {version} --image {image}",
    ]
    return ImagePlan(s.model_name, version, image, str(out), python, pins, [c for c in commands if c])
