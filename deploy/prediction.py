"""Predict: read instances, check them against the serving version's schema, send, answer.

Rows are checked on the user's machine before anything is sent, and sent as lists in the
schema's order, which every scikit-learn server understands; mlcloud's own runtime rebuilds the
training table from them with the manifest. Requests over the service's payload limit are split
into consecutive chunks, sent with bounded concurrency, and the answers joined in input order.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mlcloud.deploy.errors import InputError, MlcloudError, NotDeployed, RemoteError
from mlcloud.deploy.instances import feature_names, to_rows
from mlcloud.deploy.release import version_aliases
from mlcloud.deploy.target import Target
from mlcloud.deploy.versions import read_manifest

ONLINE_LIMIT = 1_500_000  # bytes: Vertex AI refuses online prediction requests over 1.5 MB
BATCH_HINT = 100_000_000  # bytes: beyond this, batch prediction is the better tool

Note = Callable[[str], None]


@dataclass(frozen=True)
class Limits:
    max_request_bytes: int = ONLINE_LIMIT
    split: bool = True
    concurrency: int = 4
    batch_hint_bytes: int = BATCH_HINT


# -- reading input ---------------------------------------------------------------------------
def _bare_constant(text: str) -> tuple[str, int, int] | None:
    """The first NaN/Infinity/-Infinity token outside strings, with its line and column."""
    in_string = escaped = False
    i = 0
    while i < len(text):
        c = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        else:
            for token in ("-Infinity", "Infinity", "NaN"):
                if text.startswith(token, i):
                    line = text.count("\n", 0, i) + 1
                    return token, line, i - (text.rfind("\n", 0, i) + 1) + 1
        i += 1
    return None


def _loads(text: str, where: str) -> Any:
    def refuse(_token: str):
        raise ValueError

    try:
        return json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as e:
        raise InputError(f"{where} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except ValueError:
        token, line, col = _bare_constant(text) or ("NaN", 0, 0)
        raise InputError(f"{where} line {line} column {col}: {token} is not valid JSON (NaN and "
                         "Infinity are not JSON numbers); write null for a missing value") from None


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


# -- splitting -------------------------------------------------------------------------------
def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} bytes"


def chunk(rows: list, parameters: dict | None, limits: Limits) -> list[tuple[int, int]]:
    """Consecutive [start, end) ranges whose requests each fit under the limit."""
    overhead = _size({"instances": [], **({"parameters": parameters} if parameters else {})})
    sizes = [_size(r) for r in rows]
    total = overhead + sum(sizes) + max(len(rows) - 1, 0)
    limit = limits.max_request_bytes
    for i, s in enumerate(sizes):
        if overhead + s > limit:
            raise InputError(f"instance {i} alone is ~{_mb(s)}, over the limit of {limit} bytes "
                             "per request; no split can help: send fewer features or use batch "
                             "prediction")
    if total <= limit:
        return [(0, len(rows))]
    if not limits.split:
        raise InputError(f"the request is {_mb(total)}, over the limit of {limit} bytes: drop "
                         "--no-split to send it in several requests, or use batch prediction "
                         "for large jobs")
    ranges, start, size = [], 0, overhead
    for i, s in enumerate(sizes):
        extra = s + (1 if i > start else 0)
        if size + extra > limit:
            ranges.append((start, i))
            start, size, extra = i, overhead, s
        size += extra
    ranges.append((start, len(rows)))
    return ranges


# -- predict ---------------------------------------------------------------------------------
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
            ignore_extra: bool = False, feature_order: list[str] | None = None,
            limits: Limits = Limits(), explain: Note | None = None) -> dict:
    s = target.settings
    if isinstance(instances, list) and not instances:
        return {"predictions": []}
    _, by_id, version = serving_state(target)
    manifest = read_manifest(target.storage, s.models_uri(), s.model_name, version)
    rows = to_rows(instances, manifest["schema"], ignore_extra=ignore_extra,
                   feature_order=feature_order, model=f"{s.model_name}/{version}")
    ranges = chunk(rows, parameters, limits)
    total = sum(_size(r) for r in rows)
    if explain:
        explain(f"sending {len(rows)} instance(s) as rows in {version}'s column order: "
                + ", ".join(feature_names(manifest["schema"])))
        if total > limits.batch_hint_bytes:
            explain(f"{_mb(total)} of instances: batch prediction suits jobs this large better")

    def send(r: tuple[int, int]) -> dict:
        try:
            return target.vertex.predict(s.model_name, rows[r[0]:r[1]], parameters)
        except MlcloudError as e:
            if len(ranges) == 1:
                raise
            raise type(e)(f"instances {r[0]}-{r[1] - 1} of {len(rows)} failed, so no predictions "
                          f"are printed: {e}") from e

    if len(ranges) == 1:
        answers = [send(ranges[0])]
    else:
        with ThreadPoolExecutor(max_workers=max(1, limits.concurrency)) as pool:
            answers = list(pool.map(send, ranges))
        if explain:
            explain(f"sent {len(rows)} instances in {len(ranges)} requests "
                    f"(limit {limits.max_request_bytes} bytes)")
    predictions = [p for a in answers for p in a.get("predictions", [])]
    if len(predictions) != len(rows):
        raise RemoteError(f"the endpoint answered {len(predictions)} predictions for "
                          f"{len(rows)} instances")
    first = answers[0]
    served = [by_id.get(a.get("modelVersionId", ""), "") for a in answers]
    out = {"predictions": _restore_labels(predictions, manifest, parameters), "version": served[0]}
    if len(set(served)) > 1:
        out["versions"] = served
    out.update({k: first[k] for k in ("deployedModelId", "model", "modelVersionId") if k in first})
    warnings = sorted({w for a in answers for w in (a.get("metadata") or {}).get("warnings", [])})
    if warnings:
        out["warnings"] = warnings
    return out


def _restore_labels(predictions: list, manifest: dict, parameters: dict | None) -> list:
    """JSON numbers travel as doubles: give integer class labels back their integer type."""
    classes = manifest.get("task", {}).get("classes") or []
    method = (parameters or {}).get("method", "predict")
    if method == "predict" and classes and all(isinstance(c, int) and not isinstance(c, bool)
                                               for c in classes):
        return [int(p) if isinstance(p, float) and p.is_integer() else p for p in predictions]
    return predictions
