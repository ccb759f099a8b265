"""Downloading real datasets: a fake Zenodo/figshare record served on 127.0.0.1.

Each test builds a tiny simulated dataset in a source layout, serves it as a record and
checks what a user relies on: files arrive verified and convert to a valid .h5mu; a
corrupt file never lands where a finished one belongs; an interrupted transfer resumes;
files placed by hand are used without network; unsafe archives are refused.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from fixtures.fake_repository import FakeRepository
from fixtures.source_layouts import (
    MISAR_ATAC,
    MISAR_RNA,
    write_misar_layout,
    write_spatialglue_layout,
    zip_folder,
)

import fastspami.data.download
from fastspami.data.contract import read_mudata
from fastspami.data.convert import convert_dataset
from fastspami.data.download import (
    DownloadError,
    download_dataset,
    extract_member,
    file_md5,
    parse_figshare,
    parse_zenodo,
)
from fastspami.data.registry import get_dataset
from fastspami.data.simulation import simulate
from fastspami.errors import ChecksumError, ConfigError, InputDataError

REPO = Path(__file__).resolve().parents[2]
FAST = {"attempts": 3, "backoff": 0.01, "progress": False}


@pytest.fixture(autouse=True)
def small_network_reads(monkeypatch):
    """Read 1 KiB at a time, so a transfer cut half-way keeps what arrived (tiny files)."""
    monkeypatch.setattr(fastspami.data.download, "CHUNK", 1024)


@pytest.fixture(scope="module")
def rna_adt():
    return simulate("rna_adt", grid_size=6, n_rna=40, n_adt=8, seed=0)


@pytest.fixture(scope="module")
def rna_atac():
    return simulate("rna_atac", grid_size=6, n_rna=40, n_atac=60, seed=1)


def write_registry(path: Path, repo: FakeRepository, datasets: dict) -> Path:
    path.write_text(yaml.safe_dump({"repositories": repo.api_templates(), "datasets": datasets}))
    return path


def lymph_node_entry(md5: str | None = None) -> dict:
    member = "Dataset11_Human_Lymph_Node_A1/{}"
    return {
        "technology": "10x Visium RNA+protein (test)",
        "source": {"repository": "zenodo", "record": "10362607"},
        "downloads": [{"name": "Data_SpatialGlue.zip", "md5": md5}],
        "layout": "spatialglue_h5ad",
        "modalities": {
            "rna": {
                "file": "adata_RNA.h5ad",
                "archive": "Data_SpatialGlue.zip",
                "member": member.format("adata_RNA.h5ad"),
            },
            "adt": {
                "file": "adata_ADT.h5ad",
                "archive": "Data_SpatialGlue.zip",
                "member": member.format("adata_ADT.h5ad"),
            },
        },
        "annotation": {
            "file": "annotation.csv",
            "archive": "Data_SpatialGlue.zip",
            "member": member.format("annotation.csv"),
            "column": "manual-anno",
        },
        "n_clusters": 5,
    }


def misar_entry(rna_md5: str | None = None) -> dict:
    return {
        "technology": "MISAR-seq (test)",
        "source": {"repository": "figshare", "record": "28059641"},
        "downloads": [{"name": MISAR_RNA, "md5": rna_md5}, {"name": MISAR_ATAC}],
        "layout": "misar_h5",
        "modalities": {"rna": MISAR_RNA, "atac": MISAR_ATAC},
        "annotation": {"file": MISAR_ATAC, "column": "Y"},
    }


@pytest.fixture
def spatialglue_zip(tmp_path, rna_adt) -> bytes:
    folder = tmp_path / "source" / "Dataset11_Human_Lymph_Node_A1"
    write_spatialglue_layout(rna_adt, folder)
    # a second dataset in the same archive, with the same file names
    write_spatialglue_layout(rna_adt, tmp_path / "source" / "Dataset3_Mouse_Thymus1")
    archive = zip_folder(tmp_path / "source", tmp_path / "Data_SpatialGlue.zip", "Data_SpatialGlue")
    return archive.read_bytes()


def test_zenodo_archive_is_downloaded_verified_extracted_and_converted(
    tmp_path, spatialglue_zip, rna_adt
):
    with FakeRepository() as repo:
        repo.add("Data_SpatialGlue.zip", spatialglue_zip)
        registry = write_registry(tmp_path / "reg.yaml", repo, {"lymph": lymph_node_entry()})
        spec = get_dataset(registry, "lymph")
        raw = tmp_path / "resources" / "datasets" / "lymph" / "raw"
        cache = tmp_path / "resources" / "downloads"
        manifest = download_dataset(spec, raw, cache_dir=cache, **FAST)
    assert (cache / "Data_SpatialGlue.zip").read_bytes() == spatialglue_zip
    assert (cache / "Data_SpatialGlue.zip.md5").read_text().split()[0] == file_md5(
        cache / "Data_SpatialGlue.zip"
    )
    assert manifest.is_file() and "Data_SpatialGlue.zip" in manifest.read_text()
    assert sorted(p.name for p in raw.glob("*.h5ad")) == ["adata_ADT.h5ad", "adata_RNA.h5ad"]

    out = tmp_path / "lymph.h5mu"
    convert_dataset(spec, raw, out)
    mdata = read_mudata(out)
    assert set(mdata.mod) == {"rna", "adt"}
    assert list(mdata.obs_names) == list(rna_adt.obs_names)
    assert (mdata.obs["ground_truth"].astype(str) == rna_adt.obs["ground_truth"].astype(str)).all()
    assert mdata.uns["dataset"]["source"] == "zenodo:10362607"


def test_interrupted_download_resumes_with_range_and_ends_correct(tmp_path, rna_atac):
    paths = write_misar_layout(rna_atac, tmp_path / "source")
    with FakeRepository() as repo:
        rna = repo.add(MISAR_RNA, paths["rna"].read_bytes(), interrupt=1)
        repo.add(MISAR_ATAC, paths["atac"].read_bytes())
        registry = write_registry(tmp_path / "reg.yaml", repo, {"misar": misar_entry()})
        spec = get_dataset(registry, "misar")
        raw = tmp_path / "raw"
        download_dataset(spec, raw, **FAST)
    assert len(rna.requests) == 2
    assert rna.requests[0] is None and rna.requests[1].startswith("bytes=")
    assert (raw / MISAR_RNA).read_bytes() == paths["rna"].read_bytes()
    assert not (raw / f"{MISAR_RNA}.part").exists()

    mdata = convert_dataset(spec, raw, tmp_path / "misar.h5mu")
    assert set(mdata.mod) == {"rna", "atac"}
    read_mudata(tmp_path / "misar.h5mu")  # passes the data contract


def test_server_without_range_support_restarts_and_ends_correct(tmp_path, rna_atac):
    paths = write_misar_layout(rna_atac, tmp_path / "source")
    with FakeRepository() as repo:
        rna = repo.add(MISAR_RNA, paths["rna"].read_bytes(), interrupt=1, no_range=True)
        repo.add(MISAR_ATAC, paths["atac"].read_bytes())
        spec = get_dataset(write_registry(tmp_path / "r.yaml", repo, {"m": misar_entry()}), "m")
        download_dataset(spec, tmp_path / "raw", **FAST)
    assert len(rna.requests) == 2
    assert (tmp_path / "raw" / MISAR_RNA).read_bytes() == paths["rna"].read_bytes()


def test_corrupt_download_raises_checksum_error_and_leaves_no_file(tmp_path, rna_atac):
    paths = write_misar_layout(rna_atac, tmp_path / "source")
    with FakeRepository() as repo:
        served = repo.add(MISAR_RNA, paths["rna"].read_bytes(), corrupt=True)
        repo.add(MISAR_ATAC, paths["atac"].read_bytes())
        spec = get_dataset(write_registry(tmp_path / "r.yaml", repo, {"m": misar_entry()}), "m")
        raw = tmp_path / "raw"
        with pytest.raises(ChecksumError) as error:
            download_dataset(spec, raw, **FAST)
    message = str(error.value)
    assert MISAR_RNA in message and served.md5 in message
    assert file_md5(raw / f"{MISAR_RNA}.corrupt") in message
    assert not (raw / MISAR_RNA).exists()
    assert not (raw / "download.json").exists()


def test_file_placed_by_hand_is_used_without_network(tmp_path, rna_atac):
    paths = write_misar_layout(rna_atac, tmp_path / "source")
    raw = tmp_path / "raw"
    raw.mkdir()
    entry = misar_entry(rna_md5=file_md5(paths["rna"]))
    entry["downloads"][1]["md5"] = file_md5(paths["atac"])
    for path in paths.values():
        (raw / path.name).write_bytes(path.read_bytes())
    with FakeRepository() as repo:  # serves nothing: any request would fail
        spec = get_dataset(write_registry(tmp_path / "r.yaml", repo, {"m": entry}), "m")
        download_dataset(spec, raw, **FAST)
        assert repo.total_requests == 0


def test_wrong_file_placed_by_hand_is_reported_and_kept(tmp_path, rna_atac):
    paths = write_misar_layout(rna_atac, tmp_path / "source")
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / MISAR_RNA).write_bytes(b"not the published file")
    entry = misar_entry(rna_md5=file_md5(paths["rna"]))
    with FakeRepository() as repo:
        spec = get_dataset(write_registry(tmp_path / "r.yaml", repo, {"m": entry}), "m")
        with pytest.raises(ChecksumError, match="replace it"):
            download_dataset(spec, raw, **FAST)
    assert (raw / MISAR_RNA).read_bytes() == b"not the published file"


def test_registry_checksum_disagreeing_with_record_is_an_error(tmp_path, spatialglue_zip):
    with FakeRepository() as repo:
        repo.add("Data_SpatialGlue.zip", spatialglue_zip)
        entry = lymph_node_entry(md5="0" * 32)
        spec = get_dataset(write_registry(tmp_path / "r.yaml", repo, {"l": entry}), "l")
        with pytest.raises(ChecksumError, match="record changed"):
            download_dataset(spec, tmp_path / "raw", cache_dir=tmp_path / "cache", **FAST)
    assert not (tmp_path / "cache" / "Data_SpatialGlue.zip").exists()


def test_file_missing_from_record_names_the_files_it_has(tmp_path, spatialglue_zip):
    with FakeRepository() as repo:
        repo.add("Other.zip", spatialglue_zip)
        spec = get_dataset(
            write_registry(tmp_path / "r.yaml", repo, {"l": lymph_node_entry()}), "l"
        )
        with pytest.raises(ConfigError, match="Other.zip"):
            download_dataset(spec, tmp_path / "raw", **FAST)


def test_archive_member_climbing_out_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../adata_RNA.h5ad", b"payload")
    with pytest.raises(InputDataError, match="outside the archive"):
        extract_member(archive, "adata_RNA.h5ad", tmp_path / "raw" / "adata_RNA.h5ad")
    assert not (tmp_path / "raw" / "adata_RNA.h5ad").exists()
    assert not (tmp_path.parent / "adata_RNA.h5ad").exists()


def test_ambiguous_archive_member_is_an_error(tmp_path, spatialglue_zip):
    archive = tmp_path / "Data_SpatialGlue.zip"
    archive.write_bytes(spatialglue_zip)
    with pytest.raises(InputDataError, match="several members"):
        extract_member(archive, "adata_RNA.h5ad", tmp_path / "out.h5ad")


def test_record_metadata_of_both_repositories_give_url_md5_and_size():
    zenodo = parse_zenodo(
        {
            "files": [
                {
                    "key": "a.zip",
                    "size": 3,
                    "checksum": "md5:" + "a" * 32,
                    "links": {"self": "https://z.org/api/records/1/files/a.zip"},
                }
            ]
        }
    )
    assert zenodo["a.zip"].url == "https://z.org/api/records/1/files/a.zip/content"
    assert (zenodo["a.zip"].md5, zenodo["a.zip"].size) == ("a" * 32, 3)
    figshare = parse_figshare(
        {
            "files": [
                {
                    "name": "b.h5",
                    "size": 5,
                    "computed_md5": "",
                    "supplied_md5": "B" * 32,
                    "download_url": "https://ndownloader.figshare.com/files/7",
                }
            ]
        }
    )
    assert figshare["b.h5"].md5 == "b" * 32


def test_file_by_hand_without_known_checksum_and_no_network_says_what_to_add(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / MISAR_RNA).write_bytes(b"x")
    (raw / MISAR_ATAC).write_bytes(b"y")
    registry = tmp_path / "r.yaml"
    unreachable = {"figshare": {"api": "http://127.0.0.1:9/v2/articles/{record}"}}
    registry.write_text(
        yaml.safe_dump({"repositories": unreachable, "datasets": {"m": misar_entry()}})
    )
    with pytest.raises(DownloadError, match="Add the file's md5"):
        download_dataset(get_dataset(registry, "m"), raw, attempts=1, backoff=0, progress=False)


@pytest.mark.slow
def test_snakemake_rules_download_and_convert_a_registry_dataset(tmp_path, spatialglue_zip):
    with FakeRepository() as repo:
        repo.add("Data_SpatialGlue.zip", spatialglue_zip)
        registry = write_registry(tmp_path / "reg.yaml", repo, {"tiny_lymph": lymph_node_entry()})
        config = {
            "seeds": [0],
            "dataset_registry": str(registry),
            "datasets": ["tiny_lymph"],
            "methods": {"pca": {"module": "fastspami.methods.controls:integrate_pca_concat"}},
        }
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
        target = "resources/datasets/tiny_lymph/tiny_lymph.h5mu"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "snakemake",
                "--snakefile",
                str(REPO / "Snakefile"),
                "--directory",
                str(tmp_path),
                "--configfile",
                str(tmp_path / "config.yaml"),
                "--cores",
                "1",
                target,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    mdata = read_mudata(tmp_path / target)
    assert set(mdata.mod) == {"rna", "adt"}
    assert (tmp_path / "resources" / "downloads" / "Data_SpatialGlue.zip").is_file()
    assert (tmp_path / "logs" / "download" / "tiny_lymph.log").is_file()
    assert (tmp_path / "benchmarks" / "convert" / "tiny_lymph.tsv").is_file()
