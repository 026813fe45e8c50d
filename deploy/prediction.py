"""Predict: read instances, check them against the serving version's schema, send, answer.

Rows are checked on the user's machine before anything is sent, and sent as lists in the
schema's order, which every scikit-learn server understands; mlcloud's own runtime rebuilds the
training table from them with the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from mlcloud.deploy.errors import InputError, NotDeployed
from mlcloud.deploy.instances import feature_names, to_rows
from mlcloud.deploy.release import version_aliases
from mlcloud.deploy.target import Target
from mlcloud.deploy.versions import read_manifest


def _no_constants(token: str):
    raise ValueError(f"bare {token} is not valid JSON; use null for a missing value")


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as e:
        raise InputError(f"{where} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except ValueError as e:
        raise InputError(f"{where}: {e}") from None


def read_request(path: Path) -> tuple[list, dict | None]:
    """Instances (and parameters) from a file: {"instances": [...]}, a JSON list, or JSON Lines."""
    if not path.is_file():
        raise InputError(f"input file {path} not found")
    text = path.read_text()
    stripped = text.strip()
    if not stripped:
        raise InputError(f"{path} is empty: give {{\"instances\": [...]}}, a JSON list or JSON Lines")
    lines = [ln for ln in stripped.splitlines() if ln.strip()]
    if path.suffix == ".jsonl" or (len(lines) > 1 and stripped[0] != "[" and _is_jsonl(lines)):
        return [_loads(ln, f"{path} line {i + 1}") for i, ln in enumerate(lines)], None
    body = _loads(text, str(path))
    if isinstance(body, dict):
        if "instances" not in body:
            raise InputError(f"{path} has no 'instances' key: give {{\"instances\": [...]}}")
        params = body.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise InputError(f"{path}: 'parameters' must be an object")
        return body["instances"], params
    if isinstance(body, list):
        return body, None
    raise InputError(f"{path} holds a {type(body).__name__}: give {{\"instances\": [...]}}, "
                     "a JSON list or JSON Lines")


def _is_jsonl(lines: list[str]) -> bool:
    try:
        json.loads(lines[0])
        return True
    except json.JSONDecodeError:
        return False


def serving_state(target: Target) -> tuple[dict, dict[str, str], str]:
    """(endpoint, {modelVersionId: version}, the version with the most traffic)."""
    name = target.settings.model_name
    vertex = target.vertex
    endpoint = vertex.get_endpoint(name)
    if endpoint is None or not endpoint.get("deployedModels"):
        raise NotDeployed(f"{name} is not deployed: run `mlcloud deploy --version vN` first")
    by_id, _ = version_aliases(vertex, name)
    split = endpoint.get("trafficSplit", {})
    top = max(endpoint["deployedModels"], key=lambda d: int(split.get(d["id"], 0)))
    return endpoint, by_id, by_id.get(top.get("modelVersionId", ""), "")


def predict(target: Target, instances: Any, *, parameters: dict | None = None,
            ignore_extra: bool = False, explain: Callable[[str], None] | None = None) -> dict:
    s = target.settings
    if isinstance(instances, list) and not instances:
        return {"predictions": []}
    endpoint, by_id, version = serving_state(target)
    manifest = read_manifest(target.storage, s.models_uri(), s.model_name, version)
    rows = to_rows(instances, manifest["schema"], ignore_extra=ignore_extra)
    if explain:
        explain(f"sending {len(rows)} instance(s) as rows in {version}'s column order: "
                + ", ".join(feature_names(manifest["schema"])))
    response = target.vertex.predict(s.model_name, rows, parameters)
    out = {"predictions": _restore_labels(response.get("predictions", []), manifest, parameters),
           "version": by_id.get(response.get("modelVersionId", ""), "")}
    out.update({k: response[k] for k in ("deployedModelId", "model", "modelVersionId") if k in response})
    return out


def _restore_labels(predictions: list, manifest: dict, parameters: dict | None) -> list:
    """JSON numbers travel as doubles: give integer class labels back their integer type."""
    classes = manifest.get("task", {}).get("classes") or []
    method = (parameters or {}).get("method", "predict")
    if method == "predict" and classes and all(isinstance(c, int) and not isinstance(c, bool)
                                               for c in classes):
        return [int(p) if isinstance(p, float) and p.is_integer() else p for p in predictions]
    return predictions
