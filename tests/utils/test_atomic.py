"""Nothing half-written: a step that fails while writing leaves the previous file as it was."""

from __future__ import annotations

import errno
import os
import stat

import mudata
import numpy as np
import pytest

from fastspami._utils.atomic import atomic_path, remove_stale_temporaries
from fastspami._utils.child_process import can_fork
from fastspami.data.contract import read_mudata, write_mudata
from fastspami.data.simulation import simulate
from fastspami.errors import OutputPathError


def test_failure_inside_atomic_path_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "scores.csv"
    target.write_text("finished earlier\n")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as tmp:
        tmp.write_text("half a ta")
        raise RuntimeError("disk full")
    assert target.read_text() == "finished earlier\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]

    with atomic_path(target) as tmp:
        tmp.write_text("new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_finished_files_get_the_permissions_of_a_plain_write(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with atomic_path(tmp_path / "scores.csv") as tmp:
            tmp.write_text("a,b\n")
        (tmp_path / "plain.csv").write_text("a,b\n")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE((tmp_path / "scores.csv").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.csv").stat().st_mode) == 0o666 & ~umask


def test_mudata_write_that_dies_midway_keeps_the_previous_dataset(tmp_path, monkeypatch):
    path = tmp_path / "sim.h5mu"
    first = simulate("rna_adt", grid_size=6, n_rna=20, n_adt=5, seed=0)
    write_mudata(first, path)
    before = path.read_bytes()

    def dies_midway(self, filename, *args, **kwargs):
        with open(filename, "wb") as handle:
            handle.write(b"\x89HDF\r\n partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(mudata.MuData, "write", dies_midway)
    second = simulate("rna_adt", grid_size=6, n_rna=20, n_adt=5, seed=1)
    with pytest.raises(OutputPathError, match=rf"^{path}: could not be written .*No space left"):
        write_mudata(second, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["sim.h5mu"]
    monkeypatch.undo()
    back = read_mudata(path)
    np.testing.assert_array_equal(back.mod["adt"].X.toarray(), first.mod["adt"].X.toarray())


def test_a_full_disk_during_the_write_leaves_no_file(tmp_path, monkeypatch):
    """The disk fills up after the writer has written part of the file (ENOSPC)."""
    path = tmp_path / "out.h5mu"

    def fills_the_disk(self, filename, *args, **kwargs):
        with open(filename, "wb") as handle:
            handle.write(b"\x89HDF\r\n" + b"\0" * 4096)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(filename))

    monkeypatch.setattr(mudata.MuData, "write", fills_the_disk)
    with pytest.raises(OutputPathError, match="No space left on device") as error:
        write_mudata(simulate("rna_adt", grid_size=6, n_rna=20, n_adt=5, seed=0), path)
    assert str(path) in str(error.value) and "no partial file was left" in str(error.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not can_fork(), reason="the writer runs in a child process on Linux only")
def test_a_writer_that_crashes_the_process_is_an_error_and_leaves_no_file(tmp_path, monkeypatch):
    """h5py segfaults when the disk fills up mid-write; the write runs in a child process,
    so the caller lives on, reports the crash and removes the partial file."""
    path = tmp_path / "out.h5mu"

    def crashes(self, filename, *args, **kwargs):
        with open(filename, "wb") as handle:
            handle.write(b"\x89HDF\r\n partial")
        os.abort()

    monkeypatch.setattr(mudata.MuData, "write", crashes)
    with pytest.raises(OutputPathError, match=r"killed by signal SIGABRT \(6\)"):
        write_mudata(simulate("rna_adt", grid_size=6, n_rna=20, n_adt=5, seed=0), path)
    assert list(tmp_path.iterdir()) == []


def test_a_long_legal_file_name_leaves_room_for_its_temporary(tmp_path):
    target = tmp_path / ("a" * 250 + ".csv")  # 254 bytes: legal; with a temporary's tag, not
    with atomic_path(target) as tmp:
        assert len(os.fsencode(tmp.name)) <= 255
        tmp.write_text("x\n")
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_temporaries_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "scores.csv"
    dead = tmp_path / ".scores.4194999-abcd1234.tmp.csv"  # beyond Linux's largest pid
    old_style = tmp_path / ".scores.k2j4h5g6.tmp.csv"  # from a version without pids
    running = tmp_path / f".scores.{os.getpid()}-zzzz9999.tmp.csv"
    other = tmp_path / ".other.4194999-abcd1234.tmp.csv"
    for leftover in (dead, old_style, running, other):
        leftover.write_text("half a ta")
    with atomic_path(target) as tmp:
        tmp.write_text("a,b\n")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([target.name, running.name, other.name])
    assert remove_stale_temporaries(tmp_path / "other.csv") == [other]
