"""``python -m mlcloud.deploy.server [BUNDLE]``: the serving container's entrypoint.

With no arguments it follows Vertex's contract: the model from ``AIP_STORAGE_URI``, the port from
``AIP_HTTP_PORT`` (8080), the routes from ``AIP_HEALTH_ROUTE`` and ``AIP_PREDICT_ROUTE``, on all
interfaces (a container's port is reached from outside it). Flags override; ``--host 127.0.0.1``
keeps it on loopback. Exit codes: 0 stopped, 2 the bundle was refused (missing, changed bytes,
not a manifest), 1 a service failed or a predictor process died.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from mlcloud.deploy.errors import MlcloudError
    from mlcloud.deploy.server import ServerConfig, serve

    p = argparse.ArgumentParser(prog="python -m mlcloud.deploy.server",
                                description="Serve one mlcloud bundle over HTTP (Vertex AI's "
                                            "custom-container contract).")
    p.add_argument("bundle", nargs="?", help="a bundle folder (mlcloud.json + model.joblib) or "
                   "gs:// folder [default: AIP_STORAGE_URI]")
    p.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    p.add_argument("--port", type=int, help="port; 0 picks a free one [default: AIP_HTTP_PORT or 8080]")
    p.add_argument("--workers", type=int, help="predictor processes; 0 predicts in the server "
                   "process [default: MLCLOUD_WORKERS or one per core]")
    p.add_argument("--max-wait-ms", type=float, help="longest wait for a batch to fill (default 2)")
    p.add_argument("--max-batch", type=int, help="most requests in one model call (default 64)")
    p.add_argument("--ready-file", type=Path, help='written as {"url", "pid"} once serving')
    p.add_argument("--exit-with-stdin", action="store_true", help="stop when standard input closes")
    p.add_argument("--log-level", default=os.environ.get("MLCLOUD_LOG_LEVEL", "INFO"))
    args = p.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s mlcloud-serve %(levelname)s %(message)s")
    workers = args.workers
    if workers is None and os.environ.get("MLCLOUD_WORKERS"):
        workers = int(os.environ["MLCLOUD_WORKERS"])
    try:
        config = ServerConfig.resolve(
            os.environ, source=args.bundle, host=args.host, port=args.port, workers=workers,
            max_wait=None if args.max_wait_ms is None else args.max_wait_ms / 1000,
            max_batch=args.max_batch, ready_file=args.ready_file,
            exit_with_stdin=args.exit_with_stdin or None)

        def announce(url: str, manifest: dict) -> None:
            logging.getLogger("mlcloud.serve").info(
                "serving %s %s at %s (predict POST %s, health %s, %s)", manifest.get("name"),
                manifest.get("version"), url, config.predict_route, config.health_route,
                f"{config.workers} predictor processes" if config.workers else "predicting in-process")

        return serve(config, announce=announce)
    except MlcloudError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    except OSError as e:  # the port is taken, the address is not ours
        print(f"error: cannot serve: {e}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
