"""The converters and the shipped registry against real files (tests/data/realdata/).

The real files are protein matrices and lymph node annotations only (PROVENANCE.md there):
the RNA each conversion needs beside them is simulated for the same spots
(fixtures.realdata_standin), so these tests check the real protein files' and
annotations' formats, spot order, shapes and classes, and the registry's numbers for
them; the converters' RNA and ATAC readers stay tested on tests/fixtures/source_layouts.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from fixtures.realdata_standin import (
    A1_ADT,
    A1_ANNOTATION,
    A1_CODES,
    D1_ADT,
    D1_LABELS,
    REALDATA,
    SPLEEN_ADT,
    THYMUS_ADT,
    read_real,
    standin_rna,
)

from fastspami.data.contract import read_mudata, validate_mudata
from fastspami.data.convert import convert_dataset
from fastspami.data.download import extract_member
from fastspami.data.registry import DatasetSpec, load_registry, parse_dataset
from fastspami.model.presets import get_preset
from fastspami.pp.preprocess import preprocess_adt

REPO = Path(__file__).resolve().parents[2]
REGISTRY = load_registry(REPO / "config" / "datasets.yaml")
# Long et al.'s 10 lymph node A1 domains and their spot counts (shared/realdata/PROVENANCE.md)
A1_CLASSES = {
    "medulla cords": 1188,
    "medulla sinuses": 797,
    "cortex": 753,
    "pericapsular adipose tissue": 320,
    "capsule": 204,
    "subcapsular sinus": 74,
    "follicle": 60,
    "medulla vessels": 57,
    "hilum": 23,
    "trabeculae": 8,
}


def dense(matrix) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def place_raw(spec: DatasetSpec, raw: Path, protein: Path, annotation: Path | None = None):
    """raw/ as the download step leaves it: the protein file and annotation under the
    registry's names, and simulated RNA for the protein file's spots."""
    raw.mkdir(parents=True, exist_ok=True)
    real = read_real(protein)
    labels = pd.read_csv(annotation).iloc[:, -1].to_numpy() if annotation else None
    labels = labels if labels is not None else np.zeros(real.n_obs, dtype=int)
    inputs = spec.raw_inputs()
    rna = standin_rna(real.obs_names, labels, real.obsm["spatial"], n_genes=60, genes_per_domain=4)
    rna.write_h5ad(raw / inputs["rna"].file)
    shutil.copyfile(protein, raw / inputs["adt"].file)
    if annotation is not None:
        shutil.copyfile(annotation, raw / inputs["annotation"].file)
    return real


def test_real_files_are_the_published_bytes():
    for line in (REALDATA / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        path = REALDATA / name.strip()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, name


def test_lymph_node_a1_converts_with_every_spot_in_order_and_its_10_domains(tmp_path):
    spec = REGISTRY["human_lymph_node_a1"]
    real = place_raw(spec, tmp_path / "raw", A1_ADT, A1_ANNOTATION)
    mdata = convert_dataset(spec, tmp_path / "raw", tmp_path / "a1.h5mu")
    validate_mudata(read_mudata(tmp_path / "a1.h5mu"))

    assert mdata.n_obs == spec.n_spots == 3484
    assert list(mdata.obs_names) == list(real.obs_names)  # the protein file's order
    assert mdata["adt"].shape == (3484, 31)
    np.testing.assert_array_equal(dense(mdata["adt"].X), dense(real.X))
    assert list(mdata["adt"].var_names[:2]) == ["CD163", "CR2"]
    assert {"PTPRC", "PTPRC-1"} <= set(mdata["adt"].var_names)  # listed twice in the file
    np.testing.assert_array_equal(mdata.obsm["spatial"], real.obsm["spatial"])

    truth = mdata.obs["ground_truth"].astype(str)
    annotation = pd.read_csv(A1_ANNOTATION)
    assert list(annotation.columns) == ["Barcode", "manual-anno"]
    assert list(truth) == list(annotation["manual-anno"])
    assert truth.value_counts().to_dict() == A1_CLASSES
    assert spec.n_clusters == truth.nunique() == 10
    # GT_labels.txt: the same labels as codes, in alphabetical order of the names
    codes = pd.read_csv(A1_CODES, header=None)[0].to_numpy()
    assert list(np.array(sorted(A1_CLASSES))[codes]) == list(truth)


def test_lymph_node_annotation_rows_are_matched_by_barcode_not_by_position(tmp_path):
    spec = REGISTRY["human_lymph_node_a1"]
    place_raw(spec, tmp_path / "raw", A1_ADT, A1_ANNOTATION)
    annotation = pd.read_csv(A1_ANNOTATION)
    shuffled = annotation.sample(frac=1.0, random_state=0)
    shuffled.to_csv(tmp_path / "raw" / spec.annotation.source.file, index=False)
    mdata = convert_dataset(spec, tmp_path / "raw", tmp_path / "a1.h5mu")
    assert list(mdata.obs["ground_truth"].astype(str)) == list(annotation["manual-anno"])


def test_spleen_protein_file_converts_under_the_registry_name(tmp_path):
    spec = REGISTRY["mouse_spleen_spots"]
    real = place_raw(spec, tmp_path / "raw", SPLEEN_ADT)
    mdata = convert_dataset(spec, tmp_path / "raw", tmp_path / "spleen.h5mu")
    assert mdata.n_obs == spec.n_spots == 2568
    assert list(mdata.obs_names) == list(real.obs_names)
    assert mdata["adt"].shape == (2568, 21)
    np.testing.assert_array_equal(dense(mdata["adt"].X), real.X)  # stored dense
    assert "ground_truth" not in mdata.obs  # no annotation: clustered into n_clusters
    assert mdata.uns["dataset"]["n_clusters"] == 5


def test_thymus_protein_file_converts_and_the_presets_filter_keeps_the_papers_21(tmp_path):
    spec = REGISTRY["mouse_thymus_stereo_cite"]
    real = place_raw(spec, tmp_path / "raw", THYMUS_ADT)
    mdata = convert_dataset(spec, tmp_path / "raw", tmp_path / "thymus.h5mu")
    assert mdata.n_obs == spec.n_spots == 4697
    assert list(mdata.obs_names) == list(real.obs_names)
    assert mdata["adt"].shape == (4697, 51)
    np.testing.assert_array_equal(dense(mdata["adt"].X), dense(real.X))

    preprocess = get_preset("thymus").preprocess
    kept = preprocess_adt(mdata["adt"], min_cells_adt=preprocess["min_cells_adt"])
    assert kept.n_features == spec.reference["n_features_after_filter"]["adt"] == 21
    assert preprocess["n_comps"] == kept.n_features  # the paper's RNA PCA of 21 dimensions


@pytest.mark.parametrize(("path", "n_proteins"), [(A1_ADT, 31), (SPLEEN_ADT, 21)])
def test_authors_protein_filter_on_every_dataset_drops_nothing_outside_the_thymus(path, n_proteins):
    """The package's preprocess_adt drops proteins seen in < 50 spots everywhere, the text
    only on the thymus (the presets follow the text): on these files it makes no difference."""
    real = read_real(path)
    assert preprocess_adt(real, min_cells_adt=50).n_features == n_proteins


def test_lymph_node_d1_labels_without_spot_names_are_taken_in_spot_order(tmp_path):
    """D1's label file has one unnamed column: rows are matched to spots by position."""
    raw = tmp_path / "raw"
    entry = {
        "technology": "10x Visium CytAssist RNA + protein",
        "source": {"repository": "zenodo", "record": "1"},
        "downloads": ["adata_RNA.h5ad", "adata_ADT.h5ad", "D1_annotation_labels.csv"],
        "layout": "spatialglue_h5ad",
        "modalities": {"rna": "adata_RNA.h5ad", "adt": "adata_ADT.h5ad"},
        "annotation": {"file": "D1_annotation_labels.csv", "column": "labels"},
        "n_spots": 3359,
    }
    spec = parse_dataset("human_lymph_node_d1", entry, {"zenodo": {"api": "http://x/{record}"}})
    real = place_raw(spec, raw, D1_ADT, D1_LABELS)
    with pytest.warns(UserWarning, match="rows are taken in spot order"):
        mdata = convert_dataset(spec, raw, tmp_path / "d1.h5mu")
    assert list(mdata.obs_names) == list(real.obs_names)
    assert mdata["adt"].shape == (3359, 31)
    labels = pd.read_csv(D1_LABELS)["labels"]
    assert list(mdata.obs["ground_truth"].astype(int)) == list(labels)
    assert labels.nunique() == 11


