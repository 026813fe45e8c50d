"""Packaging and start-up: the wheel installs and runs; --help loads no heavy library."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sklearn", "pandas", "google.cloud.aiplatform", "google.cloud.aiplatform_v1",
         "google.cloud.storage", "numpy", "joblib")


@pytest.mark.parametrize("argv", [["--help"], ["upload", "--help"], ["deploy", "--help"],
                                  ["predict", "--help"], ["local", "--help"], ["versions", "--help"]])
def test_help_imports_no_heavy_library(argv):
    code = ("import sys; from mlcloud.cli.app import run; code = run(%r); "
            "heavy = sorted({m for m in sys.modules if m.startswith(%r)}); "
            "print('HEAVY', heavy); sys.exit(code)" % (argv, HEAVY))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Usage: mlcloud" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_wheel_installs_in_a_fresh_venv_and_runs(tmp_path):
    """Build the wheel offline, install it (no deps, no index) into a new virtual environment
    that borrows this environment's dependencies, and run `mlcloud --help` from it."""
    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--no-index", "-w", str(dist), str(ROOT)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr + r.stdout
    wheel = next(dist.glob("mlcloud-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    # Dependencies come from this environment: a plain path entry (its .pth files, such as an
    # editable install of mlcloud, are not processed), so mlcloud itself comes from the wheel.
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([str(venv / "bin" / "mlcloud"), "--help"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    for command in ("init", "upload", "deploy", "predict", "local", "versions", "download"):
        assert command in r.stdout
    where = subprocess.run([str(py), "-c", "import mlcloud.cli, mlcloud.deploy.serving, "
                            "mlcloud.infra.vertex.backend, mlcloud.infra.gcs.server as m; "
                            "from importlib.resources import files; "  # the shipped non-Python files
                            "assert files('mlcloud.deploy.server').joinpath('page.html').is_file(); "
                            "assert files('mlcloud.infra').joinpath('serving.Dockerfile').is_file(); "
                            "print(mlcloud.cli.__file__)"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(venv))
