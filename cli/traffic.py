"""mlcloud traffic / rollback / undeploy: change what the endpoint serves, no new deployment."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlcloud.cli import options, render

Shares = Annotated[Optional[list[str]], typer.Argument(
    help="The new split as VERSION=PERCENT items summing to 100, e.g. v2=90 v3=10 (versions left "
    "out get 0%).", show_default=False)]


def _show(change, json: bool) -> None:
    from mlcloud.deploy.split import show

    for w in change.warnings:
        render.warn(w)
    if json:
        render.as_json(change.to_json())
        return
    render.out(change.message)
    render.out(f"before: {show(change.before)}")
    render.out(f"after:  {show(change.after)}")


@options.targeted
def traffic(
    shares: Shares = None,
    json: options.Json = False,
    settings: options.Settings = None,
) -> None:
    """Set the traffic split between deployed versions.

    For example: mlcloud traffic v2=90 v3=10 (deployed versions only, summing to 100).
    """
    from mlcloud.deploy.split import parse
    from mlcloud.deploy.traffic import set_split

    s = settings
    s.model_name
    wanted = parse(shares or [])
    if not wanted:
        raise typer.BadParameter("give the split, e.g. mlcloud traffic v2=90 v3=10", param_hint="SHARES")
    _show(set_split(options.connect(s), wanted), json)


@options.targeted
def rollback(
    to: Annotated[Optional[str], typer.Option(
        "--to", help="The version to go back to [default: the one that served before the last "
        "change]; deployed first if needed.", show_default=False)] = None,
    json: options.Json = False,
    settings: options.Settings = None,
) -> None:
    """Go back to the version that served before the last change.

    It gets 100% of the traffic again, in one step; --to names an older version.
    """
    from mlcloud.deploy.traffic import rollback as run_rollback

    s = settings
    s.model_name
    t = options.connect(s)
    with render.waiting(f"rolling back {s.model_name}") as tick:
        change = run_rollback(t, to, tick=tick)
    _show(change, json)


@options.targeted
def undeploy(
    version: Annotated[str, typer.Option("--version", help="The version to undeploy, e.g. v1.")],
    shares: Shares = None,
    json: options.Json = False,
    settings: options.Settings = None,
) -> None:
    """Undeploy a version; its artifact and registry version stay.

    Refused while it carries traffic, unless a new split is given.

    Its artifact and registry version stay: deploy it again at any time.
    """
    from mlcloud.deploy.split import parse
    from mlcloud.deploy.traffic import undeploy as run_undeploy

    s = settings
    s.model_name
    wanted = parse(shares or [])
    t = options.connect(s)
    with render.waiting(f"undeploying {s.model_name} {version}") as tick:
        change = run_undeploy(t, version, wanted or None, tick=tick)
    _show(change, json)
