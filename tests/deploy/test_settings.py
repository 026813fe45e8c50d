"""Settings precedence: flag > environment > mlcloud.toml > default; one message when missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcloud.deploy.errors import InvalidSetting, SettingMissing
from mlcloud.deploy.settings import resolve, write_file


def test_precedence(tmp_path):
    write_file(tmp_path / "mlcloud.toml", {"name": "from-file", "region": "europe-west4",
                                           "bucket": "file-bucket", "model": "m.joblib"})
    env = {"MLCLOUD_NAME": "from-env", "MLCLOUD_REGION": "asia-east1"}
    s = resolve({"name": "from-flag"}, env, tmp_path)
    assert (s.name, s.region, s.bucket) == ("from-flag", "asia-east1", "file-bucket")
    assert s.model == tmp_path / "m.joblib"  # file paths are relative to the file
    s = resolve({}, {}, tmp_path)
    assert (s.name, s.region) == ("from-file", "europe-west4")
    s = resolve({}, {}, tmp_path / "nowhere")
    assert (s.name, s.region, s.target, s.bucket_name) == (None, "us-central1", "local", "mlcloud-local")


def test_project_from_google_cloud_project_and_emulator_switch(tmp_path):
    s = resolve({}, {"GOOGLE_CLOUD_PROJECT": "p1", "MLCLOUD_EMULATOR": "0"}, tmp_path)
    assert (s.target, s.gcp_project) == ("gcp", "p1")
    s = resolve({}, {"MLCLOUD_PROJECT": "p2", "GOOGLE_CLOUD_PROJECT": "p1"}, tmp_path)
    assert s.project == "p2"
    assert resolve({}, {"MLCLOUD_EMULATOR": "1"}, tmp_path).target == "local"
    assert resolve({"target": "gcp"}, {"MLCLOUD_EMULATOR": "1"}, tmp_path).target == "gcp"


def test_bucket_with_prefix(tmp_path):
    s = resolve({"bucket": "gs://my-bucket/team/models", "name": "m"}, {}, tmp_path)
    assert s.models_uri() == "gs://my-bucket/team/models/m"
    assert resolve({"bucket": "my-bucket", "name": "m"}, {}, tmp_path).models_uri() == \
        "gs://my-bucket/models/m"


def test_missing_setting_lists_every_way(tmp_path):
    s = resolve({"target": "gcp"}, {}, tmp_path)
    with pytest.raises(SettingMissing) as e:
        s.gcp_project
    assert str(e.value) == ("no GCP project is set: pass --project, set MLCLOUD_PROJECT, set "
                            "GOOGLE_CLOUD_PROJECT or add project = ... to mlcloud.toml")
    with pytest.raises(SettingMissing) as e:
        s.bucket_name
    assert "pass --bucket, set MLCLOUD_BUCKET or add bucket = ... to mlcloud.toml" in str(e.value)


@pytest.mark.parametrize("flags,what", [({"name": "Housing"}, "model name"),
                                        ({"name": "1abc"}, "model name"),
                                        ({"target": "aws"}, "target"),
                                        ({"bucket": "gs://B@d"}, "bucket")])
def test_invalid_values(tmp_path, flags, what):
    with pytest.raises(InvalidSetting) as e:
        resolve(flags, {}, tmp_path)
    assert str(e.value).startswith(f"invalid {what} ")


def test_unknown_key_in_file(tmp_path):
    (tmp_path / "mlcloud.toml").write_text('name = "a"\nbukket = "x"\n')
    with pytest.raises(InvalidSetting, match="unknown keys: bukket"):
        resolve({}, {}, tmp_path)


def test_home_default_is_user_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert resolve({}, {}, tmp_path).home == Path(tmp_path) / ".local" / "share" / "mlcloud"
    assert resolve({}, {"MLCLOUD_HOME": "/x/y"}, tmp_path).home == Path("/x/y")
