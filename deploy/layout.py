"""What upload writes, from what the user points at: one model file (a folder is searched for
exactly one) and the user's own code (``--code``: modules and packages) in a version's layout::

    gs://BUCKET/models/NAME/VERSION/model.joblib    (model.skops for --format skops)
                                   /code/...        the --code modules, importable at serving time
                                   /mlcloud.json    the manifest, written last
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlcloud.deploy.errors import ModelFileError

MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle", ".skops")
CODE_DIR = "code"


def artifact_name(fmt: str) -> str:
    return "model.skops" if fmt == "skops" else "model.joblib"


def find_model_file(path: Path) -> Path:
    """The model file itself; a folder must hold exactly one model file."""
    if path.is_file():
        return path
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in MODEL_SUFFIXES)
        if len(found) == 1:
            return found[0]
        layout = "models/NAME/VERSION/model.joblib + mlcloud.json"
        if not found:
            raise ModelFileError(f"{path} holds no model file (*.joblib, *.pkl, *.skops); give the "
                                 f"file saved with joblib.dump. Upload writes {layout}")
        raise ModelFileError(f"{path} holds {len(found)} model files ({', '.join(p.name for p in found)}); "
                             f"give the one to upload. Upload writes {layout}")
    raise ModelFileError(f"model file {path} not found")


@dataclass
class CodeBundle:
    """The --code modules copied into one folder that goes first on sys.path."""

    root: Path | None
    files: list[tuple[str, Path]]  # (path relative to root, file)

    def digests(self) -> list[dict]:
        return [{"path": rel, "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                 "size": p.stat().st_size} for rel, p in self.files]

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for _, p in self.files)

    def close(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def collect_code(paths: list[Path]) -> CodeBundle:
    if not paths:
        return CodeBundle(None, [])
    root = Path(tempfile.mkdtemp(prefix="mlcloud-code-"))
    try:
        for p in paths:
            target = root / p.name
            if target.exists():
                raise ModelFileError(f"--code {p}: another --code path is also named {p.name}")
            if p.is_file() and p.suffix == ".py":
                shutil.copy2(p, target)
            elif p.is_dir() and (p / "__init__.py").is_file():
                shutil.copytree(p, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif p.is_dir():
                raise ModelFileError(f"--code {p} is a folder without __init__.py: give a package "
                                     "or the .py modules themselves")
            else:
                raise ModelFileError(f"--code {p} not found or not a .py module")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    files = sorted((str(f.relative_to(root)), f) for f in root.rglob("*") if f.is_file())
    return CodeBundle(root, files)
