"""`stationbot faq check` and `stationbot faq list`: validate and show a knowledge base."""

from __future__ import annotations

import argparse
import json
import sys

from faq.loader import FaqError, load
from faq.model import LANGUAGES, KnowledgeBase

# exit codes: `faq check` reports problems with 1; other commands given a broken KB exit 2
CHECK_FAILED = 1
BROKEN_KNOWLEDGE_BASE = 2


def _print_problems(error: FaqError) -> None:
    for problem in error.problems:
        print(problem, file=sys.stderr)
    count = len(error.problems)
    print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)


def check(args: argparse.Namespace) -> int:
    """Validate FAQ files: a one-line summary, or every problem on stderr and exit 1."""
    try:
        kb = load(args.path)
    except FaqError as error:
        _print_problems(error)
        return CHECK_FAILED
    counts = {
        language: sum(len(entry.questions.get(language, [])) for entry in kb.entries)
        for language in LANGUAGES
    }
    print(
        f"OK: {len(kb.entries)} entries ({counts['zh']} zh questions, {counts['en']} en questions)"
        f" from {', '.join(kb.sources)}"
    )
    return 0


def _as_json(kb: KnowledgeBase) -> list[str]:
    return [
        json.dumps(
            {
                "id": entry.id,
                "category": entry.category,
                "questions": {
                    language: entry.questions.get(language, []) for language in LANGUAGES
                },
                "answer": {language: entry.answer.get(language, "") for language in LANGUAGES},
            },
            ensure_ascii=False,
        )
        for entry in kb.entries
    ]


def _as_table(kb: KnowledgeBase) -> list[str]:
    rows = [("ID", "CATEGORY", "FIRST QUESTION")]
    for entry in kb.entries:
        rows.append((entry.id, entry.category or "-", entry.first_question("zh")))
    id_width = max(len(row[0]) for row in rows)
    category_width = max(len(row[1]) for row in rows)
    return [f"{a:<{id_width}}  {b:<{category_width}}  {c}".rstrip() for a, b, c in rows]


def list_entries(args: argparse.Namespace) -> int:
    """List entries: a table (id, category, first zh question), or JSON lines with --json."""
    try:
        kb = load(args.faq)
    except FaqError as error:
        _print_problems(error)
        return BROKEN_KNOWLEDGE_BASE
    lines = _as_json(kb) if args.json else _as_table(kb)
    print("\n".join(lines))
    return 0
