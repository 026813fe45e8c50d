"""Check prediction instances against a manifest's input schema and shape them for the pipeline.

The same code runs in ``mlcloud predict`` (before anything is sent) and in the model server (on
arrival), so the local client and every server build the same table from the same JSON and refuse
the same mistakes with the same words. Instances are objects keyed by feature name, or lists in
schema order; ``null`` is a missing value.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from mlcloud.deploy.errors import InputError, InstanceError

_PREVIEW = 60


def feature_names(schema: dict) -> list[str]:
    return [f["name"] for f in schema["features"]]


def _printable(text: str) -> str:
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= _PREVIEW else shown[:_PREVIEW] + "…"


def _unknown(key: str, names: list[str], inst: dict, expected: str) -> str:
    """A misspelling (a near name that is missing) is named; a true extra can be dropped."""
    close = difflib.get_close_matches(key, [n for n in names if n not in inst], n=1)
    if close:
        return (f"has unknown column '{_printable(key)}'; did you mean '{close[0]}'? "
                f"(expected: {expected})")
    return (f"has unknown column '{_printable(key)}' (expected: {expected}); drop it, or pass "
            "--ignore-extra-columns")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _PREVIEW else text[:_PREVIEW] + "…"


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "the boolean"
    if isinstance(value, str):
        return "the string"
    if isinstance(value, (int, float)):
        return "the number"
    return f"a {type(value).__name__}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_value(index: int, feature: dict, value: Any, model: str, label: str) -> Any:
    name = feature["name"]
    where = f", feature {label}"
    if value is None:
        if feature.get("nullable") is False:
            raise InstanceError(index, f"{where} is null, but {model} does not accept missing values "
                                "there; add an imputer (e.g. SimpleImputer) to the pipeline, or "
                                "send a value", name)
        return None
    if isinstance(value, (list, dict)):
        raise InstanceError(index, f"{where}: expected a single value, got {_kind_of(value)} "
                            f"{_show(value)}", name)
    if isinstance(value, float) and not math.isfinite(value):
        raise InstanceError(index, f"{where}: {value!r} is not valid JSON; write null for a "
                            "missing value", name)
    if feature["kind"] == "number":
        if not _is_number(value):
            raise InstanceError(index, f"{where}: expected a number or null, got {_kind_of(value)} "
                                f"{_show(value)}", name)
        return value
    categories = feature.get("categories") or []
    if not isinstance(value, bool) and value in categories:
        return value
    numeric = bool(categories) and all(_is_number(c) for c in categories)
    if categories and (numeric != _is_number(value) or isinstance(value, bool)):
        raise InstanceError(index, f"{where}: expected one of {_list(categories)}, got "
                            f"{_kind_of(value)} {_show(value)}", name)
    if feature.get("unknown", "error") == "error" and categories:
        raise InstanceError(index, f"{where}: {_show(value)} is not a category seen in training "
                            f"({_list(categories)}), and the encoder refuses unknown categories",
                            name)
    return value


def _list(values: list) -> str:
    shown = ", ".join(str(v) for v in values[:20])
    return shown + (f", … ({len(values)} in all)" if len(values) > 20 else "")


def to_rows(instances: Any, schema: dict, *, ignore_extra: bool = False,
            feature_order: list[str] | None = None, model: str = "the model") -> list[list[Any]]:
    """Return the instances as lists of values in schema order, or raise InstanceError.

    Object instances may list their keys in any order. A pipeline trained on a plain array has no
    feature names: it takes lists, or objects with ``feature_order`` naming the keys' positions.
    """
    if not isinstance(instances, list):
        raise InputError('the request must be {"instances": [...]}: a list of objects keyed by '
                         "feature name, or of lists in schema order")
    features = schema["features"]
    positional = schema.get("columns", "named") != "named"
    names = feature_order if (positional and feature_order) else [f["name"] for f in features]
    if len(names) != len(features):
        raise InputError(f"--feature-order names {len(names)} features; {model} expects "
                         f"{len(features)}")
    expected = ", ".join(names)
    rows: list[list[Any]] = []
    for i, inst in enumerate(instances):
        if isinstance(inst, dict):
            if positional and not feature_order:
                example = [f.get("default", 0.0) for f in features]
                raise InstanceError(
                    i, f"is an object with keys [{_printable(', '.join(map(str, inst)))}], but {model} was "
                    f"trained without feature names and expects a list of {len(features)} values, "
                    f"e.g. {example}; or pass --feature-order "
                    f"{_printable(','.join(map(str, inst))) if len(inst) == len(features) else 'A,B,…'} "
                    "to turn objects into rows")
            for key in inst:
                if key not in names and not ignore_extra:
                    raise InstanceError(i, _unknown(str(key), names, inst, expected), str(key))
            for name in names:
                if name not in inst:
                    raise InstanceError(i, f"is missing column '{name}' (expected: {expected})", name)
            values = [inst[n] for n in names]
        elif isinstance(inst, list):
            if len(inst) != len(features):
                raise InstanceError(
                    i, f"has {len(inst)} values, model expects {len(features)} "
                    f"(in this order: {expected})")
            values = inst
        else:
            raise InstanceError(
                i, f"is {_kind_of(inst)} {_show(inst)}; expected an object keyed by feature name "
                f"or a list of {len(features)} values ({expected})")
        rows.append([_check_value(i, f, v, model, str(j) if positional else f"'{f['name']}'")
                     for j, (f, v) in enumerate(zip(features, values))])
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