def test_a_spot_count_unlike_the_registrys_is_reported(tmp_path):
    spec = REGISTRY["mouse_spleen_spots"]
    place_raw(spec, tmp_path / "raw", SPLEEN_ADT)
    wrong = parse_dataset(
        "mouse_spleen_spots",
        {**_entry("mouse_spleen_spots"), "n_spots": 2000},
        {"zenodo": {"api": "http://x/{record}"}},
    )
    with pytest.warns(UserWarning, match="the registry says 2000"):
        convert_dataset(wrong, tmp_path / "raw", tmp_path / "out.h5mu")


def _entry(name: str) -> dict:
    import yaml

    return yaml.safe_load((REPO / "config" / "datasets.yaml").read_text())["datasets"][name]


@pytest.mark.parametrize(
    ("dataset", "member_name", "real"),
    [
        ("mouse_spleen_spots", "Dataset1_Mouse_Spleen1/adata_Pro.h5ad", SPLEEN_ADT),
        ("mouse_spleen_spots", "Dataset1_Mouse_Spleen1/adata_ADT.h5ad", SPLEEN_ADT),
        ("mouse_thymus_stereo_cite", "Dataset3_Mouse_Thymus1/adata_protein.h5ad", THYMUS_ADT),
        ("human_lymph_node_a1", "Dataset11_Human_Lymph_Node_A1/adata_ADT.h5ad", A1_ADT),
    ],
)
def test_registry_finds_the_protein_file_under_each_name_its_copies_use(
    tmp_path, dataset, member_name, real
):
    archive = tmp_path / "Data_SpatialGlue.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(real, f"Data_SpatialGlue/{member_name}")
        zf.writestr(f"Data_SpatialGlue/{member_name.split('/')[0]}/adata_RNA.h5ad", b"rna")
    item = REGISTRY[dataset].modalities["adt"]
    out = extract_member(archive, item.members, tmp_path / "raw" / item.file)
    assert out.name == "adata_ADT.h5ad" and out.read_bytes() == real.read_bytes()


