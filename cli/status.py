"""mlcloud status: the endpoint, each deployed version with its traffic and health, last change."""

from __future__ import annotations

from mlcloud.cli import options, render


@options.targeted
def status(
    json: options.Json = False,
    settings: options.Settings = None,
) -> None:
    """Show what serves the model.

    The endpoint, each deployed version with its traffic and health, the default, the last change.
    """
    from mlcloud.deploy.split import show
    from mlcloud.deploy.status import status as run_status

    s = settings
    s.model_name
    st = run_status(options.connect(s))
    if json:
        render.as_json(st.to_json())
        return
    render.out(f"endpoint: {st.endpoint or 'none (run mlcloud deploy --version vN)'}")
    render.out(f"default:  {st.default or 'none'}")
    if st.deployed:
        render.out(f"{'VERSION':<10} {'DEPLOYED MODEL':<15} {'TRAFFIC':>7}  HEALTH")
        for r in st.deployed:
            render.out(f"{r.version:<10} {r.deployed_model_id:<15} {str(r.traffic) + '%':>7}  {r.health}")
    c = st.last_change
    if c:
        render.out(f"last change: {c['command']} at {c['time']}: {show(c['before'])} -> {show(c['after'])}")
    else:
        render.out("last change: none recorded")
