"""The data contract: what a user sees when a dataset is wrong, and that good data round-trip."""

from __future__ import annotations

import warnings
import zlib

import anndata as ad
import mudata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fastspami.data.contract import (
    align_modalities,
    build_mudata,
    counts_matrix,
    modality_kind,
    read_mudata,
    spatial_coordinates,
    validate_mudata,
    write_mudata,
)
from fastspami.errors import InputDataError

N_SPOTS = 8


def make_modality(prefix: str, n_features: int, *, seed: int, spots=None) -> ad.AnnData:
    """Poisson counts; each spot's coordinates follow from its name, whatever the order."""
    rng = np.random.default_rng(seed)
    spots = spots if spots is not None else [f"spot{i}" for i in range(N_SPOTS)]
    adata = ad.AnnData(
        X=rng.poisson(3.0, size=(len(spots), n_features)).astype(np.float32),
        obs=pd.DataFrame(index=spots),
        var=pd.DataFrame(index=[f"{prefix}{j}" for j in range(n_features)]),
    )
    adata.obsm["spatial"] = np.array(
        [[zlib.crc32(s.encode()) % 1000, zlib.crc32(s[::-1].encode()) % 997] for s in spots],
        dtype=float,
    )
    return adata


def make_mudata(**modalities: ad.AnnData) -> mudata.MuData:
    """A MuData of the given modalities, taken as they are (even when they break the contract)."""
    modalities = modalities or {
        "rna": make_modality("gene", 6, seed=0),
        "adt": make_modality("prot", 3, seed=1),
    }
    with mudata.set_options(pull_on_update=False):
        mdata = mudata.MuData(modalities)
    first = next(iter(modalities.values()))
    if mdata.obs_names.equals(first.obs_names):
        mdata.obsm["spatial"] = first.obsm["spatial"].copy()
    mdata.uns["dataset"] = {"name": "tiny", "technology": "test", "source": "tests"}
    return mdata


def validate_quietly(mdata, **kwargs) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean dataset must not warn
        validate_mudata(mdata, **kwargs)


# --- modality kinds --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("rna", "rna"),
        ("GEX", "rna"),
        ("Gene Expression", "rna"),
        ("transcriptome", "rna"),
        ("ADT", "adt"),
        ("protein", "adt"),
        ("Antibody Capture", "adt"),
        ("cite", "adt"),
        ("atac", "atac"),
        ("Peaks", "atac"),
        ("H3K27ac", "atac"),
        ("h3k4me3", "atac"),
        ("chromatin", "atac"),
        ("epigenome", "atac"),
    ],
)
def test_modality_kind_recognizes_common_names(name: str, kind: str) -> None:
    assert modality_kind(name) == kind


def test_modality_kind_explicit_type_wins() -> None:
    assert modality_kind("foo", "rna") == "rna"
    assert modality_kind("rna", "protein") == "adt"


def test_unknown_modality_name_asks_for_an_explicit_type() -> None:
    with pytest.raises(InputDataError) as err:
        modality_kind("foo")
    assert "kinds={'foo': 'rna'}" in str(err.value)
    assert "--modality-type foo=rna" in str(err.value)


def test_unknown_explicit_type_lists_the_valid_ones() -> None:
    with pytest.raises(InputDataError, match="rna, adt, atac"):
        modality_kind("foo", "metabolome")


# --- accessors -------------------------------------------------------------------------


def test_counts_matrix_prefers_the_counts_layer_and_keeps_sparse() -> None:
    adata = make_modality("gene", 4, seed=0)
    assert counts_matrix(adata) is adata.X
    adata.layers["counts"] = sp.csr_matrix(adata.X)
    adata.X = np.log1p(adata.X)
    assert sp.issparse(counts_matrix(adata))


def test_spatial_coordinates_fall_back_to_a_modality() -> None:
    mdata = make_mudata()
    expected = mdata.obsm["spatial"].copy()
    del mdata.obsm["spatial"]
    np.testing.assert_array_equal(spatial_coordinates(mdata), expected)


# --- validation: one test per bad input ------------------------------------------------


def test_a_valid_dataset_passes_silently() -> None:
    validate_quietly(make_mudata())


