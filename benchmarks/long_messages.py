"""Matching time for long (dictated) messages on the bundled FAQ: target <= 2 ms per message.

    .venv/bin/python benchmarks/long_messages.py [--chars 200] [--repeat 200]

Builds 200-character messages from the dictated tuning set (each message repeated or cut to the
length), then times `Matcher.match` one message at a time (the bot's single-message path) and
`match_many` in bulk.
"""

from __future__ import annotations

import argparse
import sys
import time
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=200, help="messages timed")
    args = parser.parse_args(argv)
    messages = _messages("dictated-tune.yaml", args.chars, args.repeat)
    matcher = Matcher(load(None))
    # warm up as a running bot is: pypinyin and opencc load on first use, and each character's
    # reading is looked up once. On other messages than the timed ones, so that nothing of
    # theirs is cached
    matcher.match_many(_messages("dictated-heldout.yaml", args.chars, args.repeat))
    start = time.perf_counter()
    for message in messages:
        matcher.match(message)
    single = (time.perf_counter() - start) / len(messages) * 1000
    start = time.perf_counter()
    matcher.match_many(messages)
    bulk = (time.perf_counter() - start) / len(messages) * 1000
    print(
        f"{args.chars}-character messages: {single:.2f} ms each (match), {bulk:.2f} ms (match_many)"
    )
    return 0 if single <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
