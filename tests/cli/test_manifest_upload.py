"""What upload records in the manifest, read back from the bucket."""

from __future__ import annotations

import hashlib
import json
import platform

import joblib
import numpy
import sklearn


def test_manifest_records_the_pipeline(cli, workdir, name, housing, stack):
    from mlcloud.deploy.storage import Storage

    cli("init", "--name", name, "--model", housing.path)
    assert cli("upload").code == 0
    store = Storage.for_emulator(stack.gcs.url)
    m = json.loads(store.read_bytes(f"gs://mlcloud-local/models/{name}/v1/mlcloud.json"))
    data = housing.path.read_bytes()
    assert m["name"] == name and m["version"] == "v1"
    assert m["artifact"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert m["artifact"]["size"] == len(data)
    assert m["runtime"] == {"python": platform.python_version(), "sklearn": sklearn.__version__,
                            "numpy": numpy.__version__, "joblib": joblib.__version__}
    assert [s[0] for s in m["steps"]] == ["pre", "model"]
    assert m["steps"][1][1] == "sklearn.ensemble._forest.RandomForestRegressor"
    assert m["task"] == {"kind": "regression"}
    features = m["schema"]["features"]
    assert [f["name"] for f in features] == list(housing.pipeline.feature_names_in_)
    ocean = features[-1]
    assert ocean["kind"] == "category"
    assert ocean["categories"] == ["<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN"]
    assert all(f["kind"] == "number" for f in features[:-1])
    medians = housing.pipeline.named_steps["pre"].named_transformers_["num"]["impute"].statistics_
    assert [f["default"] for f in features[:-1]] == list(medians)
    assert m["created"].endswith("Z")
