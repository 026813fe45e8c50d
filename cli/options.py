"""Options shared by commands, settings resolution and the connection to the target."""

from __future__ import annotations

import functools
import inspect
import os
import typing
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from mlcloud.cli import render
from mlcloud.deploy.settings import Settings, resolve  # noqa: F401 - Settings for commands

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


_WHERE = {"name": Name, "target": TargetOpt, "project": Project, "region": Region, "bucket": Bucket}


def targeted(command: Callable) -> Callable:
    """Give a command the options that say which model and where (--name, --target, --project,
    --region, --bucket), resolved into one Settings passed as its ``settings`` argument."""
    hints = typing.get_type_hints(command, include_extras=True)
    own = [p.replace(annotation=hints.get(p.name, p.annotation))
           for p in inspect.signature(command).parameters.values() if p.name != "settings"]
    where = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                               annotation=a) for n, a in _WHERE.items()]

    @functools.wraps(command)
    def wrapper(**kwargs):
        flags = {n: kwargs.pop(n) for n in _WHERE}
        return command(settings=settings(**flags), **kwargs)

    params = own + where
    wrapper.__signature__ = inspect.Signature(params)
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__
    return wrapper


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
