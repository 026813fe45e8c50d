"""mlcloud predict: send instances to the model's endpoint and print the service's answer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlcloud.cli import options, render


@options.targeted
def predict(
    input_file: Annotated[Path, typer.Argument(
        metavar="INPUT_FILE", help='{"instances": [...]} (objects keyed by feature name, or lists in schema order), '
        "a JSON list of instances, or JSON Lines.")],
    ignore_extra_columns: Annotated[bool, typer.Option(
        "--ignore-extra-columns", help="Drop keys the model does not know instead of refusing.")] = False,
    feature_order: Annotated[Optional[str], typer.Option(
        "--feature-order", help="For a model trained without feature names: the object keys in "
        "training order, comma-separated (turns objects into rows).", show_default=False)] = None,
    max_request_bytes: Annotated[int, typer.Option(
        "--max-request-bytes", help="Largest request to send; larger inputs are split.")] = 1_500_000,
    no_split: Annotated[bool, typer.Option(
        "--no-split", help="Refuse an input over the limit instead of splitting it.")] = False,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", help="Requests in flight at once when an input is split.", min=1, max=32)] = 4,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say what was sent.")] = False,
    settings: options.Settings = None,
) -> None:
    """Send instances to the endpoint and print the predictions.

    Rows are checked against the deployed version's schema before anything is sent. Prints the response as JSON: predictions, the version that served, deployedModelId, model,
    modelVersionId.
    """
    from mlcloud.deploy.prediction import Limits, predict as run_predict, read_request

    s = settings
    s.model_name
    instances, parameters = read_request(input_file)
    limits = Limits(max_request_bytes=max_request_bytes, split=not no_split, concurrency=concurrency)
    order = [k.strip() for k in feature_order.split(",")] if feature_order else None
    t = options.connect(s)
    notes: list[str] = []
    response = run_predict(t, instances, parameters=parameters, ignore_extra=ignore_extra_columns,
                           feature_order=order, limits=limits, explain=notes.append)
    for n in notes:
        if verbose or n.startswith(("sent ", "batch")) or " of instances: " in n:
            render.note(n)
    if verbose:
        render.note(f"served by {s.model_name} {response.get('version')}")
    for w in response.pop("warnings", []):
        render.warn(w)
    render.as_json(response)
