"""Download a registry dataset's files with verified checksums (Zenodo and figshare).

    download_dataset(spec, raw_dir, cache_dir=...)  ->  raw_dir/download.json

For every file the registry lists: use a copy already on disk when its checksum is right
(so a user behind a firewall places files by hand and never touches the network),
otherwise read the record's metadata from the repository's API (file URL, MD5, size),
download with a progress bar, retry with exponential back-off, resume an interrupted
transfer with an HTTP Range request where the server allows it, check size and MD5, and
only then move the file into place. A wrong checksum raises :class:`ChecksumError` and
keeps the bad bytes aside as ``<file>.corrupt``. Needed members of archives are copied
out one by one to ``raw_dir/<file>``: a member's path inside the archive never decides
where anything is written, and members that are links, devices or that climb out of the
archive ('..', absolute paths) are refused. Nothing downloaded is ever executed.

Plain files land in ``raw_dir``; archives in ``cache_dir`` (shared by every dataset of one
record, so a multi-dataset archive is fetched once). A verified file gets a sidecar
``<file>.md5`` (``md5sum -c`` format) so later runs can check it offline.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import logging
import os
import shutil
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

import requests
from tqdm import tqdm

from fastspami._utils.atomic import atomic_path
from fastspami.data.registry import DatasetSpec, RemoteFile
from fastspami.errors import ChecksumError, ConfigError, InputDataError, SpamiError

log = logging.getLogger(__name__)

CHUNK = 1 << 18  # network read size: an interrupted transfer loses at most one
HASH_BLOCK = 1 << 20
TIMEOUT = (15, 120)  # seconds: connect, read
MANIFEST = "download.json"
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(SpamiError, ConnectionError):
    """A file could not be fetched (network down, server refusing, attempts used up)."""


class _Transient(Exception):
    """An error worth another attempt (connection lost, timeout, 5xx, short transfer)."""


@dataclass(frozen=True)
class RecordFile:
    """A file as the repository's API describes it."""

    name: str
    url: str
    md5: str | None
    size: int | None


# ---------------------------------------------------------------- record metadata


def _md5_of(value: Any) -> str | None:
    """'md5:abc..' or 'abc..' -> 'abc..'; other algorithms and empty values -> None."""
    if not value or not isinstance(value, str):
        return None
    algo, sep, digest = value.partition(":")
    if sep and algo.lower() != "md5":
        return None
    digest = digest if sep else value
    return digest.lower() if len(digest) == 32 else None


def parse_zenodo(meta: dict) -> dict[str, RecordFile]:
    """Files of a Zenodo record (``/api/records/{id}``): key, checksum, size, links."""
    entries = meta.get("files") or []
    if isinstance(entries, dict):  # the /files endpoint shape: {"entries": [...] or {...}}
        entries = entries.get("entries") or []
        entries = list(entries.values()) if isinstance(entries, dict) else entries
    files = {}
    for item in entries:
        name = item.get("key") or item.get("filename")
        links = item.get("links") or {}
        url = links.get("content") or links.get("download") or links.get("self")
        if url and url.rstrip("/").endswith(f"/files/{name}"):
            url = url.rstrip("/") + "/content"  # the file's metadata URL -> its bytes
        if name and url:
            files[name] = RecordFile(name, url, _md5_of(item.get("checksum")), item.get("size"))
    return files


def parse_figshare(meta: dict) -> dict[str, RecordFile]:
    """Files of a figshare article (``/v2/articles/{id}``): name, computed/supplied MD5."""
    files = {}
    for item in meta.get("files") or []:
        name, url = item.get("name"), item.get("download_url")
        md5 = _md5_of(item.get("computed_md5")) or _md5_of(item.get("supplied_md5"))
        if name and url:
            files[name] = RecordFile(name, url, md5, item.get("size"))
    return files


PARSERS: dict[str, Callable[[dict], dict[str, RecordFile]]] = {
    "zenodo": parse_zenodo,
    "figshare": parse_figshare,
}


def _session() -> requests.Session:
    from fastspami import __version__

    session = requests.Session()
    session.headers["User-Agent"] = f"spami/{__version__} (dataset download)"
    return session


