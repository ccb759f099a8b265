"""The registry of real datasets (config/datasets.yaml): load, check and look up entries.

One entry says where a dataset comes from (a Zenodo record or a figshare article), which
files of that record it needs, how to turn them into the data contract (``layout``), where
its annotation lives, how many domains to cluster into, which marker genes the denoising
figure shows, SpaMI's settings for it (``method_params``) and the numbers published for it
(``reference``). An entry with ``layout: h5mu`` is a dataset of one's own, already in the
data contract at :func:`local_dataset_path`: nothing is downloaded or converted. Only the
standard library and PyYAML are imported here, so Snakemake can read the registry without
the scientific stack.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fastspami.errors import ConfigError

LAYOUTS = ("spatialglue_h5ad", "misar_h5")
LOCAL_LAYOUT = "h5mu"  # a ready-made .h5mu of one's own: no source, no download
_DOWNLOAD_KEYS = ("source", "downloads", "modalities", "annotation")
MODALITY_NAMES = ("rna", "adt", "atac")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
DEFAULT_REPOSITORIES = {
    "zenodo": {"api": "https://zenodo.org/api/records/{record}"},
    "figshare": {"api": "https://api.figshare.com/v2/articles/{record}"},
}
_BARE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class RemoteFile:
    """A file of a record: its name there and, where published, checksum and size."""

    name: str
    md5: str | None = None
    size: int | None = None
    unverified: bool = False

    @property
    def is_archive(self) -> bool:
        return self.name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class RawInput:
    """A file the converter reads from ``raw/``; ``archive``/``member`` say where it comes from.

    ``member`` is matched against the end of the archive's member paths (shell wildcards
    allowed), so an unknown top folder inside the archive does not matter. It may be a
    list of alternatives (the names different copies of a deposit use, e.g. adata_ADT.h5ad
    or adata_Pro.h5ad): the first that matches a member is taken. ``members`` is that list.
    """

    file: str
    archive: str | None = None
    member: str | tuple[str, ...] | None = None

    @property
    def members(self) -> tuple[str, ...]:
        """The member patterns to try, in order (empty for a file that is no member)."""
        if self.member is None:
            return ()
        return (self.member,) if isinstance(self.member, str) else tuple(self.member)


@dataclass(frozen=True)
class Annotation:
    """Where the ground-truth domains live: a table column, an obs column, an h5 dataset or
    the authors' simulated factor matrix (``obsm``)."""

    source: RawInput
    column: str | None = None
    key: str | None = None
    obsm: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """One real dataset of the registry."""

    name: str
    title: str
    technology: str
    repository: str
    record: str
    api_url: str
    downloads: tuple[RemoteFile, ...]
    layout: str
    modalities: dict[str, RawInput]
    annotation: Annotation | None = None
    n_spots: int | None = None
    n_clusters: int | None = None
    markers: dict[str, list[str]] = field(default_factory=dict)
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)
    unverified: bool = False
    n_clusters_source: str | None = None
    source_note: str | None = None

    @property
    def source(self) -> str:
        """A short source label for ``uns['dataset']['source']`` (with the registry's
        ``source.note``, e.g. that a dataset is a stand-in, where it has one)."""
        label = f"{self.repository}:{self.record}"
        return f"{label} ({self.source_note})" if self.source_note else label

    @property
    def is_local(self) -> bool:
        """A dataset of one's own (``layout: h5mu``): the workflow downloads nothing for it."""
        return self.layout == LOCAL_LAYOUT

    def raw_inputs(self) -> dict[str, RawInput]:
        """Every file the converter reads, by role (modality names, then 'annotation')."""
        inputs = dict(self.modalities)
        if self.annotation is not None:
            inputs["annotation"] = self.annotation.source
        return inputs

    def raw_files(self) -> list[str]:
        """File names under ``raw/`` the converter reads (each once)."""
        return sorted({item.file for item in self.raw_inputs().values()})


def _where(path: str | os.PathLike, key: str) -> str:
    return f"{path}: {key}"


