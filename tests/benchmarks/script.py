"""Running a benchmark script as a user would, for the benchmark smoke tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(
    script: str, out: Path, *args: str, timeout: int = 300
) -> tuple[subprocess.CompletedProcess, dict]:
    """`python benchmarks/SCRIPT ARGS --out=OUT`: the finished run and its JSON report."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args, f"--out={out}"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result, json.loads(out.read_text())