def _retrying(what: str, attempts: int, backoff: float, action: Callable[[], Any]) -> Any:
    """Run ``action`` up to ``attempts`` times, sleeping backoff * 2^i between failures."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except (_Transient, requests.ConnectionError, requests.Timeout) as err:
            if attempt == attempts:
                raise DownloadError(
                    f"{what}: failed {attempts} times, last error: {err}. Check the network "
                    "(or a proxy: HTTPS_PROXY), or download the file by hand into the "
                    "folder named in the README ('Real datasets')."
                ) from err
            pause = min(backoff * 2 ** (attempt - 1), 60.0)
            log.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.1fs",
                what,
                attempt,
                attempts,
                err,
                pause,
            )
            time.sleep(pause)
    raise AssertionError("unreachable")


def _check_status(response: requests.Response, what: str) -> None:
    if response.status_code in _TRANSIENT_STATUS:
        raise _Transient(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise DownloadError(
            f"{what}: the server answered HTTP {response.status_code} for {response.url}. "
            "Check the record number and file name in config/datasets.yaml."
        )


def fetch_record_files(
    repository: str,
    api_url: str,
    *,
    session: requests.Session | None = None,
    attempts: int = 5,
    backoff: float = 2.0,
) -> dict[str, RecordFile]:
    """The files of a record, by name, read from the repository's API."""
    if repository not in PARSERS:
        raise ConfigError(f"Repository {repository!r} unknown; use one of {sorted(PARSERS)}.")
    session = session or _session()

    def get() -> dict:
        response = session.get(api_url, timeout=TIMEOUT)
        _check_status(response, f"record metadata {api_url}")
        try:
            return response.json()
        except ValueError as err:
            raise DownloadError(
                f"{api_url}: the answer is not JSON; is the API URL right?"
            ) from err

    return PARSERS[repository](_retrying(f"metadata {api_url}", attempts, backoff, get))


# ---------------------------------------------------------------- checksums


