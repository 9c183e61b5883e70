"""`stationbot match` and `stationbot eval`: the matcher on stdin questions or an evaluation file.

Both build the matcher exactly as the bot does (knowledge base + config thresholds), so what they
print is what residents get. Exit codes: 0 done, 1 unreadable evaluation file, 2 bad config or
knowledge base.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot.topics import topic_of
from faq.model import MatchResult
from handlers.cli import fail

if TYPE_CHECKING:  # imported in build_matcher: a bad eval file fails before numpy loads
    from faq.matcher import Matcher

# a bad config or knowledge base: exit 2, as `stationbot run` and the staff commands
UNUSABLE_SETUP = 2
BATCH = 256  # lines matched together; output still follows input order line by line


def build_matcher(args: argparse.Namespace) -> Matcher:
    """The bot's matcher for these arguments: --faq, else the FAQ residents get (config's
    faq.path, else bundled, with the staff overlay)."""
    from bot.config import ConfigError, load_config, load_station_faq
    from faq.loader import FaqError, load
    from faq.matcher import Matcher

    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as error:
        raise SystemExit(fail(str(error), UNUSABLE_SETUP)) from None
    try:
        kb = load(args.faq) if args.faq else load_station_faq(config)
    except FaqError as error:
        raise SystemExit(
            fail(f"cannot load the knowledge base:\n{error}", UNUSABLE_SETUP)
        ) from None
    except OSError as error:
        raise SystemExit(fail(f"cannot read the knowledge base: {error}", UNUSABLE_SETUP)) from None
    return Matcher(kb, config.matching)


def _render(result: MatchResult) -> str:
    if result.outcome == "answer" and result.also:  # the bot offers it as a button
        return f"answer   {result.score:5.1f}  {result.id} + {result.also}\t{result.query}"
    if result.outcome == "answer":
        return f"answer   {result.score:5.1f}  {result.id}\t{result.query}"
    if result.outcome == "suggest":
        return f"suggest  {result.score:5.1f}  {', '.join(result.suggestions)}\t{result.query}"
    return f"none     {result.score:5.1f}  -\t{result.query}"


def match(args: argparse.Namespace) -> int:
    """Reads questions from stdin, one per line; prints one decision per non-empty line."""
    matcher = build_matcher(args)
    stdin = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else None
    lines = (
        (raw.decode("utf-8", errors="replace") for raw in stdin)
        if stdin is not None
        else iter(sys.stdin)
    )
    batch: list[str] = []

    def flush() -> None:
        for question, result in zip(batch, matcher.match_many(batch), strict=True):
            topic = topic_of(question)
            if topic is not None:  # a big button's label: the bot opens that topic
                decision = {"q": question, "outcome": "menu", "id": topic, "suggestions": []}
                print(json.dumps(decision, ensure_ascii=False) if args.json else f"menu  {topic}")
            elif args.json:
                print(json.dumps(result.as_json(), ensure_ascii=False))
            else:
                print(_render(result))
        sys.stdout.flush()
        batch.clear()

    interactive = sys.stdin.isatty()
    for line in lines:
        question = line.rstrip("\r\n")
        if not question.strip():
            continue
        batch.append(question)
        if interactive or len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return 0


@dataclass
class Evaluation:
    """The contract's metrics over one evaluation file, with every miss kept for --errors."""

    in_scope: int = 0
    out_of_scope: int = 0
    correct: int = 0
    reached: int = 0
    wrong: int = 0
    false_answers: int = 0
    misses: list[tuple[str, str | None, MatchResult]] = field(default_factory=list)

    def add(self, question: str, expect: str | None, result: MatchResult) -> None:
        if expect is None:
            self.out_of_scope += 1
            if result.outcome == "answer":
                self.false_answers += 1
                self.misses.append((question, expect, result))
            return
        self.in_scope += 1
        if result.outcome == "answer" and result.id == expect:
            self.correct += 1
            self.reached += 1
            return
        if result.outcome == "answer":
            self.wrong += 1
        elif expect in result.suggestions:
            self.reached += 1
        self.misses.append((question, expect, result))

    def rows(self) -> list[tuple[str, int, int]]:
        answers = self.correct + self.wrong + self.false_answers
        return [
            ("answer accuracy", self.correct, self.in_scope),
            ("reach", self.reached, self.in_scope),
            ("wrong answers", self.wrong, self.in_scope),
            ("false answers (out of scope)", self.false_answers, self.out_of_scope),
            ("precision", self.correct, answers),
        ]


def evaluate_items(matcher: Matcher, items: list[tuple[str, str | None]]) -> Evaluation:
    """Runs the matcher over (question, expected id or None) pairs."""
    evaluation = Evaluation()
    results = matcher.match_many([q for q, _ in items])
    for (question, expect), result in zip(items, results, strict=True):
        evaluation.add(question, expect, result)
    return evaluation


def read_eval_file(path: str) -> list[tuple[str, str | None]]:
    """Items of an evaluation file; SystemExit with a one-line message if it is malformed."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SystemExit(fail(f"cannot read {path}: {error.strerror}")) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise SystemExit(fail(f"{path}: not valid YAML: {str(error).splitlines()[0]}")) from None
    if not isinstance(data, list):
        raise SystemExit(fail(f"{path}: expected a list of {{q, expect}} items"))
    items = []
    for number, item in enumerate(data, 1):
        if not isinstance(item, dict) or "q" not in item or "expect" not in item:
            raise SystemExit(fail(f"{path}: item {number}: expected {{q: ..., expect: ...}}"))
        expect = item["expect"]
        items.append((str(item["q"]), None if expect is None else str(expect)))
    return items


def evaluate(args: argparse.Namespace) -> int:
    """Prints the metrics table for an evaluation file (and each miss with --errors)."""
    items = read_eval_file(args.file)
    matcher = build_matcher(args)
    evaluation = evaluate_items(matcher, items)
    known = set(matcher.entry_ids)
    unknown = sorted({e for _, e in items if e is not None and e not in known})
    if unknown:
        print(f"warning: expected ids not in the knowledge base: {', '.join(unknown)}")
    print(f"{'metric':<30} {'value':>6}  count")
    for name, count, total in evaluation.rows():
        value = f"{count / total:.3f}" if total else "-"
        print(f"{name:<30} {value:>6}  {count}/{total}")
    if args.errors:
        print()
        for question, expect, result in evaluation.misses:
            got = result.id if result.outcome == "answer" else ", ".join(result.suggestions)
            print(
                f"{question}\texpected {expect or 'none'}\tgot {result.outcome}"
                f" {got or '-'} ({result.score:.1f})"
            )
    return 0
