"""mlcloud local up | down | status: the local Cloud Storage and Vertex AI emulators."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlcloud.cli import options, render

app = typer.Typer(help="Start, stop or check the local emulators.\n\nThe Cloud Storage and Vertex AI "
                       "emulators, on 127.0.0.1 only.",
                  no_args_is_help=True)

Home = Annotated[Optional[Path], typer.Option(
    "--home", help="Data directory of the emulators [env MLCLOUD_HOME; default: the user data "
    "directory].", show_default=False)]


def _home(home: Path | None) -> Path:
    return options.settings(home=home).home


def _show(status, json: bool) -> None:
    rows = [{"service": s.name, "running": s.running, "healthy": s.healthy, "url": s.url,
             "pid": s.pid, "log": str(s.log_file)} for s in status.services]
    if json:
        render.as_json({"home": str(status.home), "services": rows})
        return
    render.out(f"home: {status.home}")
    for r in rows:
        state = "healthy" if r["healthy"] else ("running, not answering" if r["running"] else "stopped")
        render.out(f"{r['service']:<7} {state:<10} {r['url'] or '-'}  pid {r['pid'] or '-'}")


@app.command()
def up(home: Home = None, json: options.Json = False) -> None:
    """Start the emulators (those already running are left alone); state persists in --home."""
    from mlcloud.infra import stack

    _show(stack.up(_home(home)), json)


@app.command()
def down(home: Home = None, json: options.Json = False) -> None:
    """Stop the emulators. Their state stays on disk for the next `up`."""
    from mlcloud.infra import stack

    _show(stack.down(_home(home)), json)


@app.command()
def status(home: Home = None, json: options.Json = False) -> None:
    """Show whether each emulator runs and answers its health check."""
    from mlcloud.infra import stack

    result = stack.status(_home(home))
    _show(result, json)
    if not result.healthy:
        raise typer.Exit(3)


@app.command()
def env(home: Home = None) -> None:
    """Print shell exports that point other tools at the running emulators."""
    from mlcloud.infra import stack

    st = stack.status(_home(home))
    if st.gcs.url:
        render.out(f"export STORAGE_EMULATOR_HOST={st.gcs.url}")
    if st.vertex.url:
        render.out(f"export MLCLOUD_VERTEX_EMULATOR_HOST={st.vertex.url}")
