"""One error tree for mlcloud.

``UserError`` and its children are refusals: bad input, usage or configuration. The CLI prints
them as one line without a traceback and exits 2. ``RemoteError`` and its children are failures of
a service (Cloud Storage, Vertex AI, an emulator): the CLI exits 1. Errors take structured
arguments and build a message that names the fix.
"""

from __future__ import annotations


class MlcloudError(Exception):
    """Root of every error mlcloud raises on purpose."""

    exit_code = 1


class UserError(MlcloudError):
    """Refused: bad input, usage or configuration. Nothing was changed."""

    exit_code = 2


class RemoteError(MlcloudError):
    """A service failed or is out of reach."""

    exit_code = 1


class SettingMissing(UserError):
    def __init__(self, setting: str, flag: str, envs: tuple[str, ...], key: str, hint: str = ""):
        self.setting = setting
        ways = [f"pass {flag}"] + [f"set {e}" for e in envs] + [f"add {key} = ... to mlcloud.toml"]
        msg = f"no {setting} is set: " + ", ".join(ways[:-1]) + f" or {ways[-1]}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


class InvalidSetting(UserError):
    def __init__(self, setting: str, value: object, why: str):
        self.setting, self.value = setting, value
        super().__init__(f"invalid {setting} {value!r}: {why}")


class ModelFileError(UserError):
    """The model file is missing, unreadable or not a fitted scikit-learn model."""


class InputError(UserError):
    """A prediction input file or request is malformed."""


class InstanceError(InputError):
    """One instance of a request does not fit the model's input schema."""

    def __init__(self, index: int, message: str, field: str | None = None):
        self.index, self.field, self.detail = index, field, message
        sep = "" if message.startswith(",") else " "
        super().__init__(f"instance {index}{sep}{message}")


class VersionNotFound(UserError):
    def __init__(self, name: str, version: str, available: list[str]):
        self.name, self.version, self.available = name, version, available
        have = ", ".join(available) if available else "none yet; run mlcloud upload"
        super().__init__(f"{name} has no version {version} (available: {have})")


class VersionConflict(UserError):
    """A version exists with other bytes; versions are never overwritten."""


class IntegrityError(UserError):
    """An artifact's bytes do not match its manifest: it is never loaded."""


class RuntimeMismatch(UserError):
    """No serving runtime matches the versions the model was saved with."""


class NotDeployed(UserError):
    """The model has no endpoint or no deployed version."""


class CredentialsMissing(UserError):
    def __init__(self, detail: str = ""):
        super().__init__(
            "no Google Cloud credentials found: run `gcloud auth application-default login`, "
            "or set MLCLOUD_EMULATOR=1 (or --target local) to use the local emulators"
            + (f" ({detail})" if detail else "")
        )


class EmulatorUnreachable(RemoteError):
    def __init__(self, what: str, url: str):
        self.what, self.url = what, url
        super().__init__(f"{what} at {url} is not reachable")


class OperationTimeout(RemoteError):
    def __init__(self, what: str, seconds: float):
        super().__init__(f"{what} did not finish within {seconds:.0f} s; it may still be running: "
                         "run the same command again to converge")


class ServiceError(RemoteError):
    """A service answered with an error."""


class ObjectMissing(UserError):
    def __init__(self, uri: str):
        self.uri = uri
        super().__init__(f"{uri} does not exist")


class ObjectExists(MlcloudError):
    """A create-only write found the object already there (GCS precondition 412)."""

    def __init__(self, uri: str):
        self.uri = uri
        super().__init__(f"{uri} already exists; objects are written create-only")


class BucketMissing(UserError):
    def __init__(self, bucket: str):
        super().__init__(
            f"bucket gs://{bucket} does not exist or is not visible to these credentials: "
            f"create it (gcloud storage buckets create gs://{bucket} --location REGION) "
            "or set another with --bucket / MLCLOUD_BUCKET")


class ConcurrentChange(RemoteError):
    """Another command changed the same endpoint at the same time; the message says what is live."""
