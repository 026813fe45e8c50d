"""Helpers shared by the local emulators and the stack: loopback binding and ready files.

A ready file is written by an emulator once it serves, atomically (write a temporary file, then
rename), as JSON ``{"url": "http://127.0.0.1:PORT", "pid": PID}``. Readers never see half a file.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_loopback(host: str) -> None:
    """Refuse to serve an emulator on a host reachable from other machines."""
    if not is_loopback(host):
        raise ValueError(
            f"refusing to bind {host!r}: the emulators have no authentication and only serve on "
            "loopback (127.0.0.1, ::1 or localhost)"
        )


def url_for(host: str, port: int) -> str:
    """The base URL clients use for a server bound to ``(host, port)``."""
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@dataclass(frozen=True)
class ReadyInfo:
    """What an emulator's ready file says."""

    url: str
    pid: int


def write_ready_file(path: Path, url: str, pid: int) -> None:
    """Write ``{"url": url, "pid": pid}`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"url": url, "pid": pid}, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_ready_file(path: Path) -> ReadyInfo | None:
    """The ready file's content, or None if it is missing or not a valid ready file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ReadyInfo(url=str(data["url"]), pid=int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_ready_file(path: Path, pid: int | None = None) -> None:
    """Remove the ready file; with ``pid``, only if it still names that process."""
    if pid is not None:
        info = read_ready_file(path)
        if info is None or info.pid != pid:
            return
    path.unlink(missing_ok=True)
