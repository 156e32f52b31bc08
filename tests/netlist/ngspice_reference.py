"""Operating points printed by plain ``ngspice -b`` to 15 digits, for the issue-11 deck tests."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

CONTROL = ".control\nset numdgt=15\nop\nprint all\nquit\n.endc\n.end\n"
TIGHT = ".options reltol=1e-9 vntol=1e-12 abstol=1e-15"
ERRORS = re.compile(r"error|could not find|unknown|mismatch|undefined|cannot", re.IGNORECASE)


def ngspice_op(text: str, folder: Path, name: str = "deck.cir") -> dict[str, float]:
    """Node voltages (``a``, ``v(1)``) and branch currents (``v1#branch``) of a deck's ``.op``.

    The deck's ``.op`` and ``.end`` are replaced by a control block; tight tolerances are added so
    that equivalent decks agree far below the 1e-6 the tests compare to. The deck is written to
    ``folder`` (so that relative ``.include`` paths resolve from there).
    """
    binary = shutil.which("ngspice")
    if binary is None:
        pytest.skip("the ngspice binary is needed for this check")
    lines = text.splitlines()
    body = [lines[0], TIGHT] + [
        line for line in lines[1:] if line.strip().lower() not in {".op", ".end"}
    ]
    deck = folder / name
    deck.write_text("\n".join(body) + "\n" + CONTROL)
    done = subprocess.run(
        [binary, "-b", str(deck)], capture_output=True, text=True, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert not ERRORS.search(output), output
    values = dict(re.findall(r"^(\S+) = (\S+)$", output, re.MULTILINE))
    assert values, output
    return {k: float(v) for k, v in values.items()}


def assert_agrees(result: Any, reference: dict[str, float], backend: str) -> dict[str, float]:
    """Every node voltage of an operating point equals ngspice -b's ``reference`` (as
    :func:`ngspice_op` returns it) to 1e-6 relative + 1e-7 V; returns the voltages."""
    assert result.converged, result.message
    for node, value in result.voltages.items():
        expected = reference.get(node, reference.get(f"v({node})"))
        assert expected is not None, (node, reference)
        assert abs(value - expected) <= 1e-6 * abs(expected) + 1e-7, (backend, node, value)
    return dict(result.voltages)
