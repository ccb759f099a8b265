"""Converting source layouts to the data contract, and the shipped dataset registry.

Every converter must yield a .h5mu that fastspami.data.contract.validate_mudata accepts, with the
counts, coordinates and annotation of the source files, whatever order the source keeps
its spots in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from anndata import AnnData
from fixtures.source_layouts import (
    MISAR_ATAC,
    MISAR_RNA,
    write_misar_layout,
    write_spatialglue_layout,
)

from fastspami.data.contract import counts_matrix, read_mudata, validate_mudata
from fastspami.data.convert import align_spots, convert_dataset, read_misar_h5
from fastspami.data.registry import load_registry, parse_dataset
from fastspami.data.simulation import simulate
from fastspami.errors import ConfigError, InputDataError
from fastspami.model.presets import PRESETS

REPO = Path(__file__).resolve().parents[2]
REPOSITORIES = {"zenodo": {"api": "http://127.0.0.1:9/api/records/{record}"}}


@pytest.fixture(scope="module")
def rna_adt():
    return simulate("rna_adt", grid_size=6, n_rna=40, n_adt=8, seed=0)


@pytest.fixture(scope="module")
def rna_atac():
    return simulate("rna_atac", grid_size=6, n_rna=40, n_atac=60, seed=1)


def spec_for(layout: str, modalities: dict, annotation: dict | None = None, **extra):
    entry = {
        "technology": "test",
        "source": {"repository": "zenodo", "record": "1"},
        "downloads": sorted(
            {f if isinstance(f, str) else f["file"] for f in modalities.values()}
            | ({annotation["file"]} if annotation else set())
        ),
        "layout": layout,
        "modalities": modalities,
        "annotation": annotation,
        **extra,
    }
    return parse_dataset("test_set", entry, REPOSITORIES)


def dense(adata: AnnData) -> np.ndarray:
    matrix = counts_matrix(adata)
    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)


def test_spatialglue_h5ad_pair_converts_to_valid_mudata(tmp_path, rna_adt):
    write_spatialglue_layout(rna_adt, tmp_path)
    spec = spec_for(
        "spatialglue_h5ad",
        {"rna": "adata_RNA.h5ad", "adt": "adata_ADT.h5ad"},
        {"file": "annotation.csv", "column": "manual-anno"},
        markers={"rna": ["gene_0001"]},
    )
    out = tmp_path / "out.h5mu"
    convert_dataset(spec, tmp_path, out)
    mdata = read_mudata(out)
    validate_mudata(mdata)
    np.testing.assert_array_equal(dense(mdata["adt"]), dense(rna_adt["adt"]))
    np.testing.assert_allclose(mdata.obsm["spatial"], rna_adt.obsm["spatial"])
    np.testing.assert_allclose(mdata["rna"].obsm["spatial"], rna_adt.obsm["spatial"])
    assert (mdata.obs["ground_truth"].astype(str) == rna_adt.obs["ground_truth"].astype(str)).all()
    assert mdata.uns["dataset"]["name"] == "test_set"
    assert list(mdata.uns["dataset"]["markers"]["rna"]) == ["gene_0001"]


def test_misar_h5_pair_converts_with_labels_from_the_h5_file(tmp_path, rna_atac):
    write_misar_layout(rna_atac, tmp_path)
    spec = spec_for(
        "misar_h5",
        {"rna": MISAR_RNA, "atac": MISAR_ATAC},
        {"file": MISAR_ATAC, "column": "Y"},
    )
    mdata = convert_dataset(spec, tmp_path, tmp_path / "out.h5mu")
    validate_mudata(read_mudata(tmp_path / "out.h5mu"))
    np.testing.assert_array_equal(dense(mdata["atac"]), dense(rna_atac["atac"]))
    assert (mdata.obs["ground_truth"].astype(str) == rna_atac.obs["ground_truth"].astype(str)).all()


def test_misar_matrix_stored_features_by_spots_is_transposed(tmp_path, rna_atac):
    import h5py

    paths = write_misar_layout(rna_atac, tmp_path)
    with h5py.File(paths["rna"], "r+") as handle:
        matrix = handle["X"][()]
        del handle["X"]
        handle["X"] = matrix.T
    adata = read_misar_h5(paths["rna"])
    np.testing.assert_array_equal(adata.X.toarray(), dense(rna_atac["rna"]))


def test_modalities_in_different_spot_orders_are_aligned_by_name(rna_adt):
    rna = rna_adt["rna"].copy()
    adt = rna_adt["adt"][rna_adt.obs_names[::-1]].copy()
    aligned = align_spots({"rna": rna, "adt": adt})
    assert aligned["adt"].obs_names.equals(rna.obs_names)
    np.testing.assert_array_equal(dense(aligned["adt"]), dense(rna_adt["adt"]))


def test_modalities_with_partly_different_spots_keep_the_shared_ones(rna_adt):
    rna = rna_adt["rna"][rna_adt.obs_names[:30]].copy()
    adt = rna_adt["adt"][rna_adt.obs_names[5:]].copy()
    with pytest.warns(UserWarning, match="kept the 25 shared"):
        aligned = align_spots({"rna": rna, "adt": adt})
    assert list(aligned["rna"].obs_names) == list(rna_adt.obs_names[5:30])
    assert aligned["adt"].obs_names.equals(aligned["rna"].obs_names)


def test_modalities_without_common_spots_are_an_error(rna_adt):
    adt = rna_adt["adt"].copy()
    adt.obs_names = [f"other_{i}" for i in range(adt.n_obs)]
    with pytest.raises(InputDataError, match="share no spot"):
        align_spots({"rna": rna_adt["rna"].copy(), "adt": adt})


def test_authors_simulation_labels_come_from_the_factor_matrix(tmp_path, rna_adt):
    paths = write_spatialglue_layout(rna_adt, tmp_path)
    rna = AnnData(X=dense(rna_adt["rna"]))
    rna.obs_names = rna_adt.obs_names
    rna.obsm["spatial"] = rna_adt.obsm["spatial"]
    rna.obsm["spfac"] = np.asarray(rna_adt["rna"].obsm["spfac"])
    rna.write_h5ad(paths["rna"])
    spec = spec_for(
        "spatialglue_h5ad",
        {"rna": "adata_RNA.h5ad", "adt": "adata_ADT.h5ad"},
        {"file": "adata_RNA.h5ad", "obsm": "spfac"},
    )
    mdata = convert_dataset(spec, tmp_path, tmp_path / "out.h5mu")
    labels = set(mdata.obs["ground_truth"].astype(str))
    assert labels <= {"background", "factor1", "factor2", "factor3", "factor4"}
    assert len(labels) == rna_adt.obs["ground_truth"].nunique()


def test_annotation_table_without_spot_names_is_matched_by_position(tmp_path, rna_adt):
    paths = write_spatialglue_layout(rna_adt, tmp_path)
    table = paths["annotation"].read_text().splitlines()
    rows = [line.split(",", 1)[1] for line in table]
    paths["annotation"].write_text("\n".join(rows) + "\n")
    spec = spec_for(
        "spatialglue_h5ad",
        {"rna": "adata_RNA.h5ad", "adt": "adata_ADT.h5ad"},
        {"file": "annotation.csv", "column": "manual-anno"},
    )
    with pytest.warns(UserWarning, match="spot order"):
        mdata = convert_dataset(spec, tmp_path, tmp_path / "out.h5mu")
    assert (mdata.obs["ground_truth"].astype(str) == rna_adt.obs["ground_truth"].astype(str)).all()


def test_missing_raw_file_names_the_download_step(tmp_path):
    spec = spec_for("misar_h5", {"rna": MISAR_RNA, "atac": MISAR_ATAC})
    with pytest.raises(InputDataError, match="download"):
        convert_dataset(spec, tmp_path, tmp_path / "out.h5mu")
    assert not (tmp_path / "out.h5mu").exists()


# ---------------------------------------------------------------- the shipped registry


def test_shipped_registry_is_valid_and_names_known_presets():
    registry = load_registry(REPO / "config" / "datasets.yaml")
    assert {"human_lymph_node_a1", "mouse_thymus_stereo_cite", "misar_mouse_brain_e15"} <= set(
        registry
    )
    for spec in registry.values():
        preset = spec.method_params.get("spami", {}).get("preset")
        assert preset in PRESETS, f"{spec.name}: preset {preset!r}"


def test_shipped_registry_names_spatialglues_datatype_for_each_pair():
    # Without it SpatialGlue ran the thymus and the lymph node on its SPOTS preset (k 3,
    # 600 epochs, weights 1, 5, 1, 1) instead of their tutorials' presets.
    from fastspami.methods.spatialglue import ADT_DATATYPES, ATAC_DATATYPES

    expected = {"mouse_thymus_stereo_cite": "Stereo-CITE-seq", "human_lymph_node_a1": "10x"}
    registry = load_registry(REPO / "config" / "datasets.yaml")
    for spec in registry.values():
        datatype = spec.method_params.get("spatialglue", {}).get("datatype")
        fitting = ATAC_DATATYPES if "atac" in spec.modalities else ADT_DATATYPES
        assert datatype in fitting, f"{spec.name}: SpatialGlue datatype {datatype!r}"
        assert datatype == expected.get(spec.name, datatype)


def test_paper_config_names_only_registry_datasets():
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    registry = load_registry(REPO / paper.get("dataset_registry", "config/datasets.yaml"))
    assert paper["datasets"] and set(paper["datasets"]) <= set(registry)


def test_registry_file_name_with_a_folder_is_refused():
    with pytest.raises(ConfigError, match="plain file name"):
        spec_for("misar_h5", {"rna": "../escape.h5", "atac": MISAR_ATAC})


def test_dataset_of_ones_own_needs_no_source_and_refuses_download_keys():
    entry = {"layout": "h5mu", "n_clusters": 5, "method_params": {"spami": {"preset": "robust"}}}
    spec = parse_dataset("mine", entry, REPOSITORIES)
    assert spec.is_local and spec.n_clusters == 5 and spec.downloads == ()
    assert spec.method_params == {"spami": {"preset": "robust"}}
    with pytest.raises(ConfigError, match=r"\['downloads'\] mean nothing"):
        parse_dataset("mine", {**entry, "downloads": ["a.h5"]}, REPOSITORIES)
    with pytest.raises(ConfigError, match="'h5mu' for a ready-made"):
        spec_for("h5", {"rna": MISAR_RNA, "atac": MISAR_ATAC})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reference": {"published": [{"values": {}}]}}, r"published\[0\] must be a mapping"),
        (
            {"reference": {"published": [{"source": "S", "values": {"spami": {"ari": "high"}}}]}},
            "must map metric names to numbers",
        ),
        ({"n_clusters_source": 10}, "n_clusters_source must be text"),
        (
            {
                "modalities": {
                    "rna": MISAR_RNA,
                    "atac": {"file": "a.h5", "archive": "x.zip", "member": []},
                }
            },
            "member is missing or empty",
        ),
    ],
)
def test_registry_entry_with_a_bad_new_field_names_it(change, message):
    entry = {
        "technology": "test",
        "source": {"repository": "zenodo", "record": "1"},
        "downloads": [MISAR_RNA, MISAR_ATAC, "x.zip"],
        "layout": "misar_h5",
        "modalities": {"rna": MISAR_RNA, "atac": MISAR_ATAC},
        **change,
    }
    with pytest.raises(ConfigError, match=message):
        parse_dataset("test_set", entry, REPOSITORIES)
