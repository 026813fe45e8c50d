"""``python -m mlcloud.infra.gcs --data DIR [--host 127.0.0.1] [--port 0] [--ready-file PATH]``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mlcloud.infra.ports import is_loopback


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlcloud.infra.gcs", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="directory holding the emulator's state")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--ready-file", type=Path, help='written as {"url": ..., "pid": ...} once serving')
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"--host {args.host!r} is not a loopback address; the emulator serves only on loopback")

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The package logs a warning for every string response; its request log is replaced by ours.
    logging.getLogger("gcp_storage_emulator").setLevel(logging.ERROR)

    from mlcloud.infra.gcs.server import GcsEmulator

    try:
        emulator = GcsEmulator(args.data, host=args.host, port=args.port)
    except OSError as err:
        print(f"error: cannot serve {args.data} on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    emulator.serve_until_signalled(args.ready_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