def file_md5(path: str | os.PathLike) -> str:
    """The MD5 of a file, read in 1 MiB blocks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".md5")


def read_sidecar(path: Path) -> str | None:
    """The MD5 recorded by an earlier successful verification of ``path``, if any."""
    sidecar = _sidecar(path)
    words = sidecar.read_text().split() if sidecar.is_file() else []
    return _md5_of(words[0]) if words else None


def _write_sidecar(path: Path, md5: str) -> None:
    with atomic_path(_sidecar(path)) as tmp:
        tmp.write_text(f"{md5}  {path.name}\n")


def verify_file(
    path: Path,
    md5: str,
    size: int | None = None,
    *,
    aside: Path | None = None,
    name: str | None = None,
) -> None:
    """Raise ChecksumError unless ``path`` has ``size`` bytes (if given) and MD5 ``md5``.

    A bad file is moved to ``aside`` when given (a download), else left in place (a file
    placed by hand is never moved or deleted). ``name`` is the file's name in messages.
    """
    name = name or path.name
    actual_size = path.stat().st_size
    actual = file_md5(path) if size is None or actual_size == size else None
    if actual == md5:
        return
    found = f"MD5 {actual}" if actual is not None else f"{actual_size} bytes instead of {size}"
    if aside is not None:
        os.replace(path, aside)
        where = f"The download was kept aside as {aside} and is not used. Run the download "
        where += "again; if it fails again the record may have changed: compare its page "
        where += "with config/datasets.yaml."
    else:
        where = f"It is left at {path} and not used: replace it with the published file, or "
        where += "delete it to download it again."
    raise ChecksumError(f"{name}: expected MD5 {md5}, got {found}. {where}")


# ---------------------------------------------------------------- one file


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside ``path``: two jobs never write the same download at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no lock, Snakemake's own job graph must keep them apart
        yield
        return
    with open(path.with_name(path.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _transfer(
    session: requests.Session, url: str, part: Path, size: int | None, progress: bool
) -> None:
    """Append the rest of ``url`` to ``part`` (Range from its current size), or restart."""
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        part.unlink()
        offset = 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with session.get(url, stream=True, timeout=TIMEOUT, headers=headers) as response:
        if response.status_code == 416 and size is not None and offset == size:
            return  # already complete
        if response.status_code == 416:
            part.unlink(missing_ok=True)
            raise _Transient("server refused the resume range; restarting from the start")
        _check_status(response, f"download {url}")
        resumed = response.status_code == 206
        if resumed and not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            part.unlink(missing_ok=True)
            raise _Transient("server resumed at another offset; restarting from the start")
        if offset and not resumed:
            log.info(
                "%s: server does not resume (HTTP %s); restarting", part.name, response.status_code
            )
            offset = 0
        length = response.headers.get("Content-Length")
        total = size if size is not None else (offset + int(length) if length else None)
        with (
            open(part, "ab" if resumed else "wb") as handle,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name.removesuffix(".part"),
                disable=not progress,
                mininterval=2.0,
            ) as bar,
        ):
            try:
                for block in response.iter_content(CHUNK):
                    handle.write(block)
                    bar.update(len(block))
            except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError) as err:
                raise _Transient(f"connection lost after {handle.tell()} bytes ({err})") from err
    done = part.stat().st_size
    if total is not None and done < total:
        raise _Transient(f"transfer ended early: {done} of {total} bytes")


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    md5: str,
    size: int | None = None,
    session: requests.Session | None = None,
    attempts: int = 5,
    backoff: float = 2.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest``: resume/retry, check size and MD5, then move into place.

    The transfer goes to ``<dest>.part`` (kept between attempts and runs for resuming);
    ``dest`` appears only once verified. A resumed transfer whose checksum fails is fetched
    once more from the start before the file is declared corrupt.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    session = session or _session()
    with _locked(dest):
        if dest.is_file() and read_sidecar(dest) == md5 and file_md5(dest) == md5:
            return dest  # another job fetched it while this one waited for the lock
        for fresh in (False, True):
            if fresh:
                part.unlink(missing_ok=True)
            resumed = part.exists() and part.stat().st_size > 0
            _retrying(
                f"download {dest.name}",
                attempts,
                backoff,
                lambda: _transfer(session, url, part, size, progress),
            )
            retry_fresh = resumed and not fresh
            try:
                aside = None if retry_fresh else dest.with_name(dest.name + ".corrupt")
                verify_file(part, md5, size, aside=aside, name=dest.name)
            except ChecksumError:
                if retry_fresh:
                    log.warning("%s: checksum wrong after a resume; downloading afresh", dest.name)
                    continue
                raise
            os.replace(part, dest)
            _write_sidecar(dest, md5)
            return dest
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- archives


def _safe_member(name: str, archive: Path) -> str:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise InputDataError(
            f"{archive}: member {name!r} points outside the archive (absolute path or '..'); "
            "the archive is unsafe and is not extracted. Check where it came from."
        )
    return str(path)


def _member_matches(name: str, pattern: str) -> bool:
    return (
        name == pattern
        or name.endswith("/" + pattern)
        or fnmatch.fnmatchcase(name, pattern)
        or fnmatch.fnmatchcase(name, "*/" + pattern)
    )


def _pick(archive: Path, names: list[str], patterns: str | tuple[str, ...]) -> str:
    """The one member matching the first of ``patterns`` that matches any member."""
    patterns = (patterns,) if isinstance(patterns, str) else tuple(patterns)
    for pattern in patterns:
        matches = [n for n in names if _member_matches(n, pattern)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise InputDataError(
                f"{archive}: several members match {pattern!r} ({', '.join(matches)}). Fix "
                "'member' in config/datasets.yaml (a longer path picks one member)."
            )
    shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
    wanted = " or ".join(repr(p) for p in patterns)
    raise InputDataError(
        f"{archive}: no member matches {wanted} ({shown}). Fix 'member' in "
        "config/datasets.yaml (a list gives the names different copies use)."
    )


@contextlib.contextmanager
def _open_member(archive: Path, pattern: str | tuple[str, ...]) -> Iterator[IO[bytes]]:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            names = [i.filename for i in infos]
            chosen = _pick(archive, names, pattern)
            _safe_member(chosen, archive)
            with zf.open(chosen) as stream:
                yield stream
        return
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive, "r:*") as tf:
            members = tf.getmembers()
            chosen = _pick(archive, [m.name for m in members if not m.isdir()], pattern)
            _safe_member(chosen, archive)
            member = next(m for m in members if m.name == chosen)
            if not member.isfile():
                raise InputDataError(
                    f"{archive}: member {chosen!r} is a link or special file, not a regular "
                    "file; it is not extracted. Check the archive."
                )
            stream = tf.extractfile(member)
            assert stream is not None
            with stream:
                yield stream
        return
    raise InputDataError(f"{archive}: neither a zip nor a tar archive; re-download it.")


def extract_member(
    archive: str | os.PathLike, pattern: str | tuple[str, ...], dest: str | os.PathLike
) -> Path:
    """Copy the one member of ``archive`` matching ``pattern`` to ``dest`` (atomically).

    ``pattern`` may be a tuple of alternatives: the first that matches a member is used.

    ``dest`` comes from the registry, never from the archive, so a crafted member name
    cannot write elsewhere; unsafe or non-regular members raise InputDataError.
    """
    archive, dest = Path(archive), Path(dest)
    with _open_member(archive, pattern) as stream, atomic_path(dest) as tmp:
        with open(tmp, "wb") as out:
            shutil.copyfileobj(stream, out, HASH_BLOCK)
    return dest


# ---------------------------------------------------------------- one dataset


class _Record:
    """A record's file list, read from the API on first use only."""

    def __init__(self, spec: DatasetSpec, session: requests.Session, attempts: int, backoff: float):
        self.spec, self.session, self.attempts, self.backoff = spec, session, attempts, backoff
        self._files: dict[str, RecordFile] | None = None

    def file(self, name: str) -> RecordFile:
        if self._files is None:
            self._files = fetch_record_files(
                self.spec.repository,
                self.spec.api_url,
                session=self.session,
                attempts=self.attempts,
                backoff=self.backoff,
            )
        if name not in self._files:
            raise ConfigError(
                f"{self.spec.name}: the record {self.spec.api_url} has no file {name!r}; it "
                f"has {sorted(self._files)}. Fix downloads[].name in config/datasets.yaml."
            )
        return self._files[name]


