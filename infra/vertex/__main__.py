"""``python -m mlcloud.infra.vertex --data DIR --storage-url URL [--host] [--port] [--ready-file]``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .server import check_loopback, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlcloud.infra.vertex",
                                     description="Local emulator of the Vertex AI v1 REST API.")
    parser.add_argument("--data", type=Path, required=True, help="state directory (created if missing)")
    parser.add_argument("--storage-url", required=True, help="Cloud Storage emulator, e.g. http://127.0.0.1:9023")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--ready-file", type=Path, help='written as {"url": ..., "pid": ...} once serving')
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    try:
        check_loopback(args.host)
    except ValueError as e:
        parser.error(str(e))
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s vertex-emulator %(levelname)s %(message)s")
    serve(args.data, args.storage_url.rstrip("/"), args.host, args.port, args.ready_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
