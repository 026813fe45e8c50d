"""Persisted state of the Vertex AI emulator, and small helpers over it (ids, listing).

One JSON file ``vertex-state.json`` in the data directory, rewritten atomically (temp file in the
same directory, fsync, ``os.replace``) after every mutation and read at start-up. Resources are
kept as the JSON mapping of the aiplatform v1 messages (camelCase field names)::

    {"format": 1,
     "next": {"model": 1, "endpoint": 1, "deployed": 1, "operation": 1},
     "models": {"projects/P/locations/L/models/ID": {"nextVersion": 3, "versions": {"1": Model, "2": Model}}},
     "endpoints": {"projects/P/locations/L/endpoints/ID": Endpoint},
     "operations": {"<resource>/operations/N": Operation}}
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from .errors import InvalidArgument

FILE = "vertex-state.json"
FORMAT = 1


def empty() -> dict:
    return {"format": FORMAT, "next": {"model": 1, "endpoint": 1, "deployed": 1, "operation": 1},
            "models": {}, "endpoints": {}, "operations": {}}


class StateFile:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def load(self) -> dict:
        if not self.path.exists():
            return empty()
        state = json.loads(self.path.read_text())
        if state.get("format") != FORMAT:
            raise ValueError(f"{self.path}: unknown state format {state.get('format')!r}")
        return state

    def save(self, state: dict) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".vertex-state-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(state, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# Resource ids, as documented on UploadModelRequest.model_id / CreateEndpointRequest.endpoint_id.
MODEL_ID = re.compile(r"[a-z_][a-z0-9_-]{0,62}")
ENDPOINT_ID = re.compile(r"[a-z][a-z0-9-]{0,61}[a-z0-9]|[a-z]|[1-9][0-9]{0,8}")
ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]")


def check_id(value: str, pattern: re.Pattern, what: str) -> str:
    if not pattern.fullmatch(value):
        raise InvalidArgument(f"Invalid {what} {value!r}: it must match {pattern.pattern}.")
    return value


def check_alias(alias: str) -> str:
    if not ALIAS.fullmatch(alias):
        raise InvalidArgument(
            f"Invalid version alias {alias!r}: it must match {ALIAS.pattern} (a letter first, so it"
            " cannot be mistaken for a version id).")
    return alias


_CLAUSE = re.compile(r'\s*(display_name|displayName|labels\.[\w-]+)\s*=\s*"?([^"]*?)"?\s*')


def parse_filter(text: str) -> list[tuple[str, str]]:
    """The supported subset of AIP-160 filters: ``display_name="x" AND labels.k="v"``."""
    clauses = []
    for part in filter(None, re.split(r"\s+AND\s+", text.strip())):
        m = _CLAUSE.fullmatch(part)
        if not m:
            raise InvalidArgument(
                f"Unsupported filter {part!r}: the emulator supports display_name=\"...\" and "
                "labels.KEY=\"...\" joined with AND.")
        clauses.append((m.group(1), m.group(2)))
    return clauses


def matches(resource: dict, clauses: list[tuple[str, str]]) -> bool:
    for key, value in clauses:
        if key.startswith("labels."):
            if resource.get("labels", {}).get(key[len("labels."):]) != value:
                return False
        elif resource.get("displayName", "") != value:
            return False
    return True


def page(items: list, page_size: int, page_token: str) -> tuple[list, str]:
    """Offset paging; the token is the offset of the next page."""
    try:
        start = int(page_token or 0)
    except ValueError:
        raise InvalidArgument(f"Invalid page_token {page_token!r}.") from None
    size = page_size if page_size > 0 else 100
    chunk = items[start:start + size]
    return chunk, (str(start + size) if start + size < len(items) else "")
