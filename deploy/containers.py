"""Serving runtimes, in one place: the prebuilt Vertex AI scikit-learn containers and mlcloud's own
serving image, with what each can load.

Vertex publishes one prebuilt image per scikit-learn minor version; a pickle must be served by the
scikit-learn that saved it, and read by a Python that knows its pickle protocol (Python 3.7 reads
up to protocol 4, 3.8 and later up to 5). mlcloud's own serving image installs the exact versions
recorded in a manifest, so it serves any model.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_ARTIFACT_BYTES = 10 * 1000**3  # Vertex AI: model artifacts may total at most 10 GB
MODEL_FILE_NAMES = ("model.joblib", "model.pkl")  # what Vertex's scikit-learn serving loads
OWN = "mlcloud"  # mlcloud's serving image (infra/), built from a manifest's exact versions


@dataclass(frozen=True)
class Runtime:
    name: str  # "sklearn-1.6", or "mlcloud"
    sklearn: str | None  # the minor version it serves; None: whatever the manifest records
    python: str | None
    max_protocol: int
    compressions: tuple[str, ...]  # joblib compressions it can read
    formats: tuple[str, ...]
    image: str | None  # prebuilt image name, None for mlcloud's own


_JOBLIB = ("none", "zlib", "gzip", "bz2", "lzma", "xz", "compat")


def _prebuilt(sklearn: str, python: str) -> Runtime:
    return Runtime(f"sklearn-{sklearn}", sklearn, python, 4 if python == "3.7" else 5, _JOBLIB,
                   ("joblib",), f"sklearn-cpu.{sklearn.replace('.', '-')}")


RUNTIMES: dict[str, Runtime] = {r.name: r for r in [
    _prebuilt("0.20", "3.7"), _prebuilt("0.22", "3.7"), _prebuilt("0.23", "3.7"),
    _prebuilt("0.24", "3.7"), _prebuilt("1.0", "3.7"), _prebuilt("1.2", "3.10"),
    _prebuilt("1.3", "3.10"), _prebuilt("1.4", "3.10"), _prebuilt("1.5", "3.10"),
    _prebuilt("1.6", "3.10"),
    Runtime(OWN, None, None, 5, _JOBLIB + ("lz4",), ("joblib", "skops"), None),
]}

# scikit-learn minor version -> prebuilt image name, as Vertex AI publishes them.
PREBUILT_SKLEARN = {r.sklearn: r.image for r in RUNTIMES.values() if r.image}


def _registry(region: str) -> str:
    if region.startswith("europe"):
        return "europe-docker.pkg.dev"
    if region.startswith(("asia", "australia")):
        return "asia-docker.pkg.dev"
    return "us-docker.pkg.dev"


def minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def prebuilt_for(sklearn_version: str) -> Runtime | None:
    return RUNTIMES.get(f"sklearn-{minor(sklearn_version)}")


def image_uri(runtime: Runtime, region: str) -> str:
    return f"{_registry(region)}/vertex-ai/prediction/{runtime.image}:latest"


def prebuilt_image(sklearn_version: str, region: str) -> str | None:
    """The prebuilt image for this scikit-learn version, or None when Vertex offers none."""
    runtime = prebuilt_for(sklearn_version)
    return image_uri(runtime, region) if runtime else None


def runtime_of_image(image: str) -> Runtime | None:
    """The prebuilt runtime an image URI names, or None for any other image."""
    for r in RUNTIMES.values():
        if r.image and f"/vertex-ai/prediction/{r.image}:" in image:
            return r
    return None


def supported() -> str:
    return ", ".join(PREBUILT_SKLEARN)
