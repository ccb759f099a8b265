"""Allocator settings for training: reuse freed tensor memory instead of fresh mappings.

glibc serves every allocation above its mmap threshold (at most 32 MB) with a fresh
``mmap`` and unmaps it on free, so each of an epoch's large activations (N x 256 floats:
100 MB at 100,000 spots) is page-faulted and zero-filled again in every epoch. Measured at
99,856 spots on 2 cores: 4.0 s per epoch with glibc's defaults, 2.9 s with large blocks
kept on the heap and reused (peak RSS 2.8 -> 3.3 GB); 0.32 -> 0.28 s at 9,216 spots.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Iterator

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt parameters (malloc.h)
DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX = 128 * 1024, 65536
NEVER_TRIM = 2**31 - 1


def _glibc() -> ctypes.CDLL | None:
    """glibc, when this is Linux with glibc; None elsewhere (the settings then do nothing)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim, libc.gnu_get_libc_version  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


@contextlib.contextmanager
def reuse_freed_memory() -> Iterator[bool]:
    """Within the block, large allocations come from the heap and freed ones are reused;
    on exit glibc's default limits are set back and free heap memory is returned to the OS.

    Yields whether the settings applied (False off glibc). Process-wide while active.
    """
    libc = _glibc()
    if libc is None:
        yield False
        return
    libc.mallopt(M_MMAP_MAX, 0)
    libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM)
    try:
        yield True
    finally:
        libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
        libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
        libc.malloc_trim(0)
