"""Check prediction instances against a manifest's input schema and shape them for the pipeline.

The same code runs in ``mlcloud predict`` (before anything is sent) and in the model server (on
arrival), so the local client and every server build the same table from the same JSON.
Instances are objects keyed by feature name, or lists in schema order; ``None`` is a missing value.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from mlcloud.deploy.errors import InstanceError, InputError


def feature_names(schema: dict) -> list[str]:
    return [f["name"] for f in schema["features"]]


def _nearest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _check_value(index: int, feature: dict, value: Any) -> Any:
    name = feature["name"]
    if value is None:
        return None
    if isinstance(value, (list, dict)):
        raise InstanceError(index, f"has a {type(value).__name__} in '{name}'; expected a single value", name)
    if feature["kind"] == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InstanceError(
                index, f"has {value!r} in '{name}', which expects a number", name)
        if isinstance(value, float) and not math.isfinite(value):
            raise InstanceError(index, f"has {value!r} in '{name}'; use null for a missing value", name)
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise InstanceError(index, f"has {value!r} in '{name}'; use null for a missing value", name)
    return value


def to_rows(instances: Any, schema: dict, *, ignore_extra: bool = False) -> list[list[Any]]:
    """Return the instances as lists of values in schema order, or raise InstanceError.

    Object instances may list their keys in any order; list instances are taken in schema order.
    """
    if not isinstance(instances, list):
        raise InputError("'instances' must be a list of objects or lists")
    features = schema["features"]
    names = [f["name"] for f in features]
    expected = ", ".join(names)
    rows: list[list[Any]] = []
    for i, inst in enumerate(instances):
        if isinstance(inst, dict):
            for key in inst:
                if key not in names and not ignore_extra:
                    raise InstanceError(
                        i, f"has unknown column '{key}' (expected: {expected}){_nearest(key, names)}; "
                        "drop it, or pass --ignore-extra-columns", key)
            for name in names:
                if name not in inst:
                    raise InstanceError(i, f"is missing column '{name}' (expected: {expected})", name)
            values = [inst[n] for n in names]
        elif isinstance(inst, list):
            if len(inst) != len(names):
                raise InstanceError(
                    i, f"has {len(inst)} values; expected {len(names)} in this order: {expected}")
            values = list(inst)
        else:
            raise InstanceError(
                i, f"is a {type(inst).__name__}; expected an object keyed by feature name "
                f"or a list of {len(names)} values ({expected})")
        rows.append([_check_value(i, f, v) for f, v in zip(features, values)])
    return rows


def to_table(rows: list[list[Any]], schema: dict):
    """Build what the pipeline was trained on: a DataFrame with the training columns in training
    order (pipelines fitted on a DataFrame), or a 2-D array (pipelines fitted on an array)."""
    import numpy as np
    import pandas as pd

    features = schema["features"]
    columns = {}
    for j, f in enumerate(features):
        col = [r[j] for r in rows]
        if f["kind"] == "number":
            columns[f["name"]] = np.array([np.nan if v is None else v for v in col], dtype=np.float64)
        else:
            columns[f["name"]] = pd.Series([np.nan if v is None else v for v in col], dtype=object)
    frame = pd.DataFrame(columns, index=range(len(rows)))
    if schema.get("columns", "named") == "named":
        return frame
    if all(f["kind"] == "number" for f in features):
        return frame.to_numpy(dtype=np.float64)
    return frame.to_numpy(dtype=object)
