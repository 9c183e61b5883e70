"""LCQMC as a retrieval benchmark for the bot's matcher: hit@1 on Chinese question paraphrases.

Knowledge base: every distinct first sentence of test.txt, one entry each. Queries: the second
sentence of each positive pair that is not itself a first sentence. A hit is the expected entry
as the answer or as the first suggestion. The one knob (coverage strictness) is picked on
dev.txt built the same way. LCQMC is for internal evaluation only: nothing of it is copied into
the project (--write-kb writes where you say, for local use).

    .venv/bin/python benchmarks/lcqmc.py [--data PATH] [--write-kb PATH] [--without pinyin|t2s]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ablation import CHANNELS, disable  # noqa: E402
from faq.loader import question_key, write_core  # noqa: E402
from faq.matcher import Matcher  # noqa: E402
from faq.model import Entry, KnowledgeBase  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "lcqmc"
STRICTNESS = [0.0, 40.0, 80.0]


def read_split(path: Path) -> tuple[KnowledgeBase, list[tuple[str, str]]]:
    """The knowledge base and the (query, expected entry id) pairs of one LCQMC file."""
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            pairs.append((parts[0].strip(), parts[1].strip(), parts[2].strip()))
    # first sentences that differ only in punctuation or case are one question (and one entry),
    # as the loader sees them: so the knowledge base written by --write-kb loads
    ids: dict[str, str] = {}
    entries = []
    for first, _, _ in pairs:
        key = question_key(first)
        if key not in ids:
            ids[key] = f"q{len(ids) + 1:05d}"
            entries.append(Entry(id=ids[key], questions={"zh": [first]}, answer={"zh": first}))
    queries = [
        (second, ids[question_key(first)])
        for first, second, label in pairs
        if label == "1" and question_key(second) not in ids
    ]
    return KnowledgeBase(entries=entries), queries


def hit_at_1(matcher: Matcher, queries: list[tuple[str, str]]) -> float:
    results = matcher.match_many([q for q, _ in queries])
    hits = 0
    for result, (_, expect) in zip(results, queries, strict=True):
        first = result.id if result.outcome == "answer" else next(iter(result.suggestions), None)
        hits += first == expect
    return hits / len(queries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="lcqmc folder")
    parser.add_argument("--write-kb", type=Path, metavar="PATH", help="write the test KB as YAML")
    parser.add_argument("--without", choices=CHANNELS, help="switch one part off (ablation)")
    args = parser.parse_args(argv)
    if not (args.data / "test.txt").exists() or not (args.data / "dev.txt").exists():
        print(f"lcqmc: test.txt/dev.txt not found in {args.data} (give --data)", file=sys.stderr)
        return 1
    overrides = disable(args.without) if args.without else {}
    dev_kb, dev_queries = read_split(args.data / "dev.txt")
    best = max(
        STRICTNESS,
        key=lambda s: hit_at_1(
            Matcher(dev_kb, {"suggest_threshold": 0.0, "coverage_strictness": s, **overrides}),
            dev_queries,
        ),
    )
    settings = {"suggest_threshold": 0.0, "coverage_strictness": best, **overrides}
    kb, queries = read_split(args.data / "test.txt")
    started = time.perf_counter()
    matcher = Matcher(kb, settings)
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    hit = hit_at_1(matcher, queries)
    per_question_ms = (time.perf_counter() - started) / len(queries) * 1000
    print(f"knowledge base: {len(kb.entries)} entries; {len(queries)} queries")
    print(f"tuned on dev.txt: coverage_strictness {best:g}")
    print(f"matcher build: {build_seconds:.2f} s; time per question {per_question_ms:.2f} ms")
    print(f"test hit@1: {hit:.3f}" + (f"  (without {args.without})" if args.without else ""))
    if args.write_kb:
        kb.settings = dict(settings)
        write_core(
            kb,
            args.write_kb,
            header="LCQMC test.txt first sentences: internal evaluation only, do not redistribute",
        )
        print(f"wrote {args.write_kb}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
