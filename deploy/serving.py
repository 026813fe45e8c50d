"""The serving runtime: load a bundle once (hash checked before unpickling), validate a request
apart from inference, predict, encode the answer as JSON-safe values.

The model server (``mlcloud.deploy.server``) runs this code behind the Vertex emulator, behind
``mlcloud serve`` and in the custom serving container, so a prediction is computed the same way
everywhere. A request goes through three steps, which the server's micro-batching interleaves:
``prepare`` (schema check, no model), ``infer`` (one model call, possibly for the rows of several
requests) and ``encode`` (numpy to JSON values).

Answers:
- ``predict``: ``{"predictions": [value, ...]}``, one value per instance.
- ``predict_proba`` (``"parameters": {"method": "predict_proba"}``): per instance, a list of
  ``{"label": L, "probability": p}`` in the order of ``classes_``. JSON object keys are always
  strings, so a map keyed by label would turn the integer label ``1`` into ``"1"``; the pairs keep
  each label's own type (strings stay strings, integers stay integers).
- NaN or infinite outputs are sent as ``null``; the answer then carries
  ``"metadata": {"warnings": [...]}`` saying how many and where.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from mlcloud.deploy.errors import InputError, IntegrityError
from mlcloud.deploy.instances import to_rows, to_table

METHODS = ("predict", "predict_proba")


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
        if value.dtype.kind == "f" and np.isfinite(value).all():
            return value.tolist()  # the fast path: nothing to replace
        return [to_json_value(v, warnings) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, warnings) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        warnings.append(f"the model returned {value!r}; sent as null")
        return None
    return value


@dataclass(frozen=True)
class Prepared:
    """A request checked against the schema: the method to call and its rows in schema order."""

    method: str
    rows: list[list[Any]]


class Predictor:
    """A loaded model and its manifest."""

    def __init__(self, model: Any, manifest: dict):
        self.model = model
        self.manifest = manifest
        self.schema = manifest["schema"]
        self._labels: list | None = None

    @classmethod
    def load(cls, artifact: bytes, manifest: dict) -> "Predictor":
        """Check the bytes against the manifest, then load them in the manifest's format
        (joblib, or skops with only its default-trusted types)."""
        verify_artifact(artifact, manifest)
        from mlcloud.deploy.artifacts import load_bytes

        return cls(load_bytes(artifact, manifest.get("artifact", {}).get("format", "joblib")), manifest)

    @property
    def labels(self) -> list:
        """Class labels as plain Python values (classifiers)."""
        if self._labels is None:
            self._labels = to_json_value(list(getattr(self.model, "classes_", [])), [])
        return self._labels

    # -- the three steps -----------------------------------------------------------------------
    def prepare(self, instances: Any, parameters: Any = None) -> Prepared:
        """Check a request against the schema (raises InputError naming instance and field)."""
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            raise InputError("'parameters' must be an object, e.g. {\"method\": \"predict_proba\"}")
        method = parameters.get("method", "predict")
        if method not in METHODS:
            raise InputError(f"unknown method {method!r}: use 'predict' or 'predict_proba'")
        if method == "predict_proba" and not hasattr(self.model, "predict_proba"):
            raise InputError("this model has no predict_proba; use method 'predict'")
        rows = to_rows(instances, self.schema, ignore_extra=bool(parameters.get("ignore_extra_columns")))
        return Prepared(method, rows)

    def infer(self, method: str, rows: list[list[Any]]):
        """One model call over ``rows``: an array with one entry (or row of probabilities) per row."""
        table = to_table(rows, self.schema)
        return getattr(self.model, method)(table)

    def encode(self, method: str, outputs) -> dict:
        """The answer for these outputs (one request's share of a model call)."""
        warnings: list[str] = []
        if method == "predict_proba":
            labels = self.labels
            predictions = [[{"label": label, "probability": p}
                            for label, p in zip(labels, to_json_value(row, warnings))]
                           for row in outputs]
        else:
            predictions = to_json_value(outputs, warnings)
        out: dict = {"predictions": predictions}
        if warnings:
            missing = [i for i, p in enumerate(predictions) if _has_none(p)]
            out["metadata"] = {"warnings": sorted(set(warnings)) + [
                f"instances with a non-finite output sent as null: {missing[:20]}"
                + (f" … ({len(missing)} in all)" if len(missing) > 20 else "")]}
        return out

    def predict(self, instances: Any, parameters: dict | None = None) -> dict:
        prepared = self.prepare(instances, parameters)
        if not prepared.rows:
            return {"predictions": []}
        return self.encode(prepared.method, self.infer(prepared.method, prepared.rows))


def _has_none(p: Any) -> bool:
    if p is None:
        return True
    if isinstance(p, list):
        return any(_has_none(x) for x in p)
    if isinstance(p, dict):
        return p.get("probability", 0) is None
    return False
