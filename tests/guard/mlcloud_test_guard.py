"""An audit hook that refuses connections outside 127.0.0.0/8 and reads of cloud credentials.

Installed in the test process by conftest.py and in every child process through sitecustomize.
Each violation is refused (OSError/PermissionError) and written to $MLCLOUD_TEST_GUARD_LOG so the
suite fails even when the code under test swallowed the error.
"""

import ipaddress
import os
import sys

_installed = False


def _loopback(host) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _record(what: str) -> None:
    path = os.environ.get("MLCLOUD_TEST_GUARD_LOG")
    if path:
        with open(path, "a") as f:
            f.write(f"{os.getpid()} {what}\n")


def _hook(event, args):
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and not _loopback(address[0]):
            _record(f"connect {address!r}")
            raise OSError(f"test guard: connection to {address!r} outside loopback refused")
    elif event == "socket.getaddrinfo":
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode()
        if host and not _loopback(host) and host not in ("",):
            _record(f"resolve {host!r}")
            raise OSError(f"test guard: name lookup of {host!r} refused (loopback only)")
    elif event == "open":
        path = args[0]
        if isinstance(path, str) and (".config/gcloud" in path
                                      or path.endswith("application_default_credentials.json")):
            _record(f"open {path!r}")
            raise PermissionError(f"test guard: reading credentials {path!r} refused")


def install() -> None:
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
