"""mlcloud init: write mlcloud.toml in the current directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlcloud.cli import options, render


def init(
    name: Annotated[str, typer.Option("--name", help="Model name: lowercase letters, digits, '-'.")],
    model: Annotated[Optional[Path], typer.Option(
        "--model", help="The model file saved with joblib.", show_default=False)] = None,
    target: options.TargetOpt = None,
    project: options.Project = None,
    region: options.Region = None,
    bucket: options.Bucket = None,
    json: options.Json = False,
) -> None:
    """Write mlcloud.toml in the current directory.

    It holds the model name, the model file and the target: local (the default), or a GCP
    project, region and bucket. Running init again updates the values given.
    """
    from mlcloud.deploy.settings import CONFIG_FILE, resolve, write_file

    flags = dict(name=name, model=model, target=target, project=project, region=region,
                 bucket=bucket)
    resolve(flags, {}, Path("/nonexistent"))  # validate the values before writing anything
    path = Path.cwd() / CONFIG_FILE
    from mlcloud.deploy.settings import read_file

    values = read_file(path) if path.is_file() else {}
    values.update({k: (str(v) if isinstance(v, Path) else v) for k, v in flags.items() if v is not None})
    values.setdefault("target", "local")
    write_file(path, values)
    if model is not None and not model.is_file():
        render.warn(f"model file {model} does not exist yet")
    if json:
        render.as_json({"config": str(path), **values})
    else:
        render.out(f"wrote {path.name}: " + ", ".join(f"{k} = {v}" for k, v in values.items()))
