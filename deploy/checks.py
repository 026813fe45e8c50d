"""Checks of an artifact against where it will be served, before any byte is written.

Every problem is collected and reported at once, with its fix. A scikit-learn version mismatch
can be overridden (``--force``); a pickle protocol or compression the runtime cannot read never.
"""

from __future__ import annotations

from mlcloud.deploy.containers import MAX_ARTIFACT_BYTES, RUNTIMES, Runtime, minor
from mlcloud.deploy.errors import InvalidSetting, ModelFileError, RuntimeMismatch, UserError


def runtime_named(name: str) -> Runtime:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise InvalidSetting("runtime", name, f"choose one of {', '.join(RUNTIMES)}") from None


def check_runtime(info: dict, runtime: Runtime, *, force: bool = False) -> list[str]:
    """Problems that stop the artifact from loading in ``runtime``; returns warnings when forced."""
    hard, soft = [], []
    art = info.get("artifact", {})
    protocol, compression = art.get("pickle_protocol"), art.get("compression", "none")
    where = runtime.name + (f" (Python {runtime.python}, max protocol {runtime.max_protocol})"
                            if runtime.python else "")
    if info.get("format", "joblib") not in runtime.formats:
        hard.append(f"the {info['format']} format is not loaded by runtime {runtime.name}; deploy "
                    "with mlcloud's serving image (--runtime mlcloud)")
    if protocol is not None and protocol > runtime.max_protocol:
        hard.append(f"pickle protocol {protocol} is not readable by runtime {where}; re-save with "
                    f"`joblib.dump(model, 'model.joblib', protocol={runtime.max_protocol})`")
    if compression not in runtime.compressions:
        hard.append(f"joblib compression {compression} is not readable by runtime {runtime.name}; "
                    "re-save with `joblib.dump(model, 'model.joblib', compress=3)` (zlib)")
    saved = info["runtime"]["sklearn"]
    if runtime.sklearn and minor(saved) != runtime.sklearn:
        soft.append(f"artifact written with scikit-learn {minor(saved)}.x, runtime {runtime.name} "
                    f"provides {runtime.sklearn}.x; retrain with scikit-learn=={runtime.sklearn}.*, "
                    f"or choose a runtime with scikit-learn {minor(saved)} (or --runtime mlcloud, "
                    "mlcloud's serving image)")
    if hard or (soft and not force):
        problems = hard + ([] if force else soft)
        suffix = "" if hard or force else " (--force overrides the scikit-learn check)"
        raise RuntimeMismatch("the model cannot be served as it is: " + "; ".join(problems) + suffix)
    return soft


def check_size(total: int, limit: int = MAX_ARTIFACT_BYTES) -> None:
    if total > limit:
        raise ModelFileError(f"the model and its code are {total / 1e9:.2f} GB, over Vertex AI's "
                             f"limit of {limit / 1e9:.0f} GB for model artifacts"
                             if limit >= 10**8 else
                             f"the model and its code are {total} bytes, over the limit of "
                             f"{limit} bytes for model artifacts")


class BucketLocationError(UserError):
    pass


def check_bucket_location(bucket: str, location: str, location_type: str, region: str) -> None:
    """Vertex AI reads model artifacts only from a bucket in the endpoint's region."""
    if location_type in ("multi-region", "dual-region") or location.lower() != region.lower():
        raise BucketLocationError(
            f"gs://{bucket} is in {location} ({location_type}), but Vertex AI in {region} loads "
            f"models only from a bucket in {region}: create one with `gcloud storage buckets "
            f"create gs://{bucket}-{region} --location {region}` and pass --bucket")
