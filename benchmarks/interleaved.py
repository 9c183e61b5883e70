"""Matching time of this checkout and of another one, interleaved (long dictated messages).

    git worktree add ../base COMMIT
    .venv/bin/python benchmarks/interleaved.py ../base [--processes 12] [--chars 200]

Runs benchmarks/long_messages.py of the other checkout, then of this one, PROCESSES times each
in turn, with this checkout's Python, and prints for each checkout the least and the median of
the processes' figures (each the least CPU time of its rounds, per message): one message at a
time and in bulk. On a shared machine the host's load moves one run by more than a change does;
taking turns spreads that load over both checkouts alike.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# "200-character messages, match: 2.46 ms each (first round, wall clock), 2.40 ms (least CPU ..."
FIGURE = re.compile(r"messages, (match|match_many): .*?, ([\d.]+) ms \(least CPU time")


def _figures(checkout: Path, chars: int) -> dict[str, float]:
    """One run of a checkout's benchmarks/long_messages.py: its least CPU times per message."""
    script = checkout / "benchmarks" / "long_messages.py"
    run = subprocess.run(
        [sys.executable, str(script), "--chars", str(chars)],
        capture_output=True,
        text=True,
        check=False,
    )
    figures = {path: float(ms) for path, ms in FIGURE.findall(run.stdout)}
    if set(figures) != {"match", "match_many"}:
        raise SystemExit(f"benchmarks/interleaved.py: {script} printed no figures:\n{run.stderr}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout (a git worktree)")
    parser.add_argument("--processes", type=int, default=12, help="runs of each checkout")
    parser.add_argument("--chars", type=int, default=200)
    args = parser.parse_args(argv)
    if not (args.other / "benchmarks" / "long_messages.py").is_file():
        parser.error(f"{args.other} has no benchmarks/long_messages.py")
    checkouts = {"other": args.other.resolve(), "this": ROOT}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    for _ in range(args.processes):
        for name, checkout in checkouts.items():
            runs[name].append(_figures(checkout, args.chars))
    for name, checkout in checkouts.items():
        line = [f"{name} ({checkout}):"]
        for path in ("match", "match_many"):
            values = [figures[path] for figures in runs[name]]
            line.append(
                f"{path} least {min(values):.2f} ms, median {statistics.median(values):.2f} ms"
            )
        print(" ".join(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
