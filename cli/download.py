"""mlcloud download: a version's exact artifact, its sha256 checked against the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlcloud.cli import options, render


@options.targeted
def download(
    version: Annotated[str, typer.Option("--version", help="The version to download, e.g. v1.")],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Where to write it [default: NAME-VERSION.joblib].",
        show_default=False)] = None,
    json: options.Json = False,
    settings: options.Settings = None,
) -> None:
    """Download a version's exact artifact.

    Nothing is written unless its sha256 matches the version's manifest.
    """
    from mlcloud.deploy.download import download as run_download

    s = settings
    out = output or Path(f"{s.model_name}-{version}.joblib")
    result = run_download(options.connect(s), version, out)
    if json:
        render.as_json(result.to_json())
    else:
        render.out(f"downloaded {s.model_name} {version} to {result.path} (sha256 {result.sha256})")
