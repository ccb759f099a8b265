"""Seconds, CPU seconds and peak memory of one step of a process (one integration of a batch).

Snakemake's ``benchmark:`` files measure a whole job. The workflow runs several
integrations in one job (one interpreter start for all of them), so each is measured here:
wall and CPU time around the step, and the peak RSS during it. On Linux the peak is reset
before the step (``/proc/self/clear_refs``) and read after it (``VmHWM``), so it is the
process's largest resident size while the step ran: the interpreter and its imports, as a
job of its own would count them, plus what the step allocated. Elsewhere it is the peak of
the process so far (``ru_maxrss``), an upper bound.
"""

from __future__ import annotations

import contextlib
import math
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass


@dataclass
class Usage:
    """What one step cost: wall seconds, CPU seconds (user + system, with children), the peak
    RSS while it ran and the RSS when it started (MB)."""

    s: float = math.nan
    cpu_s: float = math.nan
    max_rss_mb: float = math.nan
    start_rss_mb: float = math.nan

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in asdict(self).items()}


def _proc_status_mb(field: str) -> float | None:
    """A memory line of /proc/self/status (Linux) in MB; None where there is none."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def current_rss_mb() -> float:
    """This process's resident memory now (Linux); NaN elsewhere."""
    value = _proc_status_mb("VmRSS")
    return math.nan if value is None else value


def peak_rss_mb() -> float:
    """Peak RSS of this process's address space: Linux's VmHWM, else ru_maxrss.

    ru_maxrss is not reset by exec on Linux: a process started from a large one reports at
    least its parent's size. VmHWM is the high-water mark of the current address space.
    """
    value = _proc_status_mb("VmHWM")
    if value is not None:
        return value
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 1024.0**2 if sys.platform == "darwin" else maxrss / 1024.0  # bytes on macOS


def reset_peak_rss() -> bool:
    """Set this process's VmHWM back to its current RSS (Linux >= 4.0); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def _cpu_seconds() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


@contextlib.contextmanager
def measure_usage() -> Iterator[Usage]:
    """Measure the block; the yielded :class:`Usage` is filled in when it ends (also on error)."""
    usage = Usage()
    reset_peak_rss()
    usage.start_rss_mb = current_rss_mb()
    wall, cpu = time.perf_counter(), _cpu_seconds()
    try:
        yield usage
    finally:
        usage.s = time.perf_counter() - wall
        usage.cpu_s = _cpu_seconds() - cpu
        usage.max_rss_mb = peak_rss_mb()
