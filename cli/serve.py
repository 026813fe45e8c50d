"""mlcloud serve: the model server on this machine; mlcloud image: the serving container's build."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from mlcloud.cli import options, render


@options.targeted
def serve(
    bundle: Annotated[Optional[Path], typer.Argument(
        help="A bundle folder (mlcloud.json + model.joblib, e.g. from a bucket); or use --version.",
        show_default=False)] = None,
    version: Annotated[Optional[str], typer.Option(
        "--version", help="Serve this uploaded version, e.g. v2.", show_default=False)] = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[Optional[int], typer.Option(
        "--port", help="Port; 0 picks a free one [env AIP_HTTP_PORT; default 8080].",
        show_default=False)] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", help="Predictor processes; 0 predicts in the server process "
        "[default: one per core].", show_default=False)] = None,
    settings: options.Settings = None,
) -> None:
    """Serve a model on this machine, with a web page at /.

    The same routes as the serving container.

    The same server runs behind the local Vertex emulator and in the container built by `mlcloud
    image`: Vertex's JSON on the predict route (AIP_PREDICT_ROUTE, default /predict), health on
    AIP_HEALTH_ROUTE (default /health). Ctrl-C stops it.
    """
    from mlcloud.deploy.errors import UserError
    from mlcloud.deploy.serve import serve_folder, serve_version

    if (bundle is None) == (version is None):
        raise UserError("serve needs one model: --version vN (an uploaded version) or a bundle "
                        "folder (mlcloud.json + model.joblib)")

    def announce(url: str, manifest: dict) -> None:
        render.note(f"serving {manifest.get('name')} {manifest.get('version')} at {url} "
                    f"(web page {url}/, predict POST {url}{os.environ.get('AIP_PREDICT_ROUTE', '/predict')}); "
                    "Ctrl-C stops")

    if bundle is not None:
        code = serve_folder(bundle, os.environ, host=host, port=port, workers=workers, announce=announce)
    else:
        s = settings
        s.model_name
        code = serve_version(options.connect(s), version, os.environ, host=host, port=port,
                             workers=workers, announce=announce)
    if code:
        raise typer.Exit(code)


@options.targeted
def image(
    version: Annotated[str, typer.Option("--version", help="The version to build an image for.")],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="The build context folder to write [default: ./image-NAME-VERSION].",
        show_default=False)] = None,
    repository: Annotated[Optional[str], typer.Option(
        "--repository", help="Artifact Registry repository [default: "
        "REGION-docker.pkg.dev/PROJECT/mlcloud].", show_default=False)] = None,
    json: options.Json = False,
    settings: options.Settings = None,
) -> None:
    """Write a serving image's build context for a version.

    Prints how to build, push and deploy it: for scikit-learn versions Vertex has no prebuilt
    container for.

    The Dockerfile installs the exact Python, scikit-learn, numpy and joblib versions of the
    version's manifest; the image runs mlcloud's model server (Vertex's custom-container contract).
    """
    from mlcloud.deploy.serve import image_context

    s = settings
    out = output or Path(f"image-{s.model_name}-{version}")
    plan = image_context(options.connect(s), version, out, repository=repository)
    if json:
        render.as_json(plan.to_json())
        return
    render.note(f"wrote the build context for {plan.name} {plan.version} to {plan.context} "
                f"(Python {plan.python}; {', '.join(plan.requirements[:3])})")
    for command in plan.commands:
        render.out(command)
