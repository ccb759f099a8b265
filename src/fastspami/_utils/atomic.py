"""Atomic file output: write to a temporary sibling, then rename into place.

Temporaries are named ``.<stem>.<pid>-<random>.tmp<suffix>`` beside the target. A process
killed while writing (``kill -9``, a full disk that crashes the writer) cannot remove its
own: the next write of the same target removes every temporary of it whose process is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

NAME_MAX_DEFAULT = 255  # bytes of one path component on Linux, macOS and Windows file systems
_RANDOM = 8  # characters tempfile.mkstemp adds


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only on success.

    An exception (or a killed process) leaves ``path`` untouched, so nothing half-written
    is ever taken as finished. The temporary keeps ``path``'s suffix so that writers
    choosing a format by extension (``.h5mu``, ``.csv``, ``.png``) still work; its stem is
    shortened where needed, so any file name the file system allows has room for it. The
    file gets the permissions a plain ``open(path, 'w')`` would give (0666 less the umask),
    not the owner-only 0600 of a temporary file: collaborators can read the results.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    remove_stale_temporaries(path, suffix)
    fd, tmp = tempfile.mkstemp(
        prefix=temporary_prefix(path, suffix), suffix=f".tmp{suffix}", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_current_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def name_max(folder: str | os.PathLike) -> int:
    """The longest file name (bytes) the file system of ``folder`` (an existing one) allows."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX_DEFAULT


def temporary_prefix(path: Path, suffix: str) -> str:
    """``.<stem>.<pid>-``, the stem cut (at a character) so the whole name fits NAME_MAX
    whatever the process id (room is kept for 10 digits)."""
    fixed = "." + "9" * 10 + "-" + "x" * _RANDOM + f".tmp{suffix}"
    room = max(name_max(path.parent) - 1 - len(os.fsencode(fixed)), 0)
    stem = path.stem
    while len(os.fsencode(stem)) > room:
        stem = stem[:-1]
    return f".{stem}.{os.getpid()}-"


def remove_stale_temporaries(path: str | os.PathLike, suffix: str | None = None) -> list[Path]:
    """Delete the temporaries of ``path`` left by processes that no longer run; return them.

    A temporary names its writer's process id; one without (from a version that did not
    record it) is taken as stale. Temporaries of a running process are left alone.
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    if not path.parent.is_dir():
        return []
    prefix = temporary_prefix(path, suffix).rsplit(".", 1)[0]  # ".<stem>"
    pattern = re.compile(
        rf"^{re.escape(prefix)}\.(?:(\d+)-)?[A-Za-z0-9_]{{{_RANDOM}}}\.tmp{re.escape(suffix)}$"
    )
    removed = []
    for candidate in path.parent.iterdir():
        match = pattern.match(candidate.name)
        if not match or (match.group(1) and _process_running(int(match.group(1)))):
            continue
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
            removed.append(candidate)
    return removed


def _process_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _current_umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
