"""Look inside a saved pipeline, in a clean Python process.

``python -m mlcloud.deploy.inspection MODEL [--sample CSV]`` loads the pickle in an interpreter
that has none of the user's session (no ``__main__`` classes, not the current directory on the
path): what fails to load here fails the same way at serving time, before anything is uploaded.
It prints one JSON object: the runtime versions, the pipeline's steps, the task and the input
schema (feature names in training order with their kinds and training categories).
"""

from __future__ import annotations

import json
import math
import platform
import sys
from pathlib import Path
from typing import Any


def _jsonable(v: Any) -> Any:
    import numpy as np

    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _final_estimator(model: Any) -> Any:
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return model


def _steps(model: Any) -> list[list[str]]:
    from sklearn.pipeline import Pipeline

    def qual(o: Any) -> str:
        return f"{type(o).__module__}.{type(o).__qualname__}"

    if isinstance(model, Pipeline):
        return [[name, qual(step)] for name, step in model.steps]
    return [[type(model).__name__, qual(model)]]


def _encoders(model: Any):
    """Yield (columns, encoder) for every fitted categorical encoder fed straight from input columns."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    def first_encoder(t):
        if hasattr(t, "categories_"):
            return t
        if isinstance(t, Pipeline):
            for _, s in t.steps:
                if hasattr(s, "categories_"):
                    return s
                if not hasattr(s, "statistics_"):  # only imputers keep columns as they are
                    return None
        return None

    steps = model.steps if isinstance(model, Pipeline) else [("model", model)]
    first = steps[0][1]
    if isinstance(first, ColumnTransformer):
        for _, trans, cols in first.transformers_:
            enc = first_encoder(trans)
            if enc is not None:
                yield cols, enc
    else:
        enc = first_encoder(first)
        if enc is not None:
            yield list(range(len(enc.categories_))), enc


def _defaults(model: Any) -> dict[Any, Any]:
    """Training medians/means by column, where an imputer recorded them."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    out: dict[Any, Any] = {}
    steps = model.steps if isinstance(model, Pipeline) else [("model", model)]
    first = steps[0][1]
    pairs = first.transformers_ if isinstance(first, ColumnTransformer) else []
    for _, trans, cols in pairs:
        sub = trans.steps if isinstance(trans, Pipeline) else [("t", trans)]
        for _, s in sub:
            if hasattr(s, "statistics_") and isinstance(cols, list) and len(cols) == len(s.statistics_):
                out.update({c: _jsonable(v) for c, v in zip(cols, s.statistics_)})
                break
    return out


def _n_features(model: Any) -> int | None:
    """n_features_in_ of the model, or of the first step that records it (a custom first step
    may not): an estimate that --sample can replace."""
    from sklearn.pipeline import Pipeline

    n = getattr(model, "n_features_in_", None)
    if n is None and isinstance(model, Pipeline):
        n = next((getattr(s, "n_features_in_") for _, s in model.steps
                  if hasattr(s, "n_features_in_")), None)
    return n


def _schema(model: Any, sample: str | None) -> dict:
    names = getattr(model, "feature_names_in_", None)
    n = _n_features(model)
    frame = None
    if sample:
        import pandas as pd

        frame = pd.read_csv(sample)
    if names is not None:
        names = [str(c) for c in names]
        columns = "named"
    elif frame is not None and n is not None and len(frame.columns) >= n:
        names = [str(c) for c in frame.columns[:n]]
        columns = "positional"
    elif n is not None:
        names = [f"x{i}" for i in range(n)]
        columns = "positional"
    else:
        raise ValueError("the model records no input features (no n_features_in_): is it fitted?")
    features = [{"name": c, "kind": "number"} for c in names]
    by_name = {f["name"]: f for f in features}
    for cols, enc in _encoders(model):
        unknown = getattr(enc, "handle_unknown", "error")
        for i, col in enumerate(cols):
            key = names[col] if isinstance(col, int) else str(col)
            if key in by_name and i < len(enc.categories_):
                by_name[key].update(kind="category",
                                    categories=[_jsonable(c) for c in enc.categories_[i]],
                                    unknown="error" if unknown == "error" else "ignore")
    for col, value in _defaults(model).items():
        key = names[col] if isinstance(col, int) else str(col)
        if key in by_name and value is not None:
            by_name[key]["default"] = value
    if frame is not None:
        for f in features:
            if f["name"] in frame.columns and f["kind"] == "number":
                col = frame[f["name"]]
                if col.dtype == object or str(col.dtype) in ("string", "str", "category"):
                    f.update(kind="category",
                             categories=sorted(map(str, col.dropna().unique())), unknown="error")
                elif "default" not in f and col.notna().any():
                    f["default"] = _jsonable(col.median())
    return {"columns": columns, "features": features}


