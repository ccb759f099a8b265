"""The reduced workflow submitted to a real one-node SLURM cluster (Debian's packages).

The fixture installs and starts slurmctld, slurmd and munged (tests/workflow/slurm/start_slurm.sh),
and stops every daemon by its PID afterwards. The test submits tests/workflow/test_config.yaml
with ``--profile profiles/slurm`` and checks that the jobs ran under SLURM (their job logs
and SLURM_JOB_ID) and that the scores equal those of a local run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
TEST_CONFIG = REPO / "tests" / "workflow" / "test_config.yaml"
SCRIPTS = REPO / "tests" / "workflow" / "slurm"
# The tables only: the report rules have their own tests.
TABLES = [f"results/{name}.csv" for name in ("scores", "cost", "morans_i", "attention")]

pytestmark = [pytest.mark.slow, pytest.mark.slurm]


def _can_run_slurm() -> str | None:
    if os.geteuid() != 0:
        return "starting SLURM daemons needs root"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "neither SLURM nor apt-get (to install Debian's slurm packages) is available"
    return None


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    reason = _can_run_slurm()
    if reason:
        pytest.skip(f"local SLURM cluster not started: {reason}")
    state = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(
        ["bash", str(SCRIPTS / "start_slurm.sh"), str(state)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if started.returncode != 0:
        subprocess.run(["bash", str(SCRIPTS / "stop_slurm.sh"), str(state)], check=False)
        pytest.fail(f"could not start SLURM:\n{started.stdout}\n{started.stderr}")
    yield {"SLURM_CONF": str(state / "slurm.conf")}
    subprocess.run(["bash", str(SCRIPTS / "stop_slurm.sh"), str(state)], check=False)


def _run(workdir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        *TABLES,
        "--configfile",
        str(TEST_CONFIG),
        *args,
    ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=1500,
        cwd=workdir,
        env={**os.environ, **(env or {})},
    )


def _scores(workdir: Path) -> pd.DataFrame:
    table = pd.read_csv(workdir / "results" / "scores.csv")
    keys = ["dataset", "method", "variant", "seed", "clustering", "metric"]
    return table.sort_values(keys).reset_index(drop=True)[keys + ["value"]]


def test_workflow_through_slurm_matches_a_local_run(slurm_cluster, tmp_path):
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    local.mkdir()
    cluster.mkdir()
    done = _run(local, "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]

    submitted = _run(cluster, "--profile", str(REPO / "profiles" / "slurm"), env=slurm_cluster)
    assert submitted.returncode == 0, submitted.stderr[-3000:]

    # Every integration's log records the SLURM job it ran in (numeric job ids).
    integrate_logs = list((cluster / "logs" / "integrate").rglob("*.log"))
    assert integrate_logs
    job_ids = set()
    for path in integrate_logs:
        found = re.findall(r"^SLURM_JOB_ID=(\d+)$", path.read_text(), flags=re.MULTILINE)
        assert found, f"{path} did not run under SLURM"
        job_ids.update(found)
    # One SLURM job per batch (the methods of one conda env on one dataset and seed): the
    # test config's integrations (SpaMI, an ablation, PCA; one dataset, one seed) are one.
    assert len(job_ids) == 1

    pd.testing.assert_frame_equal(_scores(local), _scores(cluster), check_exact=False, atol=1e-9)