def _require(entry: dict, key: str, where: str, kind: type | tuple = str) -> Any:
    if key not in entry or entry[key] is None:
        raise ConfigError(f"{where}.{key} is missing; add it (see the other entries).")
    value = entry[key]
    if not isinstance(value, kind):
        raise ConfigError(f"{where}.{key} = {value!r} has the wrong type; expected {kind}.")
    return value


def _bare_name(value: Any, where: str) -> str:
    """A file name without folders: a registry value must never choose where files go."""
    if not isinstance(value, str) or not _BARE_NAME.match(value) or value in (".", ".."):
        raise ConfigError(
            f"{where} = {value!r} is not a plain file name (letters, digits, '._+-', no "
            "folders); give the file's name only."
        )
    return value


def _parse_remote(entry: Any, where: str) -> RemoteFile:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a file name or a mapping with 'name'.")
    md5 = entry.get("md5")
    if md5 is not None and not (isinstance(md5, str) and _MD5.match(md5.lower())):
        raise ConfigError(
            f"{where}.md5 = {md5!r} is not 32 hex digits; copy it from the record or set null."
        )
    size = entry.get("size")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise ConfigError(f"{where}.size = {size!r} must be a byte count (integer) or null.")
    return RemoteFile(
        name=_bare_name(entry.get("name"), f"{where}.name"),
        md5=md5.lower() if md5 else None,
        size=size,
        unverified=bool(entry.get("unverified", False)),
    )


def _parse_input(
    entry: Any, where: str, downloads: dict[str, RemoteFile], made: frozenset[str] = frozenset()
) -> RawInput:
    """A converter input; ``made`` are files other inputs already put in ``raw/``."""
    if isinstance(entry, str):
        entry = {"file": entry}
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a file name or a mapping with 'file'.")
    member = entry.get("member")
    if isinstance(member, list):
        member = tuple(member)
    raw = RawInput(
        file=_bare_name(entry.get("file"), f"{where}.file"),
        archive=entry.get("archive"),
        member=member,
    )
    if raw.archive is None:
        if raw.file not in downloads and raw.file not in made:
            raise ConfigError(
                f"{where}.file = {raw.file!r} is neither a download of this dataset "
                f"({sorted(downloads)}) nor taken from an archive; add it to 'downloads' "
                "or give 'archive' and 'member'."
            )
    else:
        if raw.archive not in downloads or not downloads[raw.archive].is_archive:
            raise ConfigError(
                f"{where}.archive = {raw.archive!r} is not an archive among this dataset's "
                f"downloads ({sorted(downloads)}); list it under 'downloads'."
            )
        if not raw.members or not all(isinstance(m, str) and m for m in raw.members):
            raise ConfigError(
                f"{where}.member is missing or empty: give the path of the file in the "
                "archive, or a list of the paths different copies of the archive use."
            )
    return raw


def _parse_annotation(
    entry: Any, where: str, downloads: dict[str, RemoteFile], made: frozenset[str]
) -> Annotation:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a mapping (file, column) or null.")
    annotation = Annotation(
        source=_parse_input(entry, where, downloads, made),
        column=entry.get("column"),
        key=entry.get("key"),
        obsm=entry.get("obsm"),
    )
    if (annotation.column is None) == (annotation.obsm is None):
        raise ConfigError(
            f"{where}: give exactly one of 'column' (a table/obs column or h5 dataset) and "
            "'obsm' (a simulated factor matrix)."
        )
    return annotation


def _positive_int(entry: dict, key: str, where: str) -> int | None:
    value = entry.get(key)
    if value is not None and (not isinstance(value, int) or value < 1):
        raise ConfigError(f"{where}.{key} = {value!r} must be a positive integer or null.")
    return value


