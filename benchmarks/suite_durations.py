"""Where the test suite's time goes: per-module seconds from `pytest --durations=0`.

CI keeps the suite under 25 minutes (pytest itself <= 22 on an idle 2-core
machine). Run pytest with `--durations=0` (every setup, call and teardown is
listed), then read the log; with `--before`, each module's time against an
earlier log of the same modules (compare ratios: the machine may be loaded).
A session fixture's setup counts in the first module that uses it: compare the
sum over the modules that share one.

    pytest --durations=0 -q tests/e2e > after.log
    python benchmarks/suite_durations.py after.log --before before.log
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# pytest's durations lines: "12.34s call     tests/e2e/test_x.py::test_y[param]"
LINE = re.compile(r"^(\d+(?:\.\d+)?)s (setup|call|teardown)\s+(\S+?)::")
# pytest's summary line: "12 passed, 1 skipped in 1234.56s (0:20:34)"
TOTAL = re.compile(r"\b(?:passed|failed|errors?|skipped)\b.* in (\d+(?:\.\d+)?)s\b")


def per_module(log: str) -> tuple[dict[str, float], float | None]:
    """Seconds per test module (setup + call + teardown) and the session's wall time."""
    modules: dict[str, float] = defaultdict(float)
    for line in log.splitlines():
        match = LINE.match(line.strip())
        if match:
            modules[match.group(3)] += float(match.group(1))
    totals = [float(m.group(1)) for m in map(TOTAL.search, log.splitlines()) if m]
    return dict(modules), (totals[-1] if totals else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="pytest output run with --durations=0")
    parser.add_argument("--before", type=Path, help="an earlier log to compare with")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/suite_durations.json"
    )
    args = parser.parse_args()
    after, after_wall = per_module(args.log.read_text(errors="replace"))
    before, before_wall = (
        per_module(args.before.read_text(errors="replace"))
        if args.before
        else ({}, None)
    )
    rows = []
    for module in sorted(set(after) | set(before), key=lambda m: -after.get(m, 0)):
        row = {"module": module, "seconds": round(after.get(module, 0.0), 1)}
        if args.before:
            row["before_seconds"] = round(before.get(module, 0.0), 1)
            if before.get(module):
                row["ratio"] = round(after.get(module, 0.0) / before[module], 2)
        rows.append(row)
        extra = (
            f"  before {row['before_seconds']:8.1f} s  ratio {row.get('ratio', '-')}"
            if args.before
            else ""
        )
        print(f"{row['seconds']:8.1f} s  {module}{extra}")
    summary = {
        "log": str(args.log),
        "wall_seconds": after_wall,
        "module_seconds": round(sum(after.values()), 1),
        "modules": rows,
    }
    if args.before:
        summary |= {
            "before_log": str(args.before),
            "before_wall_seconds": before_wall,
            "before_module_seconds": round(sum(before.values()), 1),
        }
        if before_wall and after_wall:
            summary["wall_ratio"] = round(after_wall / before_wall, 3)
    print(
        f"session wall {after_wall} s, modules {summary['module_seconds']} s"
        + (
            f"; before: wall {before_wall} s, modules {summary['before_module_seconds']} s"
            if args.before
            else ""
        )
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
