"""mlcloud deploy: register a version in Vertex AI and serve it from the model's endpoint."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlcloud.cli import options, render


def deploy(
    version: Annotated[Optional[str], typer.Option(
        "--version", help="The version to deploy, e.g. v2 (required).", show_default=False)] = None,
    image: Annotated[Optional[str], typer.Option(
        "--image", help="Serving container image [default: Vertex's prebuilt scikit-learn "
        "image for the version's scikit-learn].", show_default=False)] = None,
    name: options.Name = None,
    target: options.TargetOpt = None,
    project: options.Project = None,
    region: options.Region = None,
    bucket: options.Bucket = None,
    json: options.Json = False,
) -> None:
    """Deploy a version: it becomes the default and takes 100% of the endpoint's traffic.

    Versions deployed before stay deployed at 0%, so going back needs no new deployment.
    """
    from mlcloud.deploy.release import deploy as run_deploy

    s = options.settings(name=name, target=target, project=project, region=region, bucket=bucket)
    s.model_name
    t = options.connect(s)
    with render.waiting(f"deploying {s.model_name} {version or ''}".strip()) as tick:
        result = run_deploy(t, version, image=image, tick=tick)
    for w in result.warnings:
        render.warn(w)
    if json:
        render.as_json(result.to_json())
    else:
        render.out(result.message)
        render.out("traffic: " + ", ".join(f"{v}={p}%" for v, p in result.traffic.items()))