def parse_dataset(
    name: str, entry: dict, repositories: dict[str, dict], source: str | os.PathLike = "registry"
) -> DatasetSpec:
    """Check one registry entry and return it as a :class:`DatasetSpec`."""
    where = _where(source, f"datasets.{name}")
    if not re.match(r"^[A-Za-z0-9_]+$", name):
        raise ConfigError(f"{where}: dataset names use letters, digits and '_' only.")
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a mapping.")
    if entry.get("layout") == LOCAL_LAYOUT:
        return _parse_local_dataset(name, entry, where)
    origin = _require(entry, "source", where, dict)
    repository = _require(origin, "repository", f"{where}.source")
    if repository not in repositories:
        raise ConfigError(
            f"{where}.source.repository = {repository!r} is unknown; use one of "
            f"{sorted(repositories)} or add it under 'repositories'."
        )
    record = str(_require(origin, "record", f"{where}.source", (str, int)))
    source_note = origin.get("note")
    if source_note is not None and not isinstance(source_note, str):
        raise ConfigError(f"{where}.source.note must be text (what the source label adds).")
    downloads_list = [
        _parse_remote(item, f"{where}.downloads[{i}]")
        for i, item in enumerate(_require(entry, "downloads", where, list))
    ]
    downloads = {item.name: item for item in downloads_list}
    layout = _require(entry, "layout", where)
    if layout not in LAYOUTS:
        raise ConfigError(
            f"{where}.layout = {layout!r} is unknown; use one of {LAYOUTS}, or "
            f"{LOCAL_LAYOUT!r} for a ready-made .h5mu of your own."
        )
    modalities_entry = _require(entry, "modalities", where, dict)
    unknown = sorted(set(modalities_entry) - set(MODALITY_NAMES))
    if unknown or len(modalities_entry) < 2:
        raise ConfigError(
            f"{where}.modalities must name two or more of {MODALITY_NAMES}; got "
            f"{sorted(modalities_entry)}."
        )
    modalities = {
        mod: _parse_input(item, f"{where}.modalities.{mod}", downloads)
        for mod, item in modalities_entry.items()
    }
    annotation_entry = entry.get("annotation")
    annotation = (
        None
        if annotation_entry is None
        else _parse_annotation(
            annotation_entry,
            f"{where}.annotation",
            downloads,
            frozenset(item.file for item in modalities.values()),
        )
    )
    return DatasetSpec(
        name=name,
        title=str(entry.get("title", name)),
        technology=str(_require(entry, "technology", where)),
        repository=repository,
        record=record,
        api_url=repositories[repository]["api"].format(record=record),
        downloads=tuple(downloads_list),
        layout=layout,
        modalities=modalities,
        annotation=annotation,
        unverified=bool(entry.get("unverified", False)),
        source_note=source_note,
        **_common_fields(entry, where),
    )


def _parse_local_dataset(name: str, entry: dict, where: str) -> DatasetSpec:
    """An entry with ``layout: h5mu``: the file is the user's, so no source or downloads."""
    given = [key for key in _DOWNLOAD_KEYS if key in entry]
    if given:
        raise ConfigError(
            f"{where}: layout {LOCAL_LAYOUT!r} reads the ready-made file "
            f"{local_dataset_path(name)}, so {given} mean nothing here; remove them (the "
            "modalities and obs['ground_truth'] come from the file)."
        )
    return DatasetSpec(
        name=name,
        title=str(entry.get("title", name)),
        technology=str(entry.get("technology", "unknown")),
        repository="local",
        record=name,
        api_url="",
        downloads=(),
        layout=LOCAL_LAYOUT,
        modalities={},
        **_common_fields(entry, where),
    )


def _common_fields(entry: dict, where: str) -> dict[str, Any]:
    """The fields every entry may have: sizes, markers, per-method settings, references."""
    method_params = entry.get("method_params") or {}
    if not isinstance(method_params, dict) or not all(
        isinstance(v, dict) for v in method_params.values()
    ):
        raise ConfigError(f"{where}.method_params must map method names to parameter mappings.")
    markers = entry.get("markers") or {}
    if not isinstance(markers, dict):
        raise ConfigError(f"{where}.markers must map modality names to lists of features.")
    n_clusters_source = entry.get("n_clusters_source")
    if n_clusters_source is not None and not isinstance(n_clusters_source, str):
        raise ConfigError(f"{where}.n_clusters_source must be text: where n_clusters comes from.")
    return {
        "n_spots": _positive_int(entry, "n_spots", where),
        "n_clusters": _positive_int(entry, "n_clusters", where),
        "n_clusters_source": n_clusters_source,
        "markers": {str(k): [str(g) for g in v or []] for k, v in markers.items()},
        "method_params": method_params,
        "reference": _parse_reference(entry.get("reference"), f"{where}.reference"),
    }


