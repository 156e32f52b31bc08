"""The README's Quickstart and tour stay true: two commands that .ci/run runs verbatim, and
Python snippets that run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, flags=re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def _blocks(text: str, language: str) -> list[str]:
    return [b.strip() for b in re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)]


def test_quickstart_has_exactly_two_commands_and_ci_runs_them():
    commands = _blocks(_section("Quickstart"), "bash")
    assert len(commands) == 2 and all("\n" not in c for c in commands), commands
    install, tests = commands
    assert "apt-get install -y ngspice libngspice0" in install and install.endswith(
        "circuitlearn demo"
    )
    assert tests.startswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert install in ci.splitlines(), ".ci/run must run the Quickstart install command verbatim"
    assert any(line.startswith(tests) for line in ci.splitlines()), (
        ".ci/run must run the Quickstart test command"
    )
    assert "set -euo pipefail" in ci and '"$status" -eq 5' in ci


@pytest.mark.ngspice
@pytest.mark.parametrize("index", range(len(_blocks(_section("A short tour"), "python"))))
def test_tour_snippets_run(index, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code = _blocks(_section("A short tour"), "python")[index]
    exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "__readme__"})
    assert capsys.readouterr().out.strip(), "each snippet prints its results"
