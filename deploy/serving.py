"""The serving runtime: load a bundle once (hash checked before unpickling), validate a request
apart from inference, predict, encode the answer as JSON-safe values.

The Vertex emulator, ``mlcloud serve`` and the custom serving container all run this code, so a
prediction in local mode is computed exactly as it is in the cloud.
"""

from __future__ import annotations

import hashlib
import io
import math
from typing import Any

from mlcloud.deploy.errors import InputError, IntegrityError
from mlcloud.deploy.instances import to_rows, to_table


def verify_artifact(artifact: bytes, manifest: dict) -> None:
    """Raise IntegrityError unless the bytes are the ones the manifest describes."""
    expected = manifest.get("artifact", {}).get("sha256")
    actual = hashlib.sha256(artifact).hexdigest()
    if not expected:
        raise IntegrityError("the manifest records no sha256 for the artifact; refusing to load it")
    if actual != expected:
        raise IntegrityError(
            f"artifact sha256 {actual[:12]}… does not match the manifest's {expected[:12]}… "
            f"({manifest.get('name')} {manifest.get('version')}): the stored bytes were changed; "
            "it is never loaded. Upload the model again as a new version")


def to_json_value(value: Any, warnings: list[str]) -> Any:
    """numpy scalars and arrays to plain Python; NaN and infinities to None with a warning."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return [to_json_value(v, warnings) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, warnings) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        warnings.append(f"the model returned {value!r}; sent as null")
        return None
    return value


class Predictor:
    """A loaded model and its manifest."""

    def __init__(self, model: Any, manifest: dict):
        self.model = model
        self.manifest = manifest
        self.schema = manifest["schema"]

    @classmethod
    def load(cls, artifact: bytes, manifest: dict) -> "Predictor":
        verify_artifact(artifact, manifest)
        import joblib

        return cls(joblib.load(io.BytesIO(artifact)), manifest)

    def predict(self, instances: Any, parameters: dict | None = None) -> dict:
        parameters = parameters or {}
        method = parameters.get("method", "predict")
        if method not in ("predict", "predict_proba"):
            raise InputError(f"unknown method {method!r}: use 'predict' or 'predict_proba'")
        rows = to_rows(instances, self.schema, ignore_extra=bool(parameters.get("ignore_extra_columns")))
        if not rows:
            return {"predictions": []}
        table = to_table(rows, self.schema)
        warnings: list[str] = []
        if method == "predict_proba":
            if not hasattr(self.model, "predict_proba"):
                raise InputError("this model has no predict_proba; use method 'predict'")
            labels = to_json_value(list(self.model.classes_), warnings)
            probs = self.model.predict_proba(table)
            predictions = [dict(zip(map(str, labels), to_json_value(p, warnings))) for p in probs]
        else:
            predictions = to_json_value(self.model.predict(table), warnings)
        out: dict = {"predictions": predictions}
        if warnings:
            out["warnings"] = sorted(set(warnings))
        return out
