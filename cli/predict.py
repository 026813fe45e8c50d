"""mlcloud predict: send instances to the model's endpoint and print the service's answer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlcloud.cli import options, render


def predict(
    input_file: Annotated[Path, typer.Argument(
        help='{"instances": [...]} (objects keyed by feature name, or lists in schema order), '
        "a JSON list of instances, or JSON Lines.")],
    ignore_extra_columns: Annotated[bool, typer.Option(
        "--ignore-extra-columns", help="Drop keys the model does not know instead of refusing.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say what was sent.")] = False,
    name: options.Name = None,
    target: options.TargetOpt = None,
    project: options.Project = None,
    region: options.Region = None,
    bucket: options.Bucket = None,
) -> None:
    """Predict: rows are checked against the deployed version's schema before anything is sent.

    Prints the response as JSON: predictions, the version that served, deployedModelId, model,
    modelVersionId.
    """
    from mlcloud.deploy.prediction import predict as run_predict, read_request

    s = options.settings(name=name, target=target, project=project, region=region, bucket=bucket)
    s.model_name
    instances, parameters = read_request(input_file)
    t = options.connect(s)
    response = run_predict(t, instances, parameters=parameters, ignore_extra=ignore_extra_columns,
                           explain=render.note if verbose else None)
    if verbose:
        render.note(f"served by {s.model_name} {response.get('version')}")
    render.as_json(response)
