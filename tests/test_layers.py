"""The package's layers hold: lower layers never import upper ones (import-linter's
contracts in pyproject.toml), so the kernels, model and data can be used on their own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_are_kept():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint).exists():
        pytest.fail("lint-imports is missing: pip install -r requirements-dev.txt")
    done = subprocess.run([lint], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "0 broken" in done.stdout


def test_importing_the_package_loads_no_scientific_stack():
    code = (
        "import sys, fastspami, fastspami.data, fastspami.tl, fastspami.pl, fastspami.methods;"
        # what the workflow imports at parse time
        "import fastspami.methods.registry, fastspami.data.draws, fastspami.benchmark.grid;"
        "print(sorted(m for m in ('torch', 'scanpy', 'matplotlib', 'mudata') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
