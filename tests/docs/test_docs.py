"""The documentation: the README stays short and its Python example runs; the site builds
in strict mode (every link resolves, the tutorial executes, every public object of the API
reference has a docstring)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def test_readme_is_at_most_150_lines():
    assert len(README.read_text().splitlines()) <= 150


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    from fastspami.data import simulate, write_mudata

    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert block, "the README has no Python example"
    code = block.group(1)
    assert len([line for line in code.splitlines() if line.strip()]) == 3
    monkeypatch.chdir(tmp_path)
    write_mudata(simulate("rna_adt", grid_size=10, seed=0), tmp_path / "my_slice.h5mu")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    mdata = namespace["mdata"]
    assert mdata.obsm["X_spami"].shape[0] == 100
    assert mdata.obs["spami_leiden"].nunique() == 7


def test_docstring_check_finds_every_public_object_documented():
    sys.path.insert(0, str(REPO / "docs"))
    try:
        import hooks
    finally:
        sys.path.remove(str(REPO / "docs"))
    assert hooks.undocumented() == []


@pytest.mark.slow
def test_the_site_builds_in_strict_mode_with_the_tutorial_executed(tmp_path):
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")
    site = tmp_path / "site"
    done = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    tutorial = (site / "tutorials" / "quickstart" / "index.html").read_text()
    assert "data:image/png;base64" in tutorial  # its figures were drawn when it ran
    assert "spami_leiden" in tutorial and "Traceback" not in tutorial
    assert (site / "reference" / "api" / "index.html").is_file()
