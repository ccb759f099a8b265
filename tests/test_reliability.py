"""Reliability: a killed run resumes to the same scores; reruns are byte-identical;
the validator and the graph builder either succeed or raise our documented error."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import mudata
import numpy as np
import pytest
from anndata import AnnData
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mudata import MuData

from fastspami.data.contract import validate_mudata
from fastspami.errors import InputDataError
from fastspami.pp.graph import gcn_normalize, spatial_knn_graph, symmetrize

REPO = Path(__file__).resolve().parents[1]
TEST_CONFIG = REPO / "tests" / "workflow" / "test_config.yaml"
TABLES = ["results/scores.csv", "results/morans_i.csv", "results/attention.csv"]


def _snakemake_command(workdir: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(TEST_CONFIG), "--cores", "2",
        *TABLES, *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_killed_run_resumes_to_byte_identical_tables(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    straight.mkdir()
    killed.mkdir()
    done = subprocess.run(_snakemake_command(straight), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]

    # Start the same run, kill -9 the whole process group once an integration job is running.
    proc = subprocess.Popen(
        _snakemake_command(killed),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if list((killed / "logs" / "integrate").rglob("*.log")):
            time.sleep(3)  # let a job get properly under way
            break
        time.sleep(0.5)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # Nothing half-written stands where a finished file belongs: every output that exists
    # is complete (outputs are written to a hidden temporary name and renamed into place).
    finished = [
        p
        for folder in ("resources", "results")
        for p in (killed / folder).rglob("*.h5mu")
        if not p.name.startswith(".")
    ]
    assert finished, "the kill came before any dataset was written: nothing was checked"
    for h5mu in finished:
        assert mudata.read_h5mu(h5mu).n_obs > 0, h5mu
    for status in (killed / "results").rglob("*.status.json"):
        assert json.loads(status.read_text())["status"], status
    # A killed Snakemake leaves its lock behind: unlock, as a user would, then resume.
    unlocked = subprocess.run(_snakemake_command(killed, "--unlock"), capture_output=True)
    assert unlocked.returncode == 0
    resumed = subprocess.run(
        _snakemake_command(killed, "--rerun-incomplete"), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for table in TABLES:
        assert (straight / table).read_bytes() == (killed / table).read_bytes(), table


def _copy_of_the_repository(destination: Path) -> Path:
    """The repository's files as a clone holds them, with this test's venv as .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    for name in listed:
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    venv = destination / ".venv"
    venv.mkdir()
    (venv / "bin").symlink_to(Path(sys.executable).parent)
    (venv / ".installed").touch()  # newer than the requirements: make does not reinstall
    return destination


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("make") and shutil.which("flock"))
    or not (Path(sys.executable).parent / "snakemake").exists(),
    reason="needs make, flock (util-linux) and Snakemake in this test's venv",
)
def test_make_run_resumes_after_kill_9_with_the_same_command(tmp_path):
    """`make run`, killed with kill -9 mid-run (Snakemake keeps its lock and the jobs it
    was running are incomplete), then the same `make run` again: it finishes. (-o setup:
    the installation is not under test.)"""
    repo = _copy_of_the_repository(tmp_path / "repo")
    targets = " ".join(TABLES)
    command = ["make", "-o", "setup", "run", f"SNAKEMAKE_ARGS={targets} --configfile {TEST_CONFIG}"]
    proc = subprocess.Popen(
        command, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if list((repo / "logs" / "integrate").rglob("*.log")):
            time.sleep(3)
            break
        time.sleep(0.5)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list((repo / ".snakemake" / "locks").iterdir()), "no stale lock: nothing was tested"
    again = subprocess.run(command, cwd=repo, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    assert "the last run was interrupted; removing the lock it left" in again.stdout
    for table in TABLES:
        assert (repo / table).is_file(), table


# ---------------------------------------------------------------- property-based


def _mudata(coords: np.ndarray, counts: np.ndarray) -> MuData:
    n = len(coords)
    names = [f"s{i}" for i in range(n)]
    mods = {}
    for mod, width in (("rna", counts.shape[1]), ("adt", max(1, counts.shape[1] // 2))):
        adata = AnnData(counts[:, :width].astype(np.float32))
        adata.obs_names = names
        adata.var_names = [f"{mod}{j}" for j in range(width)]
        adata.obsm["spatial"] = coords
        mods[mod] = adata
    mdata = MuData(mods)
    mdata.obsm["spatial"] = coords
    return mdata


coordinates = st.integers(min_value=1, max_value=12).flatmap(
    lambda n: st.lists(
        st.tuples(
            st.sampled_from([0.0, 1.0, 2.5, float("nan"), float("inf"), -3.0, 1e6]),
            st.sampled_from([0.0, 1.0, -1.0, 7.0]),
        ),
        min_size=n,
        max_size=n,
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    coords=coordinates,
    width=st.integers(min_value=1, max_value=4),
    fill=st.sampled_from([0.0, 1.0, 3.0, -1.0, float("nan"), 0.5]),
    k=st.integers(min_value=1, max_value=5),
)
def test_validator_succeeds_or_raises_our_error(coords, width, fill, k):
    coords = np.asarray(coords, dtype=float)
    counts = np.full((len(coords), width), fill)
    counts[0, 0] = 2.0
    mdata = _mudata(coords, counts)
    valid = np.isfinite(coords).all() and len(coords) >= k + 1 and fill >= 0  # False for NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            validate_mudata(mdata, k=k)
        except InputDataError:
            assert not valid, f"valid data refused: {len(coords)} spots, k={k}, fill={fill}"
            return
    assert valid, f"invalid data accepted: {coords.tolist()}, k={k}, fill={fill}"


@settings(max_examples=80, deadline=None)
@given(coords=coordinates, k=st.integers(min_value=1, max_value=6))
def test_graph_builder_succeeds_or_raises_our_error(coords, k):
    coords = np.asarray(coords, dtype=float)
    try:
        knn = spatial_knn_graph(coords, k)
    except InputDataError:
        assert len(coords) < k + 1 or not np.isfinite(coords).all()
        return
    assert knn.shape == (len(coords), len(coords))
    assert np.all(np.diff(knn.indptr) == k) and knn.diagonal().sum() == 0
    norm = gcn_normalize(symmetrize(knn))
    assert np.isfinite(norm.data).all()


def test_unknown_dataset_in_the_config_is_named_with_the_known_ones(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "seeds: [0]\ndatasets: [no_such_dataset]\n"
        "methods:\n  pca_concat: {module: fastspami.methods.controls:integrate_pca_concat}\n"
    )
    command = _snakemake_command(tmp_path)
    command[command.index("--configfile") + 1] = str(config)
    result = subprocess.run([*command, "-n"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "no_such_dataset" in output and "mouse_thymus_stereo_cite" in output
