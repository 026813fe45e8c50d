"""The Cloud Storage adapter: the only module that talks to google-cloud-storage.

Everything above it speaks gs:// URIs. Local mode points the same client at the storage emulator
with anonymous credentials, so no credential lookup and no connection leaves loopback.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

from mlcloud.deploy import retry
from mlcloud.deploy.errors import (
    BucketMissing,
    CredentialsMissing,
    EmulatorUnreachable,
    InvalidSetting,
    ObjectExists,
    ObjectMissing,
    ServiceError,
)

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://"):
        raise InvalidSetting("Cloud Storage URI", uri, "expected gs://BUCKET/PATH")
    bucket, _, path = uri[5:].partition("/")
    return bucket, path


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    size: int
    md5: str | None
    generation: int


class _ProgressReader(io.RawIOBase):
    def __init__(self, raw, total: int, progress: Progress):
        self._raw, self._total, self._progress, self._done = raw, total, progress, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._done += len(data)
        self._progress(self._done, self._total)
        return data

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        pos = self._raw.seek(offset, whence)
        self._done = pos
        return pos


class Storage:
    def __init__(self, client, policy: retry.Policy, emulator_url: str | None = None):
        self._client = client
        self._policy = policy
        self._retry = retry.storage_retry(policy)
        self.emulator_url = emulator_url

    @classmethod
    def for_emulator(cls, url: str) -> "Storage":
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client(project="local", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": url})
        return cls(client, retry.LOCAL, emulator_url=url)

    @classmethod
    def for_gcp(cls, project: str) -> "Storage":
        import google.auth.exceptions
        from google.cloud import storage

        try:
            client = storage.Client(project=project)
        except google.auth.exceptions.DefaultCredentialsError as e:
            raise CredentialsMissing() from e
        return cls(client, retry.CLOUD)

    # -- errors ------------------------------------------------------------------------------
    def _call(self, fn, uri: str):
        import google.auth.exceptions
        import requests
        from google.api_core import exceptions as gexc

        try:
            return fn()
        except gexc.NotFound as e:
            raise ObjectMissing(uri) from e
        except gexc.PreconditionFailed as e:
            raise ObjectExists(uri) from e
        except google.auth.exceptions.DefaultCredentialsError as e:
            raise CredentialsMissing() from e
        except google.auth.exceptions.RefreshError as e:
            raise CredentialsMissing(str(e).splitlines()[0]) from e
        except (requests.ConnectionError, gexc.RetryError) as e:
            if self.emulator_url:
                raise EmulatorUnreachable("storage emulator", self.emulator_url) from e
            raise ServiceError(f"Cloud Storage is not reachable: {e}") from e
        except gexc.GoogleAPICallError as e:
            raise ServiceError(f"Cloud Storage refused {uri}: {e.message}") from e

    def _blob(self, uri: str, generation: int | None = None):
        bucket, path = split_uri(uri)
        return self._client.bucket(bucket).blob(path, generation=generation)

    # -- buckets -----------------------------------------------------------------------------
    def ensure_bucket(self, bucket: str, *, create: bool) -> None:
        """Check the bucket exists; create it when allowed (local mode)."""
        from google.api_core import exceptions as gexc

        def check():
            try:
                self._client.get_bucket(bucket, timeout=self._policy.timeout, retry=self._retry)
            except gexc.NotFound:
                if not create:
                    raise BucketMissing(bucket)
                try:
                    self._client.create_bucket(bucket, timeout=self._policy.timeout)
                except gexc.Conflict:
                    pass

        self._call(check, f"gs://{bucket}")

    def bucket_location(self, bucket: str) -> tuple[str, str]:
        """(location, location type) of a bucket, e.g. ("US-CENTRAL1", "region")."""
        b = self._call(lambda: self._client.get_bucket(bucket, timeout=self._policy.timeout,
                                                       retry=self._retry), f"gs://{bucket}")
        return (b.location or "US"), (b.location_type or "multi-region")

    # -- objects -----------------------------------------------------------------------------
    def stat(self, uri: str) -> ObjectInfo | None:
        from google.api_core import exceptions as gexc

        def get():
            try:
                blob = self._blob(uri)
                blob.reload(timeout=self._policy.timeout, retry=self._retry)
            except gexc.NotFound:
                return None
            return ObjectInfo(uri, int(blob.size or 0), blob.md5_hash, int(blob.generation))

        return self._call(get, uri)

    def read_bytes(self, uri: str) -> bytes:
        return self._call(lambda: self._blob(uri).download_as_bytes(
            timeout=self._policy.timeout, retry=self._retry), uri)

    def download_to_file(self, uri: str, fileobj, progress: Progress | None = None) -> None:
        def run():
            blob = self._blob(uri)
            blob.reload(timeout=self._policy.timeout, retry=self._retry)
            target = fileobj
            if progress is not None:
                target = _ProgressWriter(fileobj, int(blob.size or 0), progress)
            blob.download_to_file(target, timeout=self._policy.timeout, retry=self._retry)

        self._call(run, uri)

    def create(self, uri: str, source, *, size: int, content_type: str,
               progress: Progress | None = None) -> ObjectInfo:
        """Write an object only if it does not exist (ifGenerationMatch=0). ``source`` is bytes or
        a binary file object positioned at its start. Raises ObjectExists otherwise."""
        def write():
            blob = self._blob(uri)
            stream = io.BytesIO(source) if isinstance(source, bytes) else source
            if size > 8 * 1024 * 1024:
                blob.chunk_size = 8 * 1024 * 1024
            if progress is not None:
                stream = _ProgressReader(stream, size, progress)
            blob.upload_from_file(stream, size=size, content_type=content_type,
                                  if_generation_match=0, timeout=self._policy.timeout,
                                  retry=self._retry)  # idempotent: it carries a precondition
            return ObjectInfo(uri, size, blob.md5_hash, int(blob.generation))

        return self._call(write, uri)

    def delete(self, uri: str, *, generation: int) -> None:
        """Delete exactly this generation of an object (a no-op if it is already gone)."""
        from google.api_core import exceptions as gexc

        def run():
            try:
                self._blob(uri).delete(if_generation_match=generation, timeout=self._policy.timeout)
            except gexc.NotFound:
                pass

        self._call(run, uri)

    def list_folders(self, prefix_uri: str) -> list[str]:
        """Immediate sub-folder names below gs://BUCKET/PREFIX/."""
        bucket, prefix = split_uri(prefix_uri.rstrip("/") + "/")

        def run():
            it = self._client.list_blobs(bucket, prefix=prefix, delimiter="/",
                                         timeout=self._policy.timeout, retry=self._retry)
            for _ in it:
                pass
            return sorted(p[len(prefix):].rstrip("/") for p in it.prefixes)

        return self._call(run, prefix_uri)

    def list_objects(self, prefix_uri: str) -> list[str]:
        bucket, prefix = split_uri(prefix_uri)
        return self._call(lambda: [f"gs://{bucket}/{b.name}" for b in self._client.list_blobs(
            bucket, prefix=prefix, timeout=self._policy.timeout, retry=self._retry)], prefix_uri)


class _ProgressWriter(io.RawIOBase):
    def __init__(self, raw, total: int, progress: Progress):
        self._raw, self._total, self._progress, self._done = raw, total, progress, 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        n = self._raw.write(data)
        self._done += len(data)
        self._progress(self._done, self._total)
        return n