def test_different_spots_are_reported() -> None:
    other = [f"spot{i}" for i in range(1, N_SPOTS)] + ["stranger"]
    mdata = make_mudata(
        rna=make_modality("gene", 6, seed=0), adt=make_modality("prot", 3, seed=1, spots=other)
    )
    with pytest.raises(
        InputDataError, match=r"do not hold the same spots.*mudata.intersect_obs\(mdata\)"
    ):
        validate_mudata(mdata)


@pytest.mark.filterwarnings("ignore:.*are not unique")
def test_duplicated_spot_names_are_reported() -> None:
    spots = [f"spot{i}" for i in range(N_SPOTS - 1)] + ["spot0"]
    mdata = make_mudata(rna=make_modality("gene", 6, seed=0, spots=spots))
    with pytest.raises(InputDataError, match="1 duplicated spot names.*obs_names_make_unique"):
        validate_mudata(mdata)


def test_same_spots_in_another_order_suggest_align_modalities() -> None:
    rna = make_modality("gene", 6, seed=0)
    adt = make_modality("prot", 3, seed=1)[::-1].copy()
    with pytest.raises(InputDataError, match=r"different order.*align_modalities\(mdata\)"):
        validate_mudata(make_mudata(rna=rna, adt=adt))


def test_missing_coordinates_are_reported() -> None:
    mdata = make_mudata()
    del mdata.obsm["spatial"]
    for adata in mdata.mod.values():
        del adata.obsm["spatial"]
    with pytest.raises(InputDataError, match=r"no spatial coordinates.*obsm\['spatial'\]"):
        validate_mudata(mdata)


def test_coordinates_with_three_columns_are_reported() -> None:
    mdata = make_mudata()
    mdata.obsm["spatial"] = np.zeros((N_SPOTS, 3))
    with pytest.raises(InputDataError, match=rf"shape \({N_SPOTS}, 3\), expected \({N_SPOTS}, 2\)"):
        validate_mudata(mdata)


def test_nan_coordinates_are_reported() -> None:
    mdata = make_mudata()
    coords = mdata.obsm["spatial"].copy()
    coords[2, 0] = np.nan
    mdata.obsm["spatial"] = coords
    with pytest.raises(
        InputDataError, match="NaN or inf coordinates for 1 spots; remove those spots or fill"
    ):
        validate_mudata(mdata)


def test_modality_coordinates_disagreeing_with_the_mudata_are_reported() -> None:
    mdata = make_mudata()
    mdata.mod["adt"].obsm["spatial"] = mdata.obsm["spatial"] + 5
    with pytest.raises(InputDataError, match="modality 'adt' obsm\\['spatial'\\] disagrees"):
        validate_mudata(mdata)


def test_nan_counts_name_the_modality() -> None:
    mdata = make_mudata()
    mdata.mod["adt"].X[0, 0] = np.nan
    with pytest.raises(
        InputDataError, match="modality 'adt' .X contains NaN or inf.*Replace missing measurements"
    ):
        validate_mudata(mdata)


def test_negative_counts_name_the_modality_and_layer() -> None:
    mdata = make_mudata()
    mdata.mod["rna"].layers["counts"] = sp.csr_matrix(mdata.mod["rna"].X - 10)
    with pytest.raises(
        InputDataError, match=r"modality 'rna' layers\['counts'\] contains negative"
    ):
        validate_mudata(mdata)


def test_normalized_counts_warn_but_pass() -> None:
    mdata = make_mudata()
    mdata.mod["rna"].X = np.log1p(mdata.mod["rna"].X)
    with pytest.warns(UserWarning, match="modality 'rna'.*look normalized"):
        validate_mudata(mdata)
    validate_quietly(mdata, require_counts=False)


def test_empty_modality_is_reported() -> None:
    mdata = make_mudata(rna=make_modality("gene", 6, seed=0), adt=make_modality("prot", 0, seed=1))
    with pytest.raises(InputDataError, match=r"modality 'adt' is empty \(8 spots x 0 features\)"):
        validate_mudata(mdata)


