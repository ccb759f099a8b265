"""Run a function in a forked child process: whatever happens there, the caller goes on.

A method can end the process it runs in: ``sys.exit`` (mofapy2 on bad input), a segfault
in R or a C extension, ``os.abort``; HDF5 segfaults when the disk fills up during a write.
Run in a child, such an end is an outcome to report (:class:`ChildOutcome`: the exit code
or the signal, the exception the child raised, its cost), not the end of the caller.

Fork, not spawn: the child starts with the caller's imports and data (no second import of
torch, scanpy or R; nothing pickled), and computes exactly what the caller would have. The
caller must not have initialised CUDA (the child could not use it) nor have OpenMP
threads busy (torch and scanpy start theirs lazily, on first use). Linux only; elsewhere
:func:`can_fork` is False and callers run the function in their own process.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_MESSAGE_BYTES = 4000  # below PIPE_BUF: the child's one write never blocks


@dataclass
class ChildOutcome:
    """How a child ended. exitcode: its exit status, or None when a signal killed it
    (``signal`` then holds the number); error: the exception it raised as 'Type: message'
    ('' if none) and its errno where it had one; s, cpu_s, max_rss_mb: its wall seconds,
    CPU seconds (user + system) and peak resident memory."""

    exitcode: int | None
    signal: int | None = None
    error: str = ""
    error_type: str = ""
    errno: int | None = None
    s: float = math.nan
    cpu_s: float = math.nan
    max_rss_mb: float = math.nan

    @property
    def ok(self) -> bool:
        """The function returned and the child exited 0."""
        return self.exitcode == 0 and not self.error

    def describe(self) -> str:
        """'was killed by signal SIGSEGV (11)', 'exited with code 3', or the exception."""
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = "signal"
            return f"was killed by signal {name} ({self.signal})"
        if self.error:
            return f"raised {self.error}"
        return f"exited with code {self.exitcode}"


def can_fork() -> bool:
    """Whether :func:`run_in_child` can run here (Linux: fork is safe with the scientific
    stack; macOS' system libraries are not fork-safe)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def run_in_child(
    func: Callable[[], Any], *, output_fd: int | None = None, quiet: bool = False
) -> ChildOutcome:
    """Call ``func()`` in a forked child; wait for it; return how it ended.

    output_fd: where the child's stdout and stderr go (its log file), C-level output and
    the Python traceback of a crash (faulthandler) included. quiet: drop the
    "Exception ignored in" reports the child's destructors print (h5py prints one per
    object when a write fails). An interrupt of the caller (Ctrl-C) kills the child and
    goes on up. Raises OSError where the fork itself fails (e.g. ENOMEM).
    """
    read_end, write_end = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()  # or the child would write the caller's buffered text again
    started = time.perf_counter()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:  # pragma: no cover - runs in the child (the tests see its outcome)
        _child(func, read_end, write_end, output_fd, quiet)
    os.close(write_end)
    try:
        _, status, usage = os.wait4(pid, 0)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        os.close(read_end)
        raise
    report = _read_report(read_end)
    outcome = ChildOutcome(
        exitcode=os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
        signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        error=report.get("error", ""),
        error_type=report.get("type", ""),
        errno=report.get("errno"),
        s=time.perf_counter() - started,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024.0,  # KB on Linux
    )
    return outcome


def _child(
    func: Callable[[], Any],
    read_end: int,
    write_end: int,
    output_fd: int | None,
    quiet: bool,
) -> None:  # pragma: no cover - runs in the child
    code = 0
    try:
        os.close(read_end)
        _die_with_parent()
        if output_fd is not None:
            os.dup2(output_fd, 1)
            os.dup2(output_fd, 2)
            import faulthandler

            faulthandler.enable(file=output_fd, all_threads=True)
        if quiet:  # the caller reports what went wrong, once
            import faulthandler

            faulthandler.disable()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
        func()
    except BaseException as err:  # the child reports everything, SystemExit included
        code = 1
        message = " ".join(str(err).split()) or "(no message)"
        report = {
            "type": type(err).__name__,
            "error": f"{type(err).__name__}: {message}",
            "errno": err.errno if isinstance(getattr(err, "errno", None), int) else None,
        }
        with contextlib.suppress(BaseException):
            os.write(write_end, json.dumps(report).encode()[:_MESSAGE_BYTES])
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to kill this child when its parent dies (prctl PR_SET_PDEATHSIG): a
    killed batch or command must not leave a run going on, or writing, behind it."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG


def _read_report(read_end: int) -> dict[str, Any]:
    """What the child wrote to the pipe (it has exited): its exception, or {}."""
    os.set_blocking(read_end, False)
    data = b""
    try:
        while chunk := os.read(read_end, 65536):
            data += chunk
    except BlockingIOError:  # a grandchild still holds the pipe open: take what is there
        pass
    finally:
        os.close(read_end)
    try:
        report = json.loads(data.decode(errors="replace")) if data else {}
    except ValueError:  # cut at _MESSAGE_BYTES
        report = {"error": data.decode(errors="replace")}
    return report if isinstance(report, dict) else {}
