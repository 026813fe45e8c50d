"""mlcloud upload: package a fitted pipeline and its manifest as a new version in Cloud Storage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlcloud.cli import options, render


def upload(
    model_file: Annotated[Optional[Path], typer.Argument(
        metavar="[MODEL_FILE]", help="The model saved with joblib [default: --model, MLCLOUD_MODEL "
        "or mlcloud.toml's model].", show_default=False)] = None,
    model: Annotated[Optional[Path], typer.Option(
        "--model", help="The model file (the same as MODEL_FILE).", show_default=False)] = None,
    version: Annotated[Optional[str], typer.Option(
        "--version", help="Version name [default: the next of v1, v2, …].", show_default=False)] = None,
    sample: Annotated[Optional[Path], typer.Option(
        "--sample", help="A CSV of training rows, for the input schema when the pipeline does "
        "not record feature names or kinds.", show_default=False)] = None,
    name: options.Name = None,
    target: options.TargetOpt = None,
    project: options.Project = None,
    region: options.Region = None,
    bucket: options.Bucket = None,
    json: options.Json = False,
) -> None:
    """Upload a model file as a new version.

    Writes gs://BUCKET/models/NAME/VERSION/{model.joblib,mlcloud.json}. Versions are never
    overwritten; uploading identical bytes again changes nothing.
    """
    from mlcloud.deploy.upload import upload as run_upload

    s = options.settings(name=name, model=model_file or model, target=target, project=project,
                         region=region, bucket=bucket)
    s.model_name  # a missing name is refused before the emulators start
    path = s.require("model")
    t = options.connect(s)
    size = path.stat().st_size if path.is_file() else 0
    with render.transfer(f"uploading {path.name}", size) as progress:
        result = run_upload(t, path, version=version, sample=sample, progress=progress)
    if json:
        render.as_json(result.to_json())
    else:
        render.out(f"{result.message}: {result.uri}")
