"""`pip install .` from a clone gives the model and the `spami` command, with no R and
none of the baselines: a fresh virtual environment simulates and integrates a dataset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TORCH = "torch==2.13.0"  # pinned first: an unpinned torch pulls a multi-GB CUDA build


def _run(args, **kwargs):
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
@pytest.mark.install
def test_pip_install_in_a_fresh_venv_runs_spami_integrate_without_r(tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    _run([*pip, TORCH], env=env)
    _run([*pip, str(REPO)], env=env)

    python = str(venv / "bin" / "python")
    missing = _run(
        [
            python,
            "-c",
            "import importlib.util as u; print([m for m in ('rpy2', 'mofapy2', "
            "'SpatialGlue', 'snakemake') if u.find_spec(m)])",
        ]
    )
    assert missing.stdout.strip() == "[]"  # the baselines stay extras

    spami = str(venv / "bin" / "spami")
    clean = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "R_HOME")}
    clean["R_HOME"] = str(tmp_path / "no-R")
    _run(
        [spami, "simulate", "-o", str(tmp_path / "sim.h5mu"), "--grid-size", "12"],
        env=clean,
        cwd=tmp_path,
    )
    done = _run(
        [
            spami,
            "integrate",
            str(tmp_path / "sim.h5mu"),
            "-o",
            str(tmp_path / "out.h5mu"),
            "--epochs",
            "5",
        ],
        env=clean,
        cwd=tmp_path,
    )
    assert "X_spami" in done.stdout and (tmp_path / "out.h5mu").is_file()