def _expected_md5(remote: RemoteFile, published: str | None) -> str:
    if remote.md5 and published and remote.md5 != published:
        raise ChecksumError(
            f"{remote.name}: config/datasets.yaml gives MD5 {remote.md5} but the record "
            f"publishes {published}; the record changed. Check it and update the registry."
        )
    md5 = remote.md5 or published
    if md5 is None:
        raise ChecksumError(
            f"{remote.name}: no checksum known (none in config/datasets.yaml, none published "
            "by the record), so the file cannot be verified. Add its md5 to the registry."
        )
    return md5


def _fetch_one(
    remote: RemoteFile, folders: list[Path], record: _Record, progress: bool
) -> tuple[Path, str, str]:
    """The verified local path of ``remote``: (path, md5, what it was checked against)."""
    for folder in folders:
        path = folder / remote.name
        if not path.is_file():
            continue
        md5, against = remote.md5, "registry"
        if md5 is None and (md5 := read_sidecar(path)):
            against = "sidecar"
        if md5 is None:
            try:
                published = record.file(remote.name).md5
            except DownloadError as err:
                raise DownloadError(
                    f"{path}: present, but its checksum is unknown offline (no md5 in "
                    "config/datasets.yaml, no .md5 sidecar) and the record could not be "
                    f"read ({err}). Add the file's md5 from the record page to the registry."
                ) from err
            md5, against = _expected_md5(remote, published), "record"
        verify_file(path, md5, remote.size)
        if against != "sidecar":
            _write_sidecar(path, md5)
        log.info("%s: found at %s, checksum OK (%s); no download", remote.name, path, against)
        return path, md5, against
    info = record.file(remote.name)
    md5 = _expected_md5(remote, info.md5)
    size = remote.size if remote.size is not None else info.size
    dest = folders[0] / remote.name
    log.info("%s: downloading %s", remote.name, info.url)
    download_file(
        info.url,
        dest,
        md5=md5,
        size=size,
        session=record.session,
        attempts=record.attempts,
        backoff=record.backoff,
        progress=progress,
    )
    return dest, md5, "record" if not remote.md5 else "registry"


def download_dataset(
    spec: DatasetSpec,
    raw_dir: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    session: requests.Session | None = None,
    attempts: int = 5,
    backoff: float = 2.0,
    progress: bool = True,
) -> Path:
    """Fetch, verify and unpack everything ``spec`` needs into ``raw_dir``; return the manifest.

    Files already present (``raw_dir``, or ``cache_dir`` for archives) with the right
    checksum are used as they are. The manifest ``raw_dir/download.json`` lists each
    download with its MD5 and each converter input; it is written last, atomically.
    """
    raw_dir = Path(raw_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else raw_dir
    raw_dir.mkdir(parents=True, exist_ok=True)
    record = _Record(spec, session or _session(), attempts, backoff)
    fetched: dict[str, dict[str, Any]] = {}
    for remote in spec.downloads:
        folders = [cache_dir, raw_dir] if remote.is_archive else [raw_dir, cache_dir]
        folders = list(dict.fromkeys(folders))
        path, md5, against = _fetch_one(remote, folders, record, progress)
        fetched[remote.name] = {
            "path": str(path),
            "md5": md5,
            "size": path.stat().st_size,
            "checked_against": against,
            "unverified_registry_entry": remote.unverified,
        }
    for role, item in spec.raw_inputs().items():
        if item.archive is not None:
            log.info("%s: extracting %s from %s", role, " or ".join(item.members), item.archive)
            extract_member(fetched[item.archive]["path"], item.members, raw_dir / item.file)
    manifest = {
        "dataset": spec.name,
        "source": spec.source,
        "api": spec.api_url,
        "downloads": fetched,
        "inputs": {role: item.file for role, item in spec.raw_inputs().items()},
    }
    with atomic_path(raw_dir / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    return raw_dir / MANIFEST
