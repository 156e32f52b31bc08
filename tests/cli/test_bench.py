"""``circuitlearn bench``: runs every script of a benchmarks folder, passing --json through."""

from __future__ import annotations

import json
import textwrap

import pytest

from circuitlearn.cli import main

GOOD = textwrap.dedent("""\
    import json, sys
    if __name__ == "__main__":
        if "--json" in sys.argv:
            print(json.dumps({"name": "good", "ratio": 2.5}))
        else:
            print("good: ratio 2.5")
""")
BAD = textwrap.dedent("""\
    import sys
    if __name__ == "__main__":
        sys.exit("bad benchmark broke")
""")
HELPER = "def shared():\n    return 1\n"


@pytest.fixture
def bench_dir(tmp_path):
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    (folder / "good.py").write_text(GOOD)
    (folder / "_runner.py").write_text(GOOD)
    (folder / "helpers.py").write_text(HELPER)
    return folder


def test_bench_json_collects_each_script(capsys, bench_dir):
    assert main(["bench", "--dir", str(bench_dir), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert list(payload["benchmarks"]) == ["good"], "private modules and helpers are not benchmarks"
    entry = payload["benchmarks"]["good"]
    assert entry["status"] == "ok" and entry["result"] == {"name": "good", "ratio": 2.5}
    assert payload["failed"] == []


def test_bench_text_and_failures(capsys, bench_dir):
    (bench_dir / "bad.py").write_text(BAD)
    assert main(["bench", "--dir", str(bench_dir)]) == 1
    captured = capsys.readouterr()
    assert "good: ratio 2.5" in captured.out and "failed: bad" in captured.out
    assert "bad benchmark broke" in captured.err
    assert main(["bench", "good", "--dir", str(bench_dir), "--json"]) == 0
    assert list(json.loads(capsys.readouterr().out)["benchmarks"]) == ["good"]


def test_bench_user_errors(capsys, bench_dir, tmp_path):
    assert main(["bench", "nosuch", "--dir", str(bench_dir)]) == 2
    assert "no benchmark 'nosuch'" in capsys.readouterr().err
    assert main(["bench", "--dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no benchmarks folder" in err


SLOW = textwrap.dedent("""\
    import sys, time
    if __name__ == "__main__":
        print("case one done", flush=True)
        print("record" if "--record" in sys.argv else "no record", flush=True)
        time.sleep(float(sys.argv[-1]) if sys.argv[-1][0].isdigit() else 0.0)
""")


def test_bench_streams_each_line_before_the_script_ends(bench_dir, tmp_path):
    """A case's line reaches the terminal while the script is still running."""
    import subprocess
    import sys
    import time

    (bench_dir / "good.py").unlink()
    (bench_dir / "slow.py").write_text(
        SLOW.replace("sys.argv[-1][0].isdigit()", "True").replace("float(sys.argv[-1])", "30.0")
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "circuitlearn", "bench", "--dir", str(bench_dir), "--timeout", "60"],
        stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    started = time.perf_counter()
    lines = [process.stdout.readline() for _ in range(2)]
    waited = time.perf_counter() - started
    process.kill()
    process.wait()
    assert "case one done" in "".join(lines)
    assert waited < 25, "the first case's line waited for the script to finish"


def test_bench_records_only_on_request_and_times_out(capsys, bench_dir):
    (bench_dir / "slow.py").write_text(SLOW)
    assert main(["bench", "slow", "--dir", str(bench_dir)]) == 0
    assert "no record" in capsys.readouterr().out
    assert main(["bench", "slow", "--dir", str(bench_dir), "--record"]) == 0
    assert "\nrecord" in capsys.readouterr().out
    (bench_dir / "slow.py").write_text(
        SLOW.replace("sys.argv[-1][0].isdigit()", "True").replace("float(sys.argv[-1])", "20.0")
    )
    assert main(["bench", "slow", "--dir", str(bench_dir), "--timeout", "1"]) == 1
    assert "timed out after 1 s" in capsys.readouterr().out
