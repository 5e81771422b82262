"""The package a stranger installs: ``python -m build`` makes a wheel and an sdist named
``durable-engine`` (``durable`` on the index is another project), and the wheel,
installed into a clean virtual environment, runs ``durable demo``."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(600)
def test_the_built_wheel_installs_into_a_clean_venv_and_runs_the_demo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheels = list(dist.glob("durable_engine-*.whl"))
    sdists = list(dist.glob("durable_engine-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(dist.iterdir())
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "durable/__init__.py" in names and "projections/runs_index.py" in names
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    installed = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheels[0])],
                               capture_output=True, text=True, timeout=400, env=env)
    assert installed.returncode == 0, installed.stderr[-3000:]
    demo = subprocess.run([str(venv / "bin" / "durable"), "demo"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=env)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "succeeded" in demo.stdout and "verify" in demo.stdout
    assert (tmp_path / "durable.db").exists()  # the embedded default, in the working folder
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import durable, sys; print(durable.__file__)"],
                           capture_output=True, text=True, cwd="/", env=env)
    assert where.stdout.startswith(str(venv)), where.stdout  # the installed copy ran