def _scores(values: Any, where: str) -> dict[str, dict[str, float]]:
    """``{method: {metric: number}}``, checked."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must map method names to {{metric: number}} mappings.")
    for method, numbers in values.items():
        if not isinstance(numbers, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in numbers.values()
        ):
            raise ConfigError(f"{where}.{method} must map metric names to numbers.")
    return values


def _parse_reference(reference: Any, where: str) -> dict[str, Any]:
    """Published numbers: ``values`` (the paper's), ``cost``, ``figure``, and ``published``,
    a list of score sets from other sources (each: ``source``, ``values``; optional
    ``clustering``, ``n_clusters``, ``note``, ``metrics``: labels of metrics this benchmark
    does not compute, and ``beside``: metrics of this run shown next to them), which the
    report shows beside this run's scores."""
    if reference is None:
        return {}
    if not isinstance(reference, dict):
        raise ConfigError(f"{where} must be a mapping (figure, values, cost, published).")
    _scores(reference.get("values") or {}, f"{where}.values")
    published = reference.get("published") or []
    if not isinstance(published, list):
        raise ConfigError(f"{where}.published must be a list of score sets.")
    for i, item in enumerate(published):
        here = f"{where}.published[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("source"), str):
            raise ConfigError(f"{here} must be a mapping with 'source' (text) and 'values'.")
        _scores(_require(item, "values", here, dict), f"{here}.values")
        if not isinstance(item.get("metrics") or {}, dict):
            raise ConfigError(f"{here}.metrics must map metric names to their labels.")
        if not isinstance(item.get("beside") or [], list):
            raise ConfigError(f"{here}.beside must list metric names of this benchmark.")
        if item.get("n_clusters") is not None:
            _positive_int(item, "n_clusters", here)
    return reference


def local_dataset_path(name: str) -> Path:
    """Where the workflow reads dataset ``name`` from (relative to its working directory)."""
    return Path("resources") / "datasets" / name / f"{name}.h5mu"


def check_local_datasets(specs: dict[str, DatasetSpec], names: list[str]) -> None:
    """Raise ConfigError naming the missing file of any ``layout: h5mu`` dataset in ``names``."""
    for name in names:
        path = local_dataset_path(name)
        if specs[name].is_local and not path.is_file():
            raise ConfigError(
                f"datasets.{name} has layout {LOCAL_LAYOUT!r} (a file of your own) but "
                f"{path} does not exist; write your MuData there (README, 'Your own data')."
            )


def read_registry(path: str | os.PathLike) -> dict[str, Any]:
    """The registry file as a mapping: ``{'repositories': {...}, 'datasets': {...}}``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: no dataset registry there; point 'dataset_registry' at "
            "config/datasets.yaml or create the file."
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err}); fix the syntax.") from err
    if not isinstance(data, dict) or not isinstance(data.get("datasets", {}), dict):
        raise ConfigError(f"{path}: expected a mapping with a 'datasets' mapping.")
    repositories = {**DEFAULT_REPOSITORIES, **(data.get("repositories") or {})}
    for repo, spec in repositories.items():
        if not isinstance(spec, dict) or "{record}" not in str(spec.get("api", "")):
            raise ConfigError(
                f"{path}: repositories.{repo}.api must be a URL containing '{{record}}'."
            )
    return {"repositories": repositories, "datasets": data.get("datasets") or {}}


def load_registry(path: str | os.PathLike) -> dict[str, DatasetSpec]:
    """Every dataset of the registry at ``path``, checked; raises ConfigError on a bad entry."""
    data = read_registry(path)
    return {
        name: parse_dataset(name, entry, data["repositories"], path)
        for name, entry in data["datasets"].items()
    }


def get_dataset(path: str | os.PathLike, name: str) -> DatasetSpec:
    """The registry entry called ``name``; an unknown name lists the known ones."""
    data = read_registry(path)
    if name not in data["datasets"]:
        raise ConfigError(
            f"{path}: no dataset {name!r} in the registry; known: {sorted(data['datasets'])}."
        )
    return parse_dataset(name, data["datasets"][name], data["repositories"], path)
