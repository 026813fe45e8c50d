"""mlcloud runtimes: the serving runtimes mlcloud checks artifacts against."""

from __future__ import annotations

from mlcloud.cli import options, render


def runtimes(json: options.Json = False) -> None:
    """List the serving runtimes and what each can load.

    Vertex AI's prebuilt scikit-learn containers serve one scikit-learn version each; mlcloud's
    serving image installs the versions a manifest records.
    """
    from mlcloud.deploy.containers import RUNTIMES

    rows = [{"runtime": r.name, "sklearn": r.sklearn or "as saved", "python": r.python or "as saved",
             "max_pickle_protocol": r.max_protocol, "formats": list(r.formats),
             "image": r.image or "mlcloud serving image (infra/)"} for r in RUNTIMES.values()]
    if json:
        render.as_json(rows)
        return
    render.out(f"{'RUNTIME':<14} {'SKLEARN':<9} {'PYTHON':<9} {'PROTOCOL':>8}  FORMATS")
    for r in rows:
        render.out(f"{r['runtime']:<14} {r['sklearn']:<9} {r['python']:<9} "
                   f"{r['max_pickle_protocol']:>8}  {', '.join(r['formats'])}")
