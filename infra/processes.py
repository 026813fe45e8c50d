"""Process helpers for the local stack: liveness, identity, health probes and stopping.

Only processes the stack started are signalled: a pid read from a ready file is first checked to be
alive and, where ``/proc`` exists, to be running the expected emulator module (a pid may be reused).
"""

from __future__ import annotations

import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

HEALTH_PATH = "/_emulator/health"

# Loopback health probes never go through an HTTP proxy set in the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (reaping it first if it is our own exited child)."""
    if pid <= 0:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child: fine
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie that is not ours to reap is dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def runs_module(pid: int, module: str) -> bool:
    """True if ``pid``'s command line runs ``module``; True where ``/proc`` is unavailable."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not Path("/proc/self").exists() and pid_alive(pid)
    except OSError:
        return True
    return module.encode() in argv


def healthy(url: str, timeout: float = 2.0) -> bool:
    """True if ``GET {url}/_emulator/health`` answers 200."""
    try:
        with _NO_PROXY.open(url.rstrip("/") + HEALTH_PATH, timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signal ``pid``'s process group if it leads one (it was started detached), else ``pid``."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def terminate(pid: int, timeout: float = 10.0) -> bool:
    """SIGTERM ``pid``, wait up to ``timeout``, then SIGKILL. True if it stopped on SIGTERM."""
    _signal(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return True
    _signal(pid, signal.SIGKILL)
    _wait_gone(pid, 5.0)
    return False


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file ('' if there is none)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
