"""Settings: one typed object, resolved once, passed in.

Precedence: flag > environment (``MLCLOUD_*``; ``GOOGLE_CLOUD_PROJECT`` for the project;
``MLCLOUD_EMULATOR=1`` for the local target; ``STORAGE_EMULATOR_HOST`` for a storage emulator
of your own) > ``mlcloud.toml`` in the current directory > defaults.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from mlcloud.deploy.errors import InvalidSetting, SettingMissing

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILE = "mlcloud.toml"
NAME_RULE = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
VERSION_RULE = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
TARGETS = ("local", "gcp")
LOCAL_BUCKET = "mlcloud-local"


@dataclass(frozen=True)
class Source:
    """Where one setting can come from, for resolution and for the 'missing' message."""

    flag: str
    envs: tuple[str, ...]
    key: str
    default: Any = None


SOURCES: dict[str, Source] = {
    "name": Source("--name", ("MLCLOUD_NAME",), "name"),
    "model": Source("--model", ("MLCLOUD_MODEL",), "model"),
    "target": Source("--target", ("MLCLOUD_TARGET", "MLCLOUD_EMULATOR"), "target", "local"),
    "project": Source("--project", ("MLCLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT"), "project"),
    "region": Source("--region", ("MLCLOUD_REGION",), "region", "us-central1"),
    "bucket": Source("--bucket", ("MLCLOUD_BUCKET",), "bucket"),
    "home": Source("--home", ("MLCLOUD_HOME",), "home"),
    "storage_emulator": Source("--storage-emulator", ("STORAGE_EMULATOR_HOST",), "storage_emulator"),
    "vertex_emulator": Source("--vertex-emulator", ("MLCLOUD_VERTEX_EMULATOR_HOST",), "vertex_emulator"),
}


@dataclass(frozen=True)
class Settings:
    target: str = "local"
    name: str | None = None
    model: Path | None = None
    project: str | None = None
    region: str = "us-central1"
    bucket: str | None = None
    prefix: str = "models"
    home: Path = field(default_factory=lambda: default_home())
    storage_emulator: str | None = None
    vertex_emulator: str | None = None
    config_file: Path | None = None

    @property
    def local(self) -> bool:
        return self.target == "local"

    def require(self, setting: str) -> Any:
        value = getattr(self, setting)
        if value in (None, ""):
            s = SOURCES[setting]
            hint = "mlcloud init writes mlcloud.toml" if setting in ("name", "model") else ""
            raise SettingMissing(_LABELS.get(setting, setting), s.flag, s.envs, s.key, hint)
        return value

    @property
    def model_name(self) -> str:
        return self.require("name")

    @property
    def bucket_name(self) -> str:
        if self.bucket:
            return self.bucket
        if self.local:
            return LOCAL_BUCKET
        return self.require("bucket")

    @property
    def gcp_project(self) -> str:
        if self.local:
            return self.project or "local"
        return self.require("project")

    def models_uri(self) -> str:
        return f"gs://{self.bucket_name}/{self.prefix}/{self.model_name}"

    def version_uri(self, version: str) -> str:
        return f"{self.models_uri()}/{version}"

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)


_LABELS = {"name": "model name", "model": "model file", "project": "GCP project",
           "bucket": "Cloud Storage bucket", "region": "region"}


def default_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("mlcloud", appauthor=False))


def _target(value: Any, origin: str) -> str:
    v = str(value).strip().lower()
    if origin == "MLCLOUD_EMULATOR":
        if v in ("1", "true", "yes", "on"):
            return "local"
        if v in ("0", "false", "no", "off", ""):
            return "gcp"
    if v not in TARGETS:
        raise InvalidSetting("target", value, "use 'local' (the emulators) or 'gcp'")
    return v


def _bucket(value: str) -> tuple[str, str | None]:
    """'b', 'gs://b' or 'gs://b/some/prefix' -> (bucket, prefix or None)."""
    v = value[5:] if value.startswith("gs://") else value
    bucket, _, prefix = v.strip("/").partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]", bucket):
        raise InvalidSetting("bucket", value, "bucket names use a-z, 0-9, '-', '_' and '.'")
    return bucket, (prefix or None)


def read_file(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise InvalidSetting("settings file", str(path), str(e)) from e


def resolve(flags: Mapping[str, Any], env: Mapping[str, str], cwd: Path) -> Settings:
    """Build Settings from flags (None = not given), environment and ./mlcloud.toml."""
    path = cwd / CONFIG_FILE
    file = read_file(path) if path.is_file() else {}
    unknown = set(file) - {s.key for s in SOURCES.values()}
    if unknown:
        raise InvalidSetting("settings file", str(path), f"unknown keys: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, src in SOURCES.items():
        value, origin = flags.get(name), "flag"
        if value is None:
            for e in src.envs:
                if env.get(e) not in (None, ""):
                    value, origin = env[e], e
                    break
        if value is None and src.key in file:
            value, origin = file[src.key], "file"
            if name in ("model", "home"):
                value = str((path.parent / value))
        if value is None:
            value = src.default
        if value is None:
            continue
        if name == "target":
            value = _target(value, origin)
        values[name] = value
    if "name" in values and not NAME_RULE.match(values["name"]):
        raise InvalidSetting("model name", values["name"],
                             "use lowercase letters, digits and '-', starting with a letter (at most 63)")
    if "bucket" in values:
        values["bucket"], prefix = _bucket(values["bucket"])
        if prefix:
            values["prefix"] = prefix
    for p in ("model", "home"):
        if p in values:
            values[p] = Path(values[p]).expanduser()
    for u in ("storage_emulator", "vertex_emulator"):
        if u in values and not str(values[u]).startswith("http"):
            values[u] = "http://" + values[u]
    return Settings(config_file=path if file else None, **values)


def write_file(path: Path, values: Mapping[str, Any]) -> None:
    import tomli_w

    known = {f.name for f in fields(Settings)}
    data = {k: (str(v) if isinstance(v, Path) else v) for k, v in values.items()
            if v is not None and k in known}
    path.write_text(tomli_w.dumps(data))
