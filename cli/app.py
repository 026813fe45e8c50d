"""The mlcloud command: a thin Typer front over mlcloud.deploy.

Each command parses its options, makes one library call and renders the result. Refusals (bad
input or usage) exit 2, failures of a service exit 1; neither prints a traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from mlcloud.cli import (deploy, download, init, local, predict, render, runtimes, status, traffic,
                         upload, versions)
from mlcloud.deploy.errors import MlcloudError

app = typer.Typer(
    name="mlcloud",
    help="Take a fitted scikit-learn pipeline to Vertex AI, or to local emulators of it, and "
         "keep it there: init, upload, deploy, predict; versions, traffic, rollback; serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command("init")(init.init)
app.command("upload")(upload.upload)
app.command("deploy")(deploy.deploy)
app.command("predict")(predict.predict)
app.command("versions")(versions.versions)
app.command("download")(download.download)
app.command("traffic")(traffic.traffic)
app.command("rollback")(traffic.rollback)
app.command("undeploy")(traffic.undeploy)
app.command("status")(status.status)
app.command("runtimes")(runtimes.runtimes)
app.add_typer(local.app, name="local")
from mlcloud.cli import serve  # noqa: E402 - serving: the model server and its container image
app.command("serve")(serve.serve)
app.command("image")(serve.image)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this in-process)."""
    try:
        code = app(args=argv, prog_name="mlcloud", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        render.error("aborted")
        return 130
    except MlcloudError as e:
        render.error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        render.error("interrupted; run the same command again to finish")
        return 130
    except Exception as e:  # noqa: BLE001 - a bug of ours: one line, traceback on request
        if _usage_error(e):  # typer raises its own copy of click's errors, or click's
            e.show()
            return 2
        if os.environ.get("MLCLOUD_DEBUG"):
            raise
        render.error(f"internal error: {type(e).__name__}: {e} (set MLCLOUD_DEBUG=1 for the traceback)")
        return 1


def _usage_error(e: Exception) -> bool:
    return any(c.__name__ in ("UsageError", "NoArgsIsHelpError") for c in type(e).__mro__) \
        and hasattr(e, "show")


def main() -> None:
    sys.exit(run())
