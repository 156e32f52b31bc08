"""The numbered tutorials notebooks/NN_*.ipynb execute without error.

Each notebook asserts its own claims in its cells (agreement of the backends, exactness of AEP and
Dyadic EP, slopes of the error vs β), so a library regression fails the cell and this test.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TUTORIALS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
TIME_LIMIT = 60.0
"""Wall-clock budget per notebook [s] (each ran in about 3 s here, kernel start included)."""


def test_tutorials_exist() -> None:
    assert [p.name[:3] for p in TUTORIALS] == ["01_", "02_", "03_", "04_", "05_", "06_", "07_"]


@pytest.mark.notebook
@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the failing cell
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_LIMIT, f"{path.name} took {elapsed:.1f} s (budget {TIME_LIMIT:g} s)"