@pytest.mark.parametrize("member", ["annotation.csv", "annotation_lymph_node_A1.csv"])
def test_registry_finds_the_lymph_node_annotation_under_either_name(tmp_path, member):
    archive = tmp_path / "Data_SpatialGlue.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(A1_ANNOTATION, f"Data_SpatialGlue/Dataset11_Human_Lymph_Node_A1/{member}")
    item = REGISTRY["human_lymph_node_a1"].annotation.source
    out = extract_member(archive, item.members, tmp_path / "raw" / item.file)
    assert out.read_bytes() == A1_ANNOTATION.read_bytes()


def test_every_registry_cluster_count_states_its_source():
    for spec in REGISTRY.values():
        assert spec.n_clusters_source, f"{spec.name}: n_clusters without its source"
        if spec.n_clusters is None:
            assert spec.annotation is not None, f"{spec.name}: neither n_clusters nor labels"


def test_registry_spot_counts_are_the_real_files():
    for name, path in [
        ("human_lymph_node_a1", A1_ADT),
        ("mouse_spleen_spots", SPLEEN_ADT),
        ("mouse_thymus_stereo_cite", THYMUS_ADT),
    ]:
        assert REGISTRY[name].n_spots == read_real(path).n_obs, name
    # RNA + ATAC sets: no real file here; SpatialGlue's Table S1 and SMOBench's tables
    assert REGISTRY["mouse_brain_p22_atac_rna"].n_spots == 9215
    assert REGISTRY["misar_mouse_brain_e15"].n_spots == 1949


def test_smobench_scores_in_the_registry_are_its_published_ones():
    """Spot checks against shared/realdata/PROVENANCE.md (SMOBench @ 2f8fead)."""
    a1 = {
        item["clustering"]: item for item in REGISTRY["human_lymph_node_a1"].reference["published"]
    }
    assert a1["leiden"]["values"]["spami"] == {
        "ari": 0.192,
        "nmi": 0.381,
        "ami": 0.377,
        "homogeneity": 0.447,
    }
    assert a1["mclust"]["values"]["spatialglue"]["ari"] == 0.214
    assert {item["n_clusters"] for item in a1.values()} == {10}
    moran = {
        name: REGISTRY[name].reference["published"][0]["values"]["spami"][
            "morans_i_cluster_numbers"
        ]
        for name in ("mouse_brain_p22_atac_rna", "mouse_thymus_stereo_cite", "mouse_spleen_spots")
    }
    assert moran == {
        "mouse_brain_p22_atac_rna": 0.815,
        "mouse_thymus_stereo_cite": 0.670,
        "mouse_spleen_spots": 0.549,
    }