def _load(path: Path, fmt: str) -> Any:
    from mlcloud.deploy import artifacts

    try:
        if fmt == "skops":
            return artifacts.load_skops(path)
        return artifacts.load_joblib(path)
    except artifacts.MissingCode as e:
        raise RuntimeError(str(e)) from e
    except RuntimeError:
        raise
    except Exception as e:  # noqa: BLE001 - anything else means it is no file we can read
        raise RuntimeError(f"it is not a file saved with joblib.dump, pickle or skops "
                           f"({type(e).__name__}: {e})") from e


def _probe_missing(model: Any, schema: dict) -> None:
    """Mark which features may be null: predict a typical row, then that row with a null there.

    The pipeline runs only in this throwaway process; a model that cannot predict the typical row
    is left unmarked (nothing is claimed)."""
    import warnings

    from mlcloud.deploy.instances import to_table

    features = schema["features"]
    if not features or len(features) > 200:
        return
    base = [f.get("default", f["categories"][0] if f.get("categories") else 0.0) for f in features]

    def works(row) -> bool:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.predict(to_table([row], schema))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not accepted"
            return False

    if not works(base):
        return
    if works([None] * len(features)):
        for f in features:
            f["nullable"] = True
        return
    for i, f in enumerate(features):
        f["nullable"] = works(base[:i] + [None] + base[i + 1:])


def inspect(path: str, sample: str | None = None, code: str | None = None) -> dict:
    import joblib
    import numpy
    import sklearn
    from sklearn.base import is_classifier, is_regressor

    from mlcloud.deploy import artifacts

    artifacts.add_code_path(Path(code) if code else None)
    fmt = artifacts.detect_format(Path(path))
    model = _load(Path(path), fmt)
    if not hasattr(model, "predict"):
        raise TypeError(f"it holds a {type(model).__module__}.{type(model).__qualname__}, "
                        "which has no predict(): save a fitted scikit-learn pipeline or estimator")
    final = _final_estimator(model)
    if is_classifier(model) or hasattr(final, "classes_"):
        task = {"kind": "classification", "classes": [_jsonable(c) for c in final.classes_]}
    elif is_regressor(model):
        task = {"kind": "regression"}
    else:
        task = {"kind": "other"}
    saved_with = getattr(final, "_sklearn_version", None) or sklearn.__version__
    schema = _schema(model, sample)
    _probe_missing(model, schema)
    return {
        "format": fmt,
        "artifact": artifacts.header(Path(path)) if fmt == "joblib" else {},
        "runtime": {
            "python": platform.python_version(),
            "sklearn": saved_with,
            "numpy": numpy.__version__,
            "joblib": joblib.__version__,
        },
        "steps": _steps(model),
        "task": task,
        "schema": schema,
    }


def main(argv: list[str]) -> int:
    path = argv[0]
    sample = argv[argv.index("--sample") + 1] if "--sample" in argv else None
    code = argv[argv.index("--code") + 1] if "--code" in argv else None
    try:
        info = inspect(path, sample, code)
    except BaseException as e:  # noqa: BLE001 - every failure becomes a message for the parent
        text = str(e) if isinstance(e, (RuntimeError, TypeError)) else f"{type(e).__name__}: {e}"
        print(json.dumps({"ok": False, "error": text.strip()}))
        return 0
    print(json.dumps({"ok": True, "info": info}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
