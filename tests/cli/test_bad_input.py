"""Bad input is refused with one line naming the problem, exit code 2, and nothing written."""

from __future__ import annotations

import json

import joblib
import pytest

from conftest import instances_of


@pytest.fixture
def bucket_of(stack):
    from mlcloud.deploy.storage import Storage

    store = Storage.for_emulator(stack.gcs.url)
    store.ensure_bucket("mlcloud-local", create=True)
    return lambda name: store.list_objects(f"gs://mlcloud-local/models/{name}/")


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_model_file(cli, workdir, name, bucket_of):
    res = cli("upload", "nowhere.joblib", "--name", name)
    assert res.code == 2
    assert one_line(res.err) == "error: model file nowhere.joblib not found"
    assert bucket_of(name) == []


@pytest.mark.parametrize("content,why", [
    (b"this is not a pickle at all\n", "it is not a file saved with joblib.dump, pickle or skops"),
    (None, "it holds a builtins.dict, which has no predict(): save a fitted scikit-learn "
           "pipeline or estimator"),
    (b"", "it is not a file saved with joblib.dump, pickle or skops (EOFError"),
])
def test_file_that_is_not_a_pipeline(cli, workdir, name, bucket_of, content, why):
    path = workdir / "model.joblib"
    if content is None:
        joblib.dump({"weights": [1, 2, 3]}, path)
    else:
        path.write_bytes(content)
    res = cli("upload", path, "--name", name)
    assert res.code == 2
    line = one_line(res.err)
    assert line.startswith(f"error: {path} cannot be loaded as a scikit-learn model in a clean "
                           "Python process: ")
    assert why in line
    assert bucket_of(name) == []


def test_missing_name_lists_every_way_to_set_it(cli, workdir, housing):
    res = cli("upload", housing.path)
    assert res.code == 2
    assert one_line(res.err) == (
        "error: no model name is set: pass --name, set MLCLOUD_NAME or add name = ... to "
        "mlcloud.toml (mlcloud init writes mlcloud.toml)")


@pytest.fixture
def deployed(cli, workdir, name, housing):
    cli("init", "--name", name, "--model", housing.path)
    assert cli("upload").code == 0
    assert cli("deploy", "--version", "v1").code == 0
    return name


@pytest.mark.parametrize("text,message", [
    ('{"instances": [', "error: input.json is not valid JSON: Expecting value at line 1 column 16"),
    ('{"instances": [{"a": NaN}]}',
     "error: input.json line 1 column 22: NaN is not valid JSON (NaN and Infinity are not JSON "
     "numbers); write null for a missing value"),
    ('{"rows": []}', "error: input.json has no 'instances' key: give {\"instances\": [...]}"),
    ("", "error: input.json is empty: give {\"instances\": [...]}, a JSON list or JSON Lines"),
])
def test_malformed_json(cli, workdir, name, text, message):
    (workdir / "input.json").write_text(text)
    res = cli("predict", "input.json", "--name", name)
    assert res.code == 2
    assert one_line(res.err) == message


def test_missing_and_unknown_features(cli, workdir, deployed, housing):
    row = instances_of(housing.test.head(1))[0]
    expected = ", ".join(housing.pipeline.feature_names_in_)
    missing = {k: v for k, v in row.items() if k != "median_income"}
    (workdir / "missing.json").write_text(json.dumps({"instances": [row, missing]}))
    res = cli("predict", "missing.json")
    assert res.code == 2
    assert one_line(res.err) == (
        f"error: instance 1 is missing column 'median_income' (expected: {expected})")

    typo = {("median_incom" if k == "median_income" else k): v for k, v in row.items()}
    (workdir / "typo.json").write_text(json.dumps({"instances": [typo]}))
    res = cli("predict", "typo.json")
    assert res.code == 2
    assert one_line(res.err) == (
        f"error: instance 0 has unknown column 'median_incom'; did you mean 'median_income'? "
        f"(expected: {expected})")

    extra = dict(row, median_incom=3.2)
    (workdir / "extra.json").write_text(json.dumps({"instances": [extra]}))
    res = cli("predict", "extra.json")
    assert res.code == 2
    assert one_line(res.err) == (
        f"error: instance 0 has unknown column 'median_incom' (expected: {expected}); drop it, "
        "or pass --ignore-extra-columns")
    ok = cli("predict", "extra.json", "--ignore-extra-columns")
    assert ok.code == 0, ok.err

    wrong = dict(row, median_income="high")
    (workdir / "wrong.json").write_text(json.dumps({"instances": [wrong]}))
    res = cli("predict", "wrong.json")
    assert res.code == 2
    assert one_line(res.err) == ("error: instance 0, feature 'median_income': expected a number or "
                                 "null, got the string 'high'")


def test_predict_before_deploy(cli, workdir, name, housing):
    cli("init", "--name", name, "--model", housing.path)
    (workdir / "input.json").write_text(json.dumps({"instances": instances_of(housing.test.head(1))}))
    res = cli("predict", "input.json")
    assert res.code == 2
    assert one_line(res.err) == f"error: {name} is not deployed: run `mlcloud deploy --version vN` first"


def test_deploy_unknown_version(cli, workdir, name, housing):
    cli("init", "--name", name, "--model", housing.path)
    assert cli("upload").code == 0
    res = cli("deploy", "--version", "v9")
    assert res.code == 2
    assert one_line(res.err) == f"error: {name} has no version v9 (available: v1)"


@pytest.mark.parametrize("argv,message", [
    (["upload", "--bogus"], "Error: No such option: --bogus"),
    (["bogus"], "Error: No such command 'bogus'."),
    (["deploy", "--version"], "Error: Option '--version' requires an argument."),
    (["predict"], "Error: Missing argument 'INPUT_FILE'."),
])
def test_usage_errors_exit_2(cli, argv, message):
    res = cli(*argv)
    assert res.code == 2
    assert res.err.strip().splitlines()[-1].startswith(message)
    assert "Traceback" not in res.err and "internal error" not in res.err
