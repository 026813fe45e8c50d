"""mlcloud deploy: register a version in Vertex AI and serve it from the model's endpoint."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlcloud.cli import options, render


@options.targeted
def deploy(
    version: Annotated[Optional[str], typer.Option(
        "--version", help="The version to deploy, e.g. v2 (required).", show_default=False)] = None,
    image: Annotated[Optional[str], typer.Option(
        "--image", help="Serving container image [default: Vertex's prebuilt scikit-learn "
        "image for the version's scikit-learn].", show_default=False)] = None,
    traffic: Annotated[Optional[int], typer.Option(
        "--traffic", help="A canary: the version's share in percent; the versions already serving "
        "keep the rest in their existing proportions [default: 100].", show_default=False)] = None,
    keep: Annotated[int, typer.Option(
        "--keep", help="Undeploy older versions without traffic beyond the newest N deployed.")] = 2,
    json: options.Json = False,
    settings: options.Settings = None,
) -> None:
    """Deploy a version to the model's endpoint.

    The version takes 100% of the traffic (or --traffic N as a canary) and becomes the default. Versions deployed before stay deployed at 0%, so going back needs no new deployment
    (--keep N: only the newest N); --traffic 10 deploys a canary instead.
    """
    from mlcloud.deploy.release import deploy as run_deploy

    s = settings
    s.model_name
    t = options.connect(s)
    with render.waiting(f"deploying {s.model_name} {version or ''}".strip()) as tick:
        result = run_deploy(t, version, image=image, tick=tick, traffic=traffic, keep=keep)
    for w in result.warnings:
        render.warn(w)
    if json:
        render.as_json(result.to_json())
    else:
        render.out(result.message)
        render.out("traffic: " + ", ".join(f"{v}={p}%" for v, p in result.traffic.items()))
        if result.undeployed:
            render.out(f"undeployed (no traffic, beyond the newest {keep}): {', '.join(result.undeployed)}")
