"""Check where an output will go before the work that makes it (training can take hours).

:func:`check_output_file` refuses, with :class:`~fastspami.errors.OutputPathError` naming the
path and the cause: a path that is a folder, or lies under a file; a name longer than the
file system allows; a folder that cannot be created or written in (read-only, no
permission, full); less free space than the output needs at least; the input itself.
It writes (and removes) one temporary file of the kind the final write uses, so what it
accepts, the write can do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from fastspami._utils.atomic import name_max, temporary_prefix
from fastspami.errors import OutputPathError

MB = 1024.0**2


def check_output_file(
    path: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    overwrite_input_hint: str | None = None,
    min_free_bytes: int = 0,
) -> Path:
    """Raise OutputPathError unless a file can be written at ``path``; return it as a Path.

    inputs: files the output must not replace; ``overwrite_input_hint`` (e.g. "pass
    --overwrite-input") says how to ask for it anyway, and None leaves ``inputs`` unchecked
    (the caller asked). min_free_bytes: the least the output will take (e.g. the input's
    size, when the output holds the input and more). Creates missing parent folders.
    """
    path = Path(path)
    limit = name_max(_nearest_existing(path.parent))
    if len(os.fsencode(path.name)) > limit:  # first: stat() itself fails on such a name
        raise OutputPathError(
            f"{path}: the file name is {len(os.fsencode(path.name))} bytes long; this file "
            f"system allows at most {limit}. Choose a shorter name."
        )
    if path.is_dir():
        raise OutputPathError(
            f"{path}: is a folder; the output must be a file name (e.g. {path / 'out.h5mu'})."
        )
    if overwrite_input_hint is not None:
        for source in inputs:
            if _same_file(path, Path(source)):
                raise OutputPathError(
                    f"{path}: is the input file itself; writing the results there would "
                    f"replace the input. Choose another output name, or {overwrite_input_hint}."
                )
    folder = _make_folder(path)
    _probe_write(path, folder)
    if min_free_bytes:
        free = shutil.disk_usage(folder).free
        if free < min_free_bytes:
            raise OutputPathError(
                f"{path}: only {free / MB:.0f} MB free in {folder}, and the output needs at "
                f"least {min_free_bytes / MB:.0f} MB. Free some space or write elsewhere."
            )
    return path


def check_output_folder(folder: str | os.PathLike) -> Path:
    """Raise OutputPathError unless files can be written in ``folder`` (created if missing)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{folder}: is a file; the output must be a folder.")
    _make_folder(folder, folder)
    _probe_write(folder / "probe", folder, named=folder)
    return folder


def _nearest_existing(folder: Path) -> Path:
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _make_folder(path: Path, folder: Path | None = None) -> Path:
    """Create ``folder`` (default: ``path``'s parent) and the folders above it; name the
    file that blocks them, or the cause (messages name ``path``)."""
    folder = path.parent if folder is None else folder
    for ancestor in (folder, *folder.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputPathError(
                    f"{path}: {ancestor} is a file, not a folder, so nothing can be "
                    "written under it. Choose another output path."
                )
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputPathError(
            f"{path}: the folder {folder} cannot be created ({err.strerror})."
        ) from None
    return folder


def _probe_write(path: Path, folder: Path, named: Path | None = None) -> None:
    """Create and remove a temporary file as the final write of ``path`` will: it must
    succeed (messages name ``named``, default ``path``)."""
    suffix = path.suffix
    try:
        fd, probe = tempfile.mkstemp(
            prefix=temporary_prefix(path, suffix), suffix=f".tmp{suffix}", dir=folder
        )
    except OSError as err:
        cause = err.strerror or str(err)
        if err.errno == errno.ENOSPC:
            cause += " (the disk is full)"
        raise OutputPathError(f"{named or path}: cannot write in {folder} ({cause}).") from None
    os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(probe)
