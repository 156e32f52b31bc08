"""Shared fixtures and the automatic skip of ``ngspice``-marked tests when ngspice is absent."""

from __future__ import annotations

import ctypes.util
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository root (the parent of ``tests/``)."""

NETLIST_DIR = REPO_ROOT / "netlists"
"""The example deck catalogue."""


def _ngspice_available() -> tuple[bool, str]:
    """Whether the ngspice binary or shared library can be found, and what was found."""
    binary = shutil.which("ngspice")
    if binary:
        return True, binary
    for candidate in ("libngspice.so.0", "libngspice.so"):
        try:
            ctypes.CDLL(candidate)
        except OSError:
            continue
        return True, candidate
    library = ctypes.util.find_library("ngspice")
    if library:
        return True, library
    return False, ""


NGSPICE_AVAILABLE, NGSPICE_FOUND = _ngspice_available()
"""Computed once per session: tests marked ``ngspice`` are skipped when False."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``ngspice`` when neither the binary nor ``libngspice.so.0`` is present."""
    if NGSPICE_AVAILABLE:
        return
    skip = pytest.mark.skip(
        reason="ngspice not found: neither the 'ngspice' binary on PATH nor libngspice.so.0 "
        "(install the Debian packages ngspice and libngspice0)"
    )
    for item in items:
        if "ngspice" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def netlist_paths() -> list[Path]:
    """Sorted paths of every example deck ``netlists/*.cir``."""
    paths = sorted(NETLIST_DIR.glob("*.cir"))
    assert paths, f"no example decks found in {NETLIST_DIR}"
    return paths