def test_too_few_spots_for_the_knn_graph_are_reported() -> None:
    spots = ["a", "b", "c"]
    mdata = make_mudata(rna=make_modality("gene", 4, seed=0, spots=spots))
    with pytest.raises(
        InputDataError, match="only 3 spots.*at least 4; use more spots or a smaller k"
    ):
        validate_mudata(mdata, k=3)
    validate_quietly(mdata, k=2)


def test_duplicated_coordinates_warn_with_their_number() -> None:
    mdata = make_mudata()
    coords = mdata.obsm["spatial"].copy()
    coords[1] = coords[0]
    coords[2] = coords[0]
    mdata.obsm["spatial"] = coords
    for adata in mdata.mod.values():
        adata.obsm["spatial"] = coords
    with pytest.warns(UserWarning, match="2 spots share their coordinates"):
        validate_mudata(mdata)


def test_messages_name_the_source_file() -> None:
    mdata = make_mudata()
    mdata.mod["adt"].X[0, 0] = -1
    with pytest.raises(InputDataError, match=r"^data/x\.h5mu: modality 'adt'"):
        validate_mudata(mdata, source="data/x.h5mu")


def test_build_mudata_fills_the_contract() -> None:
    rna = make_modality("gene", 6, seed=0)
    adt = make_modality("prot", 3, seed=1)
    coords = np.column_stack([np.arange(N_SPOTS), np.zeros(N_SPOTS)])
    labels = [1, 2, None, 1, 2, 1, 2, 1]
    mdata = build_mudata(
        {"rna": rna, "adt": adt}, spatial=coords, ground_truth=labels, dataset={"name": "t"}
    )
    np.testing.assert_array_equal(mdata.mod["adt"].obsm["spatial"], coords)
    np.testing.assert_array_equal(mdata.obsm["spatial"], coords)
    truth = mdata.obs["ground_truth"]
    assert truth.isna().tolist() == [label is None for label in labels]
    assert list(mdata.obs["ground_truth"].cat.categories) == ["1", "2"]
    assert mdata.uns["dataset"] == {"name": "t"}
    with pytest.raises(InputDataError, match="same order"):
        build_mudata({"rna": rna, "adt": adt[::-1].copy()})


# --- alignment -------------------------------------------------------------------------


def test_align_modalities_follows_the_first_modality_order() -> None:
    rna = make_modality("gene", 6, seed=0)
    adt = make_modality("prot", 3, seed=1)
    mdata = make_mudata(rna=rna, adt=adt[::-1].copy())
    aligned = align_modalities(mdata)
    assert list(aligned.mod["adt"].obs_names) == list(rna.obs_names)
    np.testing.assert_array_equal(aligned.mod["adt"].X, adt.X)  # rows follow their names
    np.testing.assert_array_equal(aligned.obsm["spatial"], mdata.obsm["spatial"])
    assert aligned.uns["dataset"]["name"] == "tiny"
    validate_mudata(aligned)


def test_align_modalities_refuses_different_spots() -> None:
    other = [f"x{i}" for i in range(N_SPOTS)]
    mdata = make_mudata(
        rna=make_modality("gene", 6, seed=0), adt=make_modality("prot", 3, seed=1, spots=other)
    )
    with pytest.raises(InputDataError, match="hold different spots"):
        align_modalities(mdata)


# --- reading and writing ---------------------------------------------------------------


def test_round_trip_keeps_counts_coordinates_labels_and_metadata(tmp_path) -> None:
    mdata = make_mudata()
    mdata.mod["rna"].layers["counts"] = sp.csr_matrix(mdata.mod["rna"].X)
    labels = ["a", "b", None, "a", "b", "a", "b", "a"]
    mdata.obs["ground_truth"] = pd.Series(labels, index=mdata.obs_names, dtype=object)
    path = tmp_path / "tiny.h5mu"
    write_mudata(mdata, path)
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.h5mu"]  # no temporary left behind
    with pytest.warns(UserWarning, match="1 of 8 spots have no obs\\['ground_truth'\\]"):
        back = read_mudata(path)
    assert list(back.mod) == ["rna", "adt"]
    np.testing.assert_array_equal(back.mod["adt"].X, mdata.mod["adt"].X)
    assert sp.issparse(back.mod["rna"].layers["counts"])
    np.testing.assert_array_equal(back.obsm["spatial"], mdata.obsm["spatial"])
    truth = back.obs["ground_truth"]
    assert truth.isna().tolist() == [label is None for label in labels]
    assert truth.dropna().tolist() == [label for label in labels if label is not None]
    assert back.uns["dataset"]["technology"] == "test"
    assert back.uns["modality_kinds"] == {"rna": "rna", "adt": "adt"}


