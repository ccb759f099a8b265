"""Nothing half-written: a step that fails while writing leaves the previous file as it was."""

from __future__ import annotations

import os
import stat

import mudata
import numpy as np
import pytest

from fastspami._utils.atomic import atomic_path
from fastspami.data.contract import read_mudata, write_mudata
from fastspami.data.simulate import simulate


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
    with pytest.raises(OSError, match="No space left"):
        write_mudata(second, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["sim.h5mu"]
    monkeypatch.undo()
    back = read_mudata(path)
    np.testing.assert_array_equal(back.mod["adt"].X.toarray(), first.mod["adt"].X.toarray())
