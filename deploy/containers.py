"""The prebuilt Vertex AI scikit-learn serving containers, in one place.

Vertex publishes one image per scikit-learn minor version; a model must be served by the image of
the version that saved it (pickles are not portable across scikit-learn versions).
"""

from __future__ import annotations

# scikit-learn minor version -> image name, as Vertex AI publishes them.
PREBUILT_SKLEARN = {
    "0.20": "sklearn-cpu.0-20", "0.22": "sklearn-cpu.0-22", "0.23": "sklearn-cpu.0-23",
    "0.24": "sklearn-cpu.0-24", "1.0": "sklearn-cpu.1-0", "1.2": "sklearn-cpu.1-2",
    "1.3": "sklearn-cpu.1-3", "1.4": "sklearn-cpu.1-4", "1.5": "sklearn-cpu.1-5",
    "1.6": "sklearn-cpu.1-6",
}


def _registry(region: str) -> str:
    if region.startswith("europe"):
        return "europe-docker.pkg.dev"
    if region.startswith(("asia", "australia")):
        return "asia-docker.pkg.dev"
    return "us-docker.pkg.dev"


def minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def prebuilt_image(sklearn_version: str, region: str) -> str | None:
    """The prebuilt image for this scikit-learn version, or None when Vertex offers none."""
    name = PREBUILT_SKLEARN.get(minor(sklearn_version))
    return f"{_registry(region)}/vertex-ai/prediction/{name}:latest" if name else None


def supported() -> str:
    return ", ".join(PREBUILT_SKLEARN)