def test_write_accepts_object_columns_of_mixed_types(tmp_path) -> None:
    mdata = make_mudata()
    mdata.obs["batch"] = pd.Series([1, "b"] * (N_SPOTS // 2), index=mdata.obs_names, dtype=object)
    write_mudata(mdata, tmp_path / "mixed.h5mu")
    back = read_mudata(tmp_path / "mixed.h5mu")
    assert back.obs["batch"].astype(str).tolist() == ["1", "b"] * (N_SPOTS // 2)


def test_read_copies_modality_coordinates_to_the_mudata(tmp_path) -> None:
    mdata = make_mudata()
    expected = mdata.obsm["spatial"].copy()
    del mdata.obsm["spatial"]
    write_mudata(mdata, tmp_path / "mod_coords.h5mu")
    back = read_mudata(tmp_path / "mod_coords.h5mu")
    np.testing.assert_array_equal(back.obsm["spatial"], expected)


def test_read_needs_explicit_kinds_for_unknown_modality_names(tmp_path) -> None:
    mdata = make_mudata(foo=make_modality("gene", 6, seed=0), adt=make_modality("p", 3, seed=1))
    write_mudata(mdata, tmp_path / "foo.h5mu")
    with pytest.raises(InputDataError, match="--modality-type foo=rna"):
        read_mudata(tmp_path / "foo.h5mu")
    back = read_mudata(tmp_path / "foo.h5mu", kinds={"foo": "rna"})
    assert back.uns["modality_kinds"] == {"foo": "rna", "adt": "adt"}
    write_mudata(back, tmp_path / "foo_typed.h5mu")  # the kinds travel with the file
    assert read_mudata(tmp_path / "foo_typed.h5mu").uns["modality_kinds"]["foo"] == "rna"
    with pytest.raises(InputDataError, match=r"types were given for \['bar'\]"):
        read_mudata(tmp_path / "foo.h5mu", kinds={"bar": "rna"})


def test_read_reports_problems_with_the_file_name(tmp_path) -> None:
    mdata = make_mudata()
    mdata.mod["rna"].X[3, 1] = -2
    path = tmp_path / "bad.h5mu"
    write_mudata(mdata, path)
    with pytest.raises(InputDataError, match=rf"^{path}: modality 'rna' .X contains negative"):
        read_mudata(path)


def test_read_missing_file_names_the_path(tmp_path) -> None:
    with pytest.raises(InputDataError, match=rf"{tmp_path}/absent.h5mu: no such file"):
        read_mudata(tmp_path / "absent.h5mu")


def test_read_unreadable_file_names_the_path(tmp_path) -> None:
    path = tmp_path / "garbage.h5mu"
    path.write_text("this is not HDF5")
    with pytest.raises(InputDataError, match=rf"{path}: cannot be read as a MuData") as error:
        read_mudata(path)
    # re-writing it with write_mudata is no advice: the file is not ours to re-write
    assert "write_mudata" not in str(error.value)
    assert "truncated" in str(error.value)


def test_integer_obsm_of_the_mudata_round_trips(tmp_path) -> None:
    """mudata 0.3 writes integer MuData-level obsm arrays but cannot read them back
    ("cannot convert float NaN to integer"); sc.read_visium stores coordinates as int64."""
    mdata = make_mudata()
    coords = np.round(mdata.obsm["spatial"]).astype(np.int64)
    mdata.obsm["spatial"] = coords
    for adata in mdata.mod.values():
        adata.obsm["spatial"] = coords.copy()
    mdata.obsm["barcode_index"] = np.arange(N_SPOTS, dtype=np.int32)[:, None]
    path = tmp_path / "visium_like.h5mu"
    write_mudata(mdata, path)
    with pytest.raises(ValueError, match="cannot convert float NaN to integer"):
        with mudata.set_options(pull_on_update=False):
            mudata.read_h5mu(path)  # the bug this works around: fails without it
    back = read_mudata(path)
    assert back.obsm["spatial"].dtype == np.int64
    np.testing.assert_array_equal(back.obsm["spatial"], coords)
    assert back.obsm["barcode_index"].dtype == np.int32
    np.testing.assert_array_equal(back.obsm["barcode_index"][:, 0], np.arange(N_SPOTS))
    assert mudata.MuData._init_from_dict_.__func__.__name__ == "_init_from_dict_"  # restored


# --- modalities without signal ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fill", "what"),
    [(0.0, "no counts at all"), (4.0, "the same counts")],
    ids=["all zero", "one profile"],
)
def test_a_modality_without_signal_is_refused_naming_the_file(tmp_path, fill, what) -> None:
    mdata = make_mudata()
    mdata.mod["adt"].X = np.full((N_SPOTS, 3), fill, dtype=np.float32)
    path = tmp_path / "dead_adt.h5mu"
    write_mudata(mdata, path)
    with pytest.raises(InputDataError, match=rf"^{path}: modality 'adt' has no signal: .*{what}"):
        read_mudata(path)


def test_a_sparse_modality_without_signal_is_refused() -> None:
    mdata = make_mudata()
    mdata.mod["adt"].X = sp.csr_matrix((N_SPOTS, 3), dtype=np.float32)
    with pytest.raises(InputDataError, match="modality 'adt' has no signal"):
        validate_mudata(mdata)
    mdata.mod["adt"].X = sp.csr_matrix(([1.0], ([2], [1])), shape=(N_SPOTS, 3))
    validate_quietly(mdata)  # one count in one spot: a signal, however small


def test_spami_refuses_a_modality_whose_spots_differ_only_in_depth() -> None:
    """Proportional RNA counts pass the contract but are one profile once normalized to
    the same total: SpaMI would give a constant input an attention weight."""
    from fastspami.data.simulation import simulate
    from fastspami.methods.spami_method import integrate

    mdata = simulate("rna_adt", grid_size=8, n_rna=40, n_adt=8, seed=0)
    depth = np.arange(1, mdata.n_obs + 1, dtype=np.float32)[:, None]
    profile = np.arange(1, 41, dtype=np.float32)[None, :]
    rna = mdata.mod["rna"]
    rna.X = sp.csr_matrix(depth * profile)
    rna.layers.pop("counts", None)
    validate_mudata(mdata)  # raw counts differ between spots
    with pytest.raises(InputDataError, match="modality 'rna' has no signal after preprocessing"):
        integrate(mdata, seed=0, threads=1, device="cpu", epochs=1)


# --- re-integration -----------------------------------------------------------------------


def test_integrating_again_replaces_the_previous_runs_outputs() -> None:
    from fastspami.methods.contract import IntegrationResult, store_result

    mdata = make_mudata()
    ones = np.ones((N_SPOTS, 2), dtype=np.float32)
    store_result(
        IntegrationResult(
            method="spami",
            embedding=ones,
            modality_embeddings={"rna": ones, "adt": ones},
            attention=np.full((N_SPOTS, 2), 0.5, dtype=np.float32),
            attention_modalities=["rna", "adt"],
            reconstructions={"rna": ones, "adt": ones},
        ),
        mdata,
    )
    mdata.obsm["X_spami_reference"] = ones  # another method whose name starts the same
    store_result(
        IntegrationResult(
            method="spami",
            embedding=2 * ones,
            modality_embeddings={"rna": 2 * ones},
            reconstructions={"rna": 2 * ones},
        ),
        mdata,
    )
    assert set(mdata.obsm) >= {"X_spami", "X_spami_rna", "X_spami_reference"}
    assert "X_spami_adt" not in mdata.obsm and "spami_attention" not in mdata.obsm
    assert "spami_reconstruction" not in mdata.mod["adt"].obsm
    assert "attention_modalities" not in mdata.uns["spami"]
    np.testing.assert_array_equal(mdata.obsm["X_spami"], 2 * ones)
