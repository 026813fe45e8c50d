"""mlcloud upload: package a fitted pipeline and its manifest as a new version in Cloud Storage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlcloud.cli import options, render


@options.targeted
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
    code: Annotated[Optional[list[Path]], typer.Option(
        "--code", help="A module (.py) or package your pipeline's classes or functions live in; "
        "shipped with the version and importable at serving time. Repeatable.",
        show_default=False)] = None,
    runtime: Annotated[Optional[str], typer.Option(
        "--runtime", help="Check against this serving runtime: sklearn-0.20 … sklearn-1.6 "
        "(Vertex's prebuilt containers) or mlcloud (mlcloud's serving image) [default: the "
        "prebuilt one for the model's scikit-learn, in the cloud].", show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", "--allow-version-mismatch",
        help="Accept a scikit-learn version the runtime does not serve (with a warning).")] = False,
    fmt: Annotated[Optional[str], typer.Option(
        "--format", help="Expect this format: joblib (a pickle) or skops (no pickle: only "
        "trusted types load) [default: detected].", show_default=False)] = None,
    max_bytes: Annotated[int, typer.Option(
        "--max-artifact-bytes", help="Refuse artifacts (with code) above this size.")] = 10 * 1000**3,
    json: options.Json = False,
    settings: options.Settings = None,
) -> None:
    """Upload a model file as a new version.

    Writes gs://BUCKET/models/NAME/VERSION/{model.joblib,mlcloud.json}. Versions are never
    overwritten; uploading identical bytes again changes nothing.
    """
    from mlcloud.deploy.upload import UploadOptions, upload as run_upload

    s = settings.with_(model=model_file or model) if (model_file or model) else settings
    s.model_name  # a missing name is refused before the emulators start
    path = s.require("model")
    t = options.connect(s)
    size = path.stat().st_size if path.is_file() else 0
    opts = UploadOptions(version=version, sample=sample, code=tuple(code or ()), runtime=runtime,
                         force=force, max_bytes=max_bytes, fmt=fmt)
    with render.transfer(f"uploading {path.name}", size) as progress:
        result = run_upload(t, path, opts, progress=progress)
    for w in result.warnings:
        render.warn(w)
    if json:
        render.as_json(result.to_json())
    else:
        render.out(f"{result.message}: {result.uri}")
