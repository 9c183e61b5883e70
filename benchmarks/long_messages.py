"""Matching time for long (dictated) messages on the bundled FAQ: target <= 2 ms per message.

    .venv/bin/python benchmarks/long_messages.py [--chars 200] [--repeat 200] [--rounds 5]
    sh benchmarks/instructions.sh [--chars 200]    # instructions per message, under cachegrind

Builds 200-character messages from the dictated tuning set (each message repeated or cut to the
length), then times `Matcher.match` one message at a time (the bot's single-message path) and
`match_many` in bulk. Exits 1 when a message takes more than 2 ms by the least CPU time of the
rounds (one message at a time).

The interpreter and the host count: the first line says which Python ran, the second which
processor and the load average before the rounds, and the last the share of the machine's CPU
time that its hypervisor gave other guests during the rounds ("steal", from /proc/stat).

A CPython built from source without `--enable-optimizations` (pyenv's default build, with a
shared libpython) runs the matcher some 10 % slower than a distribution's python3, built with
profile-guided optimisation and its libpython linked in (docs/benchmarks.md, "Dictated
messages"); a station's server runs the latter (docs/operations.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faq.loader import load  # noqa: E402
from faq.matcher import Matcher  # noqa: E402
from handlers.match_cli import read_eval_file  # noqa: E402


def _messages(name: str, chars: int, count: int) -> list[str]:
    """`count` messages of `chars` characters, each dictated message of the set followed by the
    next ones (a long message repeats none of its parts)."""
    questions = [q for q, _ in read_eval_file(str(ROOT / "tests" / "data" / name))]
    messages = []
    for i in range(count):
        text = ""
        j = i
        while len(text) < chars:
            text += questions[j % len(questions)] + " "
            j += 1
        messages.append(text[:chars].strip())
    return messages


def _timed(work: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this thread's) of one call of `work`."""
    wall, cpu = time.perf_counter(), time.thread_time()
    work()
    return time.perf_counter() - wall, time.thread_time() - cpu


def _processor() -> str:
    """The processor's model name and the cores this process may use."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {len(os.sched_getaffinity(0))} cores"


def _cpu_ticks() -> tuple[int, int] | None:
    """The machine's CPU time so far, all of it and the hypervisor's steal, in clock ticks
    (/proc/stat's first line; None where there is none)."""
    try:
        with open("/proc/stat", encoding="utf-8") as stat:
            ticks = [int(field) for field in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal guest guest_nice: guest time is already in
    # user and nice
    return sum(ticks[:8]), ticks[7] if len(ticks) > 7 else 0


class _ScoringClock:
    """The CPU time a matcher spends in `Matcher._score`: the numeric part of matching (TF-IDF
    products, naive Bayes, classifier, edit distance, coverage). The rest of a message's time is
    reading its text (normalising, clauses, places, fraud cues) and deciding."""

    def __init__(self, matcher: Matcher) -> None:
        self.seconds = 0.0
        self._score = matcher._score
        matcher._score = self  # type: ignore[method-assign]

    def __call__(self, views: list) -> object:
        start = time.thread_time()
        try:
            return self._score(views)
        finally:
            self.seconds += time.thread_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=200, help="messages timed")
    parser.add_argument("--rounds", type=int, default=5, help="times each path is timed")
    parser.add_argument(
        "--passes",
        type=int,
        help="match the messages one at a time this many times, untimed, and exit (for "
        "benchmarks/instructions.sh: 0 gives the cost of everything else)",
    )
    args = parser.parse_args(argv)
    messages = _messages("dictated-tune.yaml", args.chars, args.repeat)
    matcher = Matcher(load(None))
    # warm up as a running bot is: pypinyin and opencc load on first use, and each character's
    # reading is looked up once. On other messages than the timed ones, so that nothing of
    # theirs is cached
    matcher.match_many(_messages("dictated-heldout.yaml", args.chars, args.repeat))
    if args.passes is not None:
        for _ in range(args.passes):
            for message in messages:
                matcher.match(message)
        return 0
    print(f"Python {platform.python_version()} ({os.path.realpath(sys.executable)})")
    print(f"host: {_processor()}; load average {os.getloadavg()[0]:.2f}")
    before = _cpu_ticks()
    # each path timed `--rounds` times: the first round's wall-clock time (what earlier figures
    # gave) and the least CPU time of all rounds, which other processes on a shared machine
    # cannot inflate (as timeit reports its best)
    clock = _ScoringClock(matcher)
    single, bulk, scoring = [], [], []
    for _ in range(args.rounds):
        clock.seconds = 0.0
        single.append(_timed(lambda: [matcher.match(message) for message in messages]))
        scoring.append(clock.seconds)
        bulk.append(_timed(lambda: matcher.match_many(messages)))
    for name, rounds in (("match", single), ("match_many", bulk)):
        wall = rounds[0][0] / len(messages) * 1000
        cpu = min(c for _, c in rounds) / len(messages) * 1000
        print(
            f"{args.chars}-character messages, {name}: {wall:.2f} ms each (first round, wall "
            f"clock), {cpu:.2f} ms (least CPU time of {args.rounds} rounds)"
        )
    after = _cpu_ticks()
    fastest = min(range(args.rounds), key=lambda i: single[i][1])
    print(
        f"  of which scoring (Matcher._score), one message at a time: "
        f"{scoring[fastest] / len(messages) * 1000:.2f} ms"
    )
    if before and after and after[0] > before[0]:
        steal = (after[1] - before[1]) / (after[0] - before[0])
        print(f"  the host's steal during the rounds: {steal:.1%} of the machine's CPU time")
    single = min(c for _, c in single) / len(messages) * 1000
    return 0 if single <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
