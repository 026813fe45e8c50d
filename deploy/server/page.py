"""The web page at ``/``: a form generated from the manifest's input schema.

A number field per numeric feature (its default is the training median the manifest records,
when it records one), a drop-down of the training categories per categorical feature, and a
button that posts the row to the predict route and shows the answer (with the class
probabilities for a classifier) or the server's message beside the field it names. One HTML file
(``page.html``), no external assets.
"""

from __future__ import annotations

import html
import json
from importlib import resources


def _label(name: str) -> str:
    return name.replace("_", " ").strip().capitalize() or name


def _field(i: int, f: dict) -> str:
    name = html.escape(str(f["name"]), quote=True)
    fid = f"f{i}"
    label = html.escape(_label(str(f["name"])))
    if f.get("kind") == "category":
        categories = f.get("categories") or []
        default = f.get("default", categories[0] if categories else None)
        options = [f'<option value="{j}"{" selected" if c == default else ""}>{html.escape(str(c))}</option>'
                   for j, c in enumerate(categories)]
        options.append(f'<option value=""{" selected" if not categories else ""}>(missing)</option>')
        control = f'<select id="{fid}" name="{name}">{"".join(options)}</select>'
    else:
        default = f.get("default")
        value = "" if default is None else html.escape(repr(default) if isinstance(default, float) else str(default))
        control = (f'<input id="{fid}" name="{name}" type="number" step="any" value="{value}" '
                   f'placeholder="empty = missing">')
    return (f'    <label for="{fid}">{label}{control}'
            f'<span class="field-error" id="error-{fid}"></span></label>')


def render(manifest: dict, predict_route: str) -> bytes:
    features = manifest["schema"]["features"]
    task = (manifest.get("task") or {}).get("kind", "regression")
    classifier = task == "classification"
    name, version = manifest.get("name", "model"), manifest.get("version", "")
    steps = manifest.get("steps") or []
    final = steps[-1][1].rsplit(".", 1)[-1] if steps and len(steps[-1]) > 1 else "scikit-learn model"
    config = {"predict_route": predict_route, "classifier": classifier,
              "features": [{"name": f["name"], "kind": f.get("kind", "number"),
                            "categories": f.get("categories") or []} for f in features]}
    values = {
        "title": html.escape(f"{name} {version}".strip()),
        "heading": html.escape(f"{name} {version}".strip()),
        "subtitle": html.escape(f"{final} · {len(features)} inputs · empty number = missing value"),
        "fields": "\n".join(_field(i, f) for i, f in enumerate(features)),
        "button": "Predict class" if classifier else "Estimate",
        "result_label": "Predicted class" if classifier else "Estimate",
        "config": json.dumps(config).replace("</", "<\\/"),
    }
    text = resources.files("mlcloud.deploy.server").joinpath("page.html").read_text("utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text.encode("utf-8")
