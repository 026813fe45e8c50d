"""mlcloud versions: every version of the model, and which one serves."""

from __future__ import annotations

from mlcloud.cli import options, render


@options.targeted
def versions(
    json: options.Json = False,
    settings: options.Settings = None,
) -> None:
    """List every version of the model.

    Shows upload time, sha256, scikit-learn version, size, traffic share and the default.
    """
    from mlcloud.deploy.catalog import describe

    s = settings
    s.model_name
    rows = describe(options.connect(s))
    if json:
        render.as_json([r.to_json() for r in rows])
        return
    if not rows:
        render.out(f"{s.model_name} has no versions yet: run mlcloud upload")
        return
    render.out(f"{'VERSION':<10} {'CREATED':<21} {'SHA256':<13} {'SKLEARN':<8} {'SIZE':>10}  "
               f"{'DEPLOYED':<8}  {'TRAFFIC':>7}  DEFAULT")
    for r in rows:
        traffic = f"{r.traffic}%" if r.deployed else "-"
        created = r.created or "(interrupted upload)"
        render.out(f"{r.version:<10} {created:<21} {(r.sha256 or '-')[:12]:<13} "
                   f"{r.sklearn or '-':<8} {r.size or 0:>10}  {'yes' if r.deployed else 'no':<8}  {traffic:>7}  "
                   f"{'*' if r.default else ''}")


def _size(n: int | None) -> str:
    if not n:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)
