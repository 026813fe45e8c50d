"""Issue 5, artifacts: each kind of bad artifact is refused before any byte is written, with the
problem and its fix named, exit code 2; the good variant goes through. Cases 01 and 02."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import joblib
import pytest

ADD_ONE = '''
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class AddOne(BaseEstimator, TransformerMixin):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float) + 1.0
'''

TRAIN = '''
import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
{imports}
X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0]])
y = np.array([0, 0, 1, 1])
pipe = Pipeline([{steps}("clf", LogisticRegression())]).fit(X, y)
joblib.dump(pipe, "model.joblib")
'''


def train(workdir, imports: str, steps: str, env_path=None):
    (workdir / "train.py").write_text(TRAIN.format(imports=imports, steps=steps))
    env = None
    if env_path:
        import os

        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(env_path), os.environ["PYTHONPATH"]]))
    subprocess.run([sys.executable, "train.py"], cwd=workdir, check=True, env=env, timeout=120)


@pytest.fixture
def objects_under(stack):
    from mlcloud.deploy.storage import Storage

    store = Storage.for_emulator(stack.gcs.url)
    store.ensure_bucket("mlcloud-local", create=True)
    return lambda name: store.list_objects(f"gs://mlcloud-local/models/{name}/")


def one_line(res) -> str:
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.err, res.err
    return lines[0]


def test_case01_main_classes_are_all_named(cli, workdir, name, objects_under):
    two = ADD_ONE + ADD_ONE.replace("AddOne", "AddTwo").replace("+ 1.0", "+ 2.0")
    train(workdir, two, '("add", AddOne()), ("add2", AddTwo()), ')
    res = cli("upload", "model.joblib", "--name", name)
    assert res.code == 2
    assert one_line(res) == (
        "error: model.joblib cannot be loaded as a scikit-learn model in a clean Python process: "
        "it references code that will not be there at serving time: __main__.AddOne, "
        "__main__.AddTwo (defined in the script that saved the model): move it into a module "
        "(e.g. my_transforms.py), import it from there, save the model again and upload with "
        "--code my_transforms.py")
    assert objects_under(name) == []


def test_case01_helper_module_not_shipped_then_shipped(cli, workdir, name, objects_under, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "my_transforms.py").write_text(ADD_ONE)
    train(workdir, "from my_transforms import AddOne", '("add", AddOne()), ', env_path=src)
    res = cli("upload", "model.joblib", "--name", name)
    assert res.code == 2
    assert one_line(res).endswith(
        "it references code that will not be there at serving time: my_transforms.AddOne (not "
        "importable in a clean Python process): ship my_transforms.py with --code")
    assert objects_under(name) == []

    ok = cli("upload", "model.joblib", "--name", name, "--code", src / "my_transforms.py", "--json")
    assert ok.code == 0, ok.err
    assert sorted(objects_under(name)) == [
        f"gs://mlcloud-local/models/{name}/v1/code/my_transforms.py",
        f"gs://mlcloud-local/models/{name}/v1/mlcloud.json",
        f"gs://mlcloud-local/models/{name}/v1/model.joblib"]
    assert cli("deploy", "--name", name, "--version", "v1").code == 0
    (workdir / "input.json").write_text(json.dumps({"instances": [[0.5, 0.5]]}))
    res = cli("predict", "input.json", "--name", name)  # the server imports the shipped module
    assert res.code == 0, res.err
    assert res.json()["predictions"] in ([0], [1])


def test_function_from_main_is_named(cli, workdir, name, objects_under):
    train(workdir, "from sklearn.preprocessing import FunctionTransformer\n"
                   "def double(X):\n    return X * 2\n",
          '("double", FunctionTransformer(double)), ')
    res = cli("upload", "model.joblib", "--name", name)
    assert res.code == 2
    assert "__main__.double (defined in the script that saved the model" in one_line(res)
    assert objects_under(name) == []


@pytest.fixture
def tree(workdir):
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier().fit([[0], [1]], [0, 1])


def test_case02_protocol_and_version_both_listed(cli, workdir, name, objects_under, tree):
    import sklearn

    joblib.dump(tree, "model.joblib", protocol=5)
    res = cli("upload", "model.joblib", "--name", name, "--runtime", "sklearn-0.24")
    assert res.code == 2
    minor = ".".join(sklearn.__version__.split(".")[:2])
    assert one_line(res) == (
        "error: the model cannot be served as it is: pickle protocol 5 is not readable by runtime "
        "sklearn-0.24 (Python 3.7, max protocol 4); re-save with `joblib.dump(model, "
        "'model.joblib', protocol=4)`; artifact written with scikit-learn "
        f"{minor}.x, runtime sklearn-0.24 provides 0.24.x; retrain with scikit-learn==0.24.*, or "
        f"choose a runtime with scikit-learn {minor} (or --runtime mlcloud, mlcloud's serving "
        "image)")
    forced = cli("upload", "model.joblib", "--name", name, "--runtime", "sklearn-0.24",
                 "--allow-version-mismatch")
    assert forced.code == 2  # the protocol check is never skipped
    assert "pickle protocol 5" in forced.err and "scikit-learn" not in forced.err.split("; ")[-1]
    assert objects_under(name) == []


def test_case02_protocol_4_forced_and_own_runtime(cli, workdir, name, objects_under, tree, stack):
    from mlcloud.deploy.storage import Storage

    joblib.dump(tree, "model.joblib", protocol=4)
    res = cli("upload", "model.joblib", "--name", name, "--runtime", "sklearn-0.24", "--force", "--json")
    assert res.code == 0, res.err
    assert res.err.startswith("warning: artifact written with scikit-learn")
    manifest = json.loads(Storage.for_emulator(stack.gcs.url).read_bytes(
        f"gs://mlcloud-local/models/{name}/v1/mlcloud.json"))
    assert manifest["artifact"]["pickle_protocol"] == 4
    assert manifest["artifact"]["compression"] == "none"
    assert manifest["serving"] == {"runtime": "sklearn-0.24", "forced": True}
    # deploy checks again (still forced, a warning) and registers the 0.24 prebuilt image; the
    # emulator then applies the service's rule: that container cannot load a 1.x pickle
    dep = cli("deploy", "--name", name, "--version", "v1")
    assert dep.code == 2, dep.err
    assert "warning: artifact written with scikit-learn" not in dep.out
    error = dep.err.strip().splitlines()[-1]
    assert error.startswith("error: Vertex AI refused to deploy ")
    assert ("The prebuilt container us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.0-24:latest "
            "cannot serve the model") in error
    assert error.endswith(f"(cleaned up: endpoint {name}, registry version {name}@v1)")
    assert set(manifest["runtime"]) == {"python", "sklearn", "numpy", "joblib"}

    joblib.dump(tree, "model2.joblib", compress=("zlib", 3), protocol=5)
    own = cli("upload", "model2.joblib", "--name", name, "--runtime", "mlcloud", "--json")
    assert own.code == 0, own.err
    manifest = json.loads(Storage.for_emulator(stack.gcs.url).read_bytes(
        f"gs://mlcloud-local/models/{name}/v2/mlcloud.json"))
    assert manifest["artifact"]["compression"] == "zlib"
    assert manifest["artifact"]["pickle_protocol"] == 5


def test_unknown_runtime(cli, workdir, name, tree):
    joblib.dump(tree, "model.joblib")
    res = cli("upload", "model.joblib", "--name", name, "--runtime", "sklearn-9.9")
    assert res.code == 2
    assert one_line(res).startswith("error: invalid runtime 'sklearn-9.9': choose one of sklearn-0.20,")


def test_size_limit(cli, workdir, name, objects_under, tree):
    joblib.dump(tree, "model.joblib")
    size = (workdir / "model.joblib").stat().st_size
    res = cli("upload", "model.joblib", "--name", name, "--max-artifact-bytes", 100)
    assert res.code == 2
    assert one_line(res) == (f"error: the model and its code are {size} bytes, over the limit of "
                             "100 bytes for model artifacts")
    assert objects_under(name) == []


def test_layout_of_a_folder(cli, workdir, name, objects_under, tree):
    folder = workdir / "bundle"
    folder.mkdir()
    res = cli("upload", folder, "--name", name)
    assert res.code == 2
    assert one_line(res) == (f"error: {folder} holds no model file (*.joblib, *.pkl, *.skops); give "
                             "the file saved with joblib.dump. Upload writes "
                             "models/NAME/VERSION/model.joblib + mlcloud.json")
    joblib.dump(tree, folder / "a.pkl")
    joblib.dump(tree, folder / "b.joblib")
    res = cli("upload", folder, "--name", name)
    assert res.code == 2
    assert "holds 2 model files (a.pkl, b.joblib); give the one to upload" in one_line(res)
    assert objects_under(name) == []
    (folder / "b.joblib").unlink()
    ok = cli("upload", folder, "--name", name)
    assert ok.code == 0, ok.err
    assert ok.out.strip() == (f"uploaded {name} v1 (stored as model.joblib): "
                              f"gs://mlcloud-local/models/{name}/v1")
    assert f"gs://mlcloud-local/models/{name}/v1/model.joblib" in objects_under(name)


def test_skops_format(cli, workdir, name, objects_under, tree, stack):
    from skops import io as sio

    from mlcloud.deploy.storage import Storage

    sio.dump(tree, "model.skops")
    wrong = cli("upload", "model.skops", "--name", name, "--format", "joblib")
    assert wrong.code == 2 and "is a skops file, not joblib" in wrong.err
    joblib.dump(tree, "model.joblib")
    nopickle = cli("upload", "model.joblib", "--name", name, "--format", "skops")
    assert nopickle.code == 2
    assert one_line(nopickle).endswith("is a joblib file, not skops: save it with "
                                       "skops.io.dump(model, 'model.skops')")
    ok = cli("upload", "model.skops", "--name", name, "--format", "skops")
    assert ok.code == 0, ok.err
    store = Storage.for_emulator(stack.gcs.url)
    manifest = json.loads(store.read_bytes(f"gs://mlcloud-local/models/{name}/v1/mlcloud.json"))
    assert manifest["artifact"]["format"] == "skops" and manifest["artifact"]["file"] == "model.skops"
    assert store.read_bytes(f"gs://mlcloud-local/models/{name}/v1/model.skops") == \
        (workdir / "model.skops").read_bytes()
    assert cli("deploy", "--name", name, "--version", "v1").code == 0
    (workdir / "input.json").write_text(json.dumps({"instances": [[0], [1]]}))
    res = cli("predict", "input.json", "--name", name)
    assert res.code == 0, res.err
    assert res.json()["predictions"] == tree.predict([[0], [1]]).tolist()
    back = cli("download", "--name", name, "--version", "v1", "-o", "back.skops")
    assert back.code == 0, back.err
    assert (workdir / "back.skops").read_bytes() == (workdir / "model.skops").read_bytes()


def test_skops_untrusted_type_refused(cli, workdir, name, objects_under, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "my_transforms.py").write_text(ADD_ONE)
    script = textwrap.dedent('''
        import numpy as np
        from skops import io as sio
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from my_transforms import AddOne
        X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0]])
        pipe = Pipeline([("add", AddOne()), ("clf", LogisticRegression())]).fit(X, [0, 0, 1, 1])
        sio.dump(pipe, "model.skops")
    ''')
    (workdir / "t.py").write_text(script)
    import os

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), os.environ["PYTHONPATH"]]))
    subprocess.run([sys.executable, "t.py"], cwd=workdir, check=True, env=env, timeout=120)
    res = cli("upload", "model.skops", "--name", name, "--code", src / "my_transforms.py")
    assert res.code == 2
    assert "skops does not trust by default: my_transforms.AddOne; only scikit-learn's and " \
        "skops's trusted types are loaded" in one_line(res)
    assert objects_under(name) == []


def test_bucket_location_rule(stack):
    from mlcloud.deploy.checks import BucketLocationError, check_bucket_location
    from mlcloud.deploy.storage import Storage

    check_bucket_location("b", "US-CENTRAL1", "region", "us-central1")
    with pytest.raises(BucketLocationError) as e:
        check_bucket_location("b", "US", "multi-region", "us-central1")
    assert str(e.value) == (
        "gs://b is in US (multi-region), but Vertex AI in us-central1 loads models only from a "
        "bucket in us-central1: create one with `gcloud storage buckets create "
        "gs://b-us-central1 --location us-central1` and pass --bucket")
    with pytest.raises(BucketLocationError):
        check_bucket_location("b", "EUROPE-WEST4", "region", "us-central1")
    store = Storage.for_emulator(stack.gcs.url)
    store._client.create_bucket("regional-bucket-test", location="us-central1")
    assert store.bucket_location("regional-bucket-test") == ("US-CENTRAL1", "region")
    store._client.create_bucket("multi-bucket-test", location="US")
    assert store.bucket_location("multi-bucket-test") == ("US", "multi-region")
