"""Options shared by commands, settings resolution and the connection to the target."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from mlcloud.cli import render
from mlcloud.deploy.settings import Settings, resolve

Name = Annotated[Optional[str], typer.Option(
    "--name", help="Model name [env MLCLOUD_NAME; mlcloud.toml: name].", show_default=False)]
TargetOpt = Annotated[Optional[str], typer.Option(
    "--target", help="'local' (the emulators, default) or 'gcp' [env MLCLOUD_TARGET, "
    "MLCLOUD_EMULATOR=1].", show_default=False)]
Project = Annotated[Optional[str], typer.Option(
    "--project", help="GCP project [env GOOGLE_CLOUD_PROJECT, MLCLOUD_PROJECT].", show_default=False)]
Region = Annotated[Optional[str], typer.Option(
    "--region", help="Vertex AI region [env MLCLOUD_REGION; default us-central1].", show_default=False)]
Bucket = Annotated[Optional[str], typer.Option(
    "--bucket", help="Bucket, optionally with a prefix: gs://BUCKET[/PREFIX] [env MLCLOUD_BUCKET; "
    "local default mlcloud-local].", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON result.")]


def settings(**flags) -> Settings:
    return resolve(flags, os.environ, Path.cwd())


def connect(s: Settings):
    """The Target for these settings; in local mode the emulators are started when not running."""
    from mlcloud.deploy.target import check_reachable, connect as _connect

    if s.local and not (s.storage_emulator and s.vertex_emulator):
        from mlcloud.infra import stack

        if s.storage_emulator:  # the user's own storage emulator: never fall back to another
            check_reachable("storage emulator", s.storage_emulator)
        status, started = stack.ensure(s.home, storage_url=s.storage_emulator)
        if started:
            render.note(f"started the local stack (storage {status.gcs.url}, "
                        f"Vertex AI {status.vertex.url}); `mlcloud local down` stops it")
        s = s.with_(storage_emulator=status.gcs.url, vertex_emulator=status.vertex.url)
    return _connect(s)
