"""Every bench in bench/ runs end to end on tiny sizes (`--smoke`): numbers are not checked, only that it runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A bench is a script with a main(); the others in bench/ are the baselines they start.
BENCHES = sorted(path.name for path in (ROOT / "bench").glob("*.py") if "\ndef main(" in path.read_text())


def _expected(bench: str) -> list[str]:
    """What a complete run prints (wrk's part only where wrk is installed, as `make test` does)."""
    if bench == "logs_query.py":
        return ["inserted 3,000 rows", "next pages 2-11", "SQLite's plan per filter"]
    if bench == "cache_hit.py":
        if shutil.which("wrk"):
            return ["proxy cache hit", "throughput ratio proxy/bare (proxy server)", "0 dropped"]
        return ["wrk is not installed", "0 dropped"]
    if bench == "cluster.py":
        from tests.engines import engines_available

        if engines_available():
            return ["not installed"]
        expected = ["added latency of a miss with Redis", "failure config set", "cleared"]
        if shutil.which("wrk"):
            expected.append("throughput ratio --workers 2 / 1 node")
        return expected
    raise AssertionError(f"bench/{bench} is new: say here what its smoke run prints")


def test_the_benches_are_found() -> None:
    assert BENCHES == ["cache_hit.py", "cluster.py", "logs_query.py"]


# The cluster bench starts seven servers and two engines even on tiny sizes: more than the suite's usual
# per-test limit when the other xdist workers keep both cores busy.
@pytest.mark.parametrize(
    "bench",
    [
        pytest.param(name, marks=pytest.mark.timeout(330)) if name == "cluster.py" else name
        for name in BENCHES
    ],
)
def test_every_bench_runs_on_tiny_sizes(bench: str) -> None:
    result = subprocess.run(
        [sys.executable, f"bench/{bench}", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for text in _expected(bench):
        assert text in result.stdout, result.stdout + result.stderr
