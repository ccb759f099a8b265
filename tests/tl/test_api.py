"""The scverse-style API: fastspami.tl.integrate / tl.cluster write into the MuData, check
their input as the command line does, and record their parameters."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

import fastspami as fs
from fastspami.data.contract import write_mudata
from fastspami.data.simulation import simulate
from fastspami.errors import InputDataError


@pytest.fixture(scope="module")
def small():
    return simulate("rna_adt", grid_size=12, seed=3)


def test_readme_example_integrates_clusters_and_records_its_parameters(small):
    mdata = small.copy()
    # the README's Python example, with few epochs
    fs.tl.integrate(mdata, epochs=20, progress=False)
    fs.tl.cluster(mdata, use_rep="X_spami", n_clusters=5)

    n = mdata.n_obs
    # robust (the default) concatenates the two modality embeddings on RNA + protein
    assert mdata.obsm["X_spami"].shape == (n, 128)
    for mod in mdata.mod:
        assert mdata.obsm[f"X_spami_{mod}"].shape == (n, 64)
        assert mdata.mod[mod].obsm["spami_reconstruction"].shape[0] == n
    assert "spami_attention" not in mdata.obsm  # concatenation weighs nothing
    uns = mdata.uns["spami"]
    assert uns["version"] == fs.__version__
    assert uns["params"]["preset"] == "robust" and uns["params"]["epochs"] == 20
    labels = mdata.obs["spami_leiden"]
    assert labels.nunique() == 5
    assert mdata.uns["spami_leiden"]["params"]["n_clusters"] == 5


def test_attention_is_named_by_modality_under_the_key_added_and_copy_leaves_the_input(small):
    mdata = small.copy()
    out = fs.tl.integrate(
        mdata, preset="simulated", copy=True, key_added="X_mine", epochs=5, progress=False
    )
    attention = out.obsm["mine_attention"]
    assert isinstance(attention, pd.DataFrame)
    assert list(attention.columns) == list(mdata.mod)
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, rtol=1e-5)
    assert "X_mine" in out.obsm and out.uns["mine"]["params"]["preset"] == "simulated"
    assert "X_mine" not in mdata.obsm and "mine" not in mdata.uns


def test_same_seed_same_embedding(small):
    a = fs.tl.integrate(small, copy=True, epochs=10, seed=1, progress=False)
    b = fs.tl.integrate(small, copy=True, epochs=10, seed=1, progress=False)
    np.testing.assert_array_equal(a.obsm["X_spami"], b.obsm["X_spami"])


def _misaligned(mdata):
    """One modality's spots shuffled (rows with their names): the MuData no longer pairs
    each spot with itself across modalities."""
    import mudata

    order = np.random.default_rng(0).permutation(mdata.n_obs)
    mods = {m: mdata.mod[m].copy() for m in mdata.mod}
    mods["adt"] = mods["adt"][order].copy()
    with mudata.set_options(pull_on_update=False):
        return mudata.MuData(mods)


def test_in_memory_mudata_with_misaligned_spots_is_refused_with_the_clis_message(small, tmp_path):
    bad = _misaligned(small)
    with pytest.raises(InputDataError) as in_memory:
        fs.tl.integrate(bad, epochs=5, progress=False)
    path = tmp_path / "bad.h5mu"
    write_mudata(bad, path)
    cli = subprocess.run(
        [sys.executable, "-m", "fastspami.cli", "integrate", str(path), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    message = str(in_memory.value)
    assert message and message in cli.stderr, (message, cli.stderr)
    assert "X_spami" not in bad.obsm  # refused before any work


def test_cluster_refuses_a_missing_embedding(small):
    from fastspami.errors import ConfigError

    with pytest.raises(ConfigError, match="tl.integrate"):
        fs.tl.cluster(small.copy(), use_rep="X_nothing", n_clusters=3)


def test_pl_functions_take_the_mudata_that_tl_wrote(small):
    mdata = small.copy()
    fs.tl.integrate(mdata, preset="simulated", epochs=5, progress=False)
    fs.tl.cluster(mdata, n_clusters=5, method="kmeans")
    maps = fs.pl.spatial(mdata, color="spami_kmeans")
    ari = adjusted_rand_score(mdata.obs["ground_truth"], mdata.obs["spami_kmeans"])
    assert [ax.get_title() for ax in maps.axes if ax.get_title()][:2] == [
        "Ground truth",
        f"spami_kmeans · ARI {ari:.2f}",
    ]
    weights = fs.pl.attention(mdata)
    assert weights.axes and "ground_truth" in weights.axes[0].get_title() + weights.get_suptitle()
    with pytest.raises(Exception, match="tl.cluster"):
        fs.pl.spatial(mdata, color="nothing")
