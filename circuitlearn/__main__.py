"""``python -m circuitlearn``: the same as the ``circuitlearn`` command."""

from circuitlearn.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
