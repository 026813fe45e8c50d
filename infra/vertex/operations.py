"""Long-running operation bookkeeping.

Operations are kept as the JSON mapping of ``google.longrunning.Operation`` (the dicts the REST
clients receive), in a table that belongs to the backend's persisted state. ``response`` and
``metadata`` are packed with ``Any.Pack`` from the aiplatform v1 message types, so their ``@type``
URLs are exact (``type.googleapis.com/google.cloud.aiplatform.v1.UploadModelResponse``...).

Names: ``{resource}/operations/{N}`` where resource is the model or endpoint the operation acts on,
N a number never reused. The caller holds ``lock`` (shared with the backend) around mutations.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Callable

from google.cloud import aiplatform_v1 as v1
from google.longrunning import operations_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from .errors import NotFound, VertexError


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def to_pb(msg) -> Message:
    """A raw protobuf message from a proto-plus message (or a raw one)."""
    return msg if isinstance(msg, Message) else type(msg).pb(msg)


def to_dict(msg) -> dict:
    return json_format.MessageToDict(to_pb(msg), use_integers_for_enums=True)


class Operations:
    def __init__(self, table: dict, next_id: Callable[[], int], lock: threading.RLock):
        self.table = table
        self._next_id = next_id
        self._changed = threading.Condition(lock)

    def start(self, resource: str, metadata_cls=v1.GenericOperationMetadata) -> str:
        """Record a new, not yet done operation on ``resource``; returns its name."""
        name = f"{resource}/operations/{self._next_id()}"
        t = now()
        generic = v1.GenericOperationMetadata(create_time=t, update_time=t)
        meta = generic if metadata_cls is v1.GenericOperationMetadata else metadata_cls(generic_metadata=generic)
        op = operations_pb2.Operation(name=name, done=False)
        op.metadata.Pack(to_pb(meta))
        self.table[name] = json_format.MessageToDict(op)
        return name

    def finish(self, name: str, response) -> dict:
        op = self._load(name)
        op.done = True
        op.response.Pack(to_pb(response))
        return self._store(op)

    def fail(self, name: str, error: VertexError) -> dict:
        op = self._load(name)
        op.done = True
        op.error.code, op.error.message = error.grpc_code, error.message
        return self._store(op)

    def get(self, name: str) -> dict:
        if name not in self.table:
            raise NotFound(f"Operation {name} is not found.")
        return self.table[name]  # replaced, never mutated in place: safe to hand out

    def list(self, resource: str) -> list[dict]:
        prefix = f"{resource}/operations/"
        return [op for n, op in self.table.items() if n.startswith(prefix) and "/" not in n[len(prefix):]]

    def pending(self) -> list[str]:
        return [n for n, op in self.table.items() if not op.get("done")]

    def wait(self, name: str, timeout: float) -> dict:
        """Block until the operation is done or ``timeout`` seconds pass; returns it either way."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self.get(name).get("done"):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return self.get(name)

    def _load(self, name: str) -> operations_pb2.Operation:
        return json_format.ParseDict(self.get(name), operations_pb2.Operation())

    def _store(self, op: operations_pb2.Operation) -> dict:
        d = json_format.MessageToDict(op)
        meta = d.get("metadata")
        if meta:  # bump genericMetadata.updateTime
            generic = meta if meta["@type"].endswith(".GenericOperationMetadata") else meta.setdefault(
                "genericMetadata", {})
            generic["updateTime"] = timestamp(now())
        json_format.ParseDict(d, operations_pb2.Operation())  # still a valid Operation
        self.table[op.name] = d
        with self._changed:
            self._changed.notify_all()
        return d


def timestamp(t: dt.datetime) -> str:
    """RFC 3339 text of a protobuf Timestamp, as in the JSON mapping."""
    from google.protobuf import timestamp_pb2

    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(t)
    return ts.ToJsonString()
