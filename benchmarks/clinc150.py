"""CLINC150 (Larson et al., 2019) with the bot's own matcher: in-scope accuracy and OOS recall.

The knowledge base is built from `train` (one entry per intent, id = intent name, utterances as
alternate questions, English only). The answer threshold is picked on `val` + `oos_val` with the
paper's oos-threshold rule; the figures are reported on `test` + `oos_test`.

    .venv/bin/python benchmarks/clinc150.py [--data PATH] [--write-kb PATH] [--without CHANNEL]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ablation import CHANNELS, disable  # noqa: E402
from faq.loader import write_core  # noqa: E402
from faq.matcher import Matcher  # noqa: E402
from faq.model import Entry, KnowledgeBase, MatchResult  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "clinc150"
# the grid the setting is picked from (both on the 0..100 scale of docs/benchmarks.md)
THRESHOLDS = [float(t) for t in range(10, 61, 2)]
STRICTNESS = [0.0, 20.0, 40.0, 80.0]
PAPER = [  # oos-threshold, "Full" setting (BASELINES.md)
    ("naive rapidfuzz nearest neighbour", 77.7, 11.0),
    ("FastText", 88.6, 28.3),
    ("SVM", 88.2, 18.0),
    ("CNN", 90.9, 30.9),
    ("Rasa", 90.9, 31.2),
    ("BERT", 96.2, 52.3),
]


def build_kb(train: list[list[str]]) -> KnowledgeBase:
    """One entry per intent; its training utterances are the alternate questions."""
    by_intent: dict[str, list[str]] = {}
    for text, intent in train:
        by_intent.setdefault(intent, []).append(text)
    entries = [
        Entry(id=intent, questions={"en": texts}, answer={"en": f"(intent {intent})"})
        for intent, texts in sorted(by_intent.items())
    ]
    return KnowledgeBase(entries=entries)


def rates(
    results: list[MatchResult], gold: list[str | None], threshold: float
) -> tuple[float, float]:
    """(in-scope accuracy, out-of-scope recall) if answers below `threshold` were withheld;
    a rejected in-scope query counts as wrong."""
    answered = [r.outcome == "answer" and r.score >= threshold for r in results]
    in_scope = [i for i, g in enumerate(gold) if g is not None]
    out_scope = [i for i, g in enumerate(gold) if g is None]
    correct = sum(answered[i] and results[i].id == gold[i] for i in in_scope)
    rejected = sum(not answered[i] for i in out_scope)
    return correct / len(in_scope), rejected / len(out_scope)


def tune(
    kb: KnowledgeBase,
    queries: list[str],
    gold: list[str | None],
    strictness_grid: list[float] = STRICTNESS,
) -> dict[str, float]:
    """The paper's rule: best accuracy on val + oos_val with out-of-scope as a 151st class."""
    n_in = sum(g is not None for g in gold)
    best: tuple[float, dict[str, float]] | None = None
    for strictness in strictness_grid:
        matcher = Matcher(kb, {"answer_threshold": 0.0, "coverage_strictness": strictness})
        results = matcher.match_many(queries)
        for threshold in THRESHOLDS:
            accuracy, recall = rates(results, gold, threshold)
            overall = (accuracy * n_in + recall * (len(gold) - n_in)) / len(gold)
            setting = {"answer_threshold": threshold, "coverage_strictness": strictness}
            if best is None or overall > best[0]:
                best = (overall, setting)
    assert best is not None
    return best[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="clinc150 folder")
    parser.add_argument("--write-kb", type=Path, metavar="PATH", help="write the KB as YAML")
    parser.add_argument("--without", choices=CHANNELS, help="switch one part off (ablation)")
    args = parser.parse_args(argv)
    overrides = disable(args.without) if args.without else {}
    source = args.data / "data_full.json"
    if not source.exists():
        print(f"clinc150: {source} not found (give --data)", file=sys.stderr)
        return 1
    data = json.loads(source.read_text(encoding="utf-8"))
    kb = build_kb(data["train"])
    started = time.perf_counter()
    Matcher(kb)
    build_seconds = time.perf_counter() - started

    val = data["val"] + data["oos_val"]
    # --without coverage pins the strictness instead of letting the tuning pick it
    grid = [overrides["coverage_strictness"]] if "coverage_strictness" in overrides else STRICTNESS
    tuned = tune(kb, [t for t, _ in val], [None if i == "oos" else i for _, i in val], grid)
    settings = {**tuned, "suggest_threshold": 0.0}
    matcher = Matcher(kb, settings)
    test = data["test"] + data["oos_test"]
    queries, gold = [t for t, _ in test], [None if i == "oos" else i for _, i in test]
    started = time.perf_counter()
    results = matcher.match_many(queries)
    per_question_ms = (time.perf_counter() - started) / len(queries) * 1000
    accuracy, recall = rates(results, gold, settings["answer_threshold"])

    print(f"knowledge base: {len(kb.entries)} entries, {len(data['train'])} questions")
    print(f"matcher build: {build_seconds:.2f} s")
    print(f"tuned on val + oos_val: {tuned}")
    print(f"test: in-scope accuracy {accuracy * 100:.1f}  out-of-scope recall {recall * 100:.1f}")
    print(f"time per question (match_many, {len(queries)} questions): {per_question_ms:.2f} ms")
    print("paper, oos-threshold, Full:")
    for name, paper_accuracy, paper_recall in PAPER:
        print(f"  {name:<36} {paper_accuracy:5.1f}  {paper_recall:5.1f}")
    if args.write_kb:
        kb.settings = dict(settings)
        write_core(
            kb,
            args.write_kb,
            header="CLINC150 (CC BY 3.0, Larson et al. 2019): knowledge base from data_full train",
        )
        print(f"wrote {args.write_kb} (settings: {settings})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
