"""The record of every traffic change of a model, kept in its bucket beside the versions.

``gs://BUCKET/PREFIX/NAME/_history/00000001.json``, ``00000002.json``... one object per change,
written create-only (generation precondition 0), never rewritten::

    {"seq": 2, "time": "2025-01-01T12:00:00+00:00", "command": "deploy v2",
     "before": {"v1": 100}, "after": {"v1": 0, "v2": 100}}

Shares are by mlcloud version. The sequence number doubles as an optimistic lock: a command reads
the last number before it changes anything and writes the next one after; if that number was taken
meanwhile, another change of the same model ran at the same time, and the command says so. The
bucket outlives the emulators' restarts and is the same in the cloud, so ``rollback`` works there
too. Version folders never start with "_", so the history is never mistaken for a version.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from mlcloud.deploy.errors import ObjectExists
from mlcloud.deploy.target import Target

FOLDER = "_history"


@dataclass(frozen=True)
class Change:
    seq: int
    time: str
    command: str
    before: dict[str, int]
    after: dict[str, int]

    def to_json(self) -> dict:
        return {"seq": self.seq, "time": self.time, "command": self.command,
                "before": self.before, "after": self.after}


@dataclass
class Written:
    change: Change
    meanwhile: list[Change] = field(default_factory=list)  # changes by others since ``last_seq``


def _folder(target: Target) -> str:
    return f"{target.settings.models_uri()}/{FOLDER}"


def _seqs(target: Target) -> list[int]:
    names = [u.rsplit("/", 1)[-1] for u in target.storage.list_objects(_folder(target) + "/")]
    return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())


def _read(target: Target, seq: int) -> Change:
    d = json.loads(target.storage.read_bytes(f"{_folder(target)}/{seq:08d}.json"))
    return Change(d["seq"], d["time"], d["command"], d["before"], d["after"])


def last_seq(target: Target) -> int:
    return max(_seqs(target), default=0)


def recent(target: Target, n: int = 1) -> list[Change]:
    """The last ``n`` changes, oldest first."""
    return [_read(target, s) for s in _seqs(target)[-n:]]


def append(target: Target, command: str, before: dict[str, int], after: dict[str, int],
           last: int) -> Written:
    """Record a change made after ``last`` was read; changes recorded since are reported."""
    meanwhile, seq = [], last + 1
    time = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    while True:
        change = Change(seq, time, command, before, after)
        data = json.dumps(change.to_json(), indent=1).encode()
        try:
            target.storage.create(f"{_folder(target)}/{seq:08d}.json", data, size=len(data),
                                  content_type="application/json")
            return Written(change, meanwhile)
        except ObjectExists:
            meanwhile.append(_read(target, seq))
            seq += 1
