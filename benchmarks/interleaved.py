"""Matching time of this checkout and of another one, interleaved (long dictated messages).

    git worktree add ../base COMMIT
    .venv/bin/python benchmarks/interleaved.py ../base [--processes 12] [--chars 200]
    .venv/bin/python benchmarks/interleaved.py . --python ../sys-venv/bin/python

Runs benchmarks/long_messages.py of the other checkout, then of this one, PROCESSES times each
in turn, with this checkout's Python (the other with `--python`'s, which must have the
project's dependencies: the second line compares two interpreters on this checkout), and prints
for each the least and the median of the processes' figures (each the least CPU time of its
rounds, per message): one message at a time and in bulk. On a shared machine the host's load
moves one run by more than a change does; taking turns spreads that load over both alike.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# "200-character messages, match: 2.46 ms each (first round, wall clock), 2.40 ms (least CPU ..."
FIGURE = re.compile(r"messages, (match|match_many): .*?, ([\d.]+) ms \(least CPU time")


def _figures(checkout: Path, python: str, chars: int) -> dict[str, float]:
    """One run of a checkout's benchmarks/long_messages.py: its least CPU times per message."""
    script = checkout / "benchmarks" / "long_messages.py"
    run = subprocess.run(
        [python, str(script), "--chars", str(chars)],
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
    parser.add_argument("--python", default=sys.executable, help="the other's interpreter")
    args = parser.parse_args(argv)
    if not (args.other / "benchmarks" / "long_messages.py").is_file():
        parser.error(f"{args.other} has no benchmarks/long_messages.py")
    if shutil.which(args.python) is None:
        parser.error(f"no interpreter {args.python}")
    sides = {"other": (args.other.resolve(), args.python), "this": (ROOT, sys.executable)}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for _ in range(args.processes):
        for name, (checkout, python) in sides.items():
            runs[name].append(_figures(checkout, python, args.chars))
    for name, (checkout, python) in sides.items():
        line = [f"{name} ({checkout}, {python}):"]
        for path in ("match", "match_many"):
            values = [figures[path] for figures in runs[name]]
            line.append(
                f"{path} least {min(values):.2f} ms, median {statistics.median(values):.2f} ms"
            )
        print(" ".join(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
