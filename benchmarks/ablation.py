"""What each part of the matcher buys: the station dev set (and our regression questions) with
one channel or library switched off.

    .venv/bin/python benchmarks/ablation.py [--eval FILE ...] [--faq PATH]

Also imported by lcqmc.py for its --without option.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import faq.matcher  # noqa: E402
from faq import normalize  # noqa: E402

DEFAULT_EVALS = [
    ROOT.parent / "shared" / "eval" / "station-dev.yaml",
    ROOT / "tests" / "data" / "matcher-regression.yaml",
]
CHANNELS = ["pinyin", "t2s", "synonyms", "fuzz", "bayes", "classifier", "coverage"]


class _Identity:
    def convert(self, text: str) -> str:
        return text


def disable(channel: str) -> dict[str, float]:
    """Switches one part off for this process; returns threshold overrides it needs."""
    if channel == "pinyin":  # pypinyin: homophones and IME-less pinyin
        # each character stands for itself: pinyin features then say nothing new
        faq.matcher.cjk_pinyin = lambda run: list(run)  # type: ignore[attr-defined]
        faq.matcher.pinyin_reading = lambda text: None  # type: ignore[attr-defined]
    elif channel == "t2s":  # opencc: Traditional -> Simplified
        normalize._t2s = lambda: _Identity()  # type: ignore[assignment]
    elif channel == "synonyms":
        original = faq.matcher.Normalizer
        faq.matcher.Normalizer = lambda synonyms=None: original(None)  # type: ignore[misc]
    elif channel in ("fuzz", "bayes", "classifier"):  # a channel's weight goes to the others
        defaults = faq.matcher.Weights()
        weights = {
            name: getattr(defaults, name)
            for name in ("nearest", "centroid", "bayes", "classifier", "fuzz")
        }
        dropped = weights.pop(channel)
        weights = {k: v / (1.0 - dropped) for k, v in weights.items()}
        weights[channel] = 0.0
        faq.matcher.Weights.__init__.__defaults__ = tuple(  # type: ignore[attr-defined]
            weights.get(f, getattr(defaults, f)) for f in faq.matcher.Weights.__dataclass_fields__
        )
    elif channel == "coverage":
        return {"coverage_strictness": 0.0}
    return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", nargs="*", type=Path, default=DEFAULT_EVALS)
    parser.add_argument("--faq", help="knowledge base (default: bundled)")
    parser.add_argument(
        "--without", choices=["nothing", *CHANNELS], help="run only this one (default: all)"
    )
    args = parser.parse_args(argv)
    evals = [p for p in args.eval if p.exists()]
    if not evals:
        print("ablation: no evaluation file found (give --eval)", file=sys.stderr)
        return 1
    if args.without:
        return _run(args.without, evals, args.faq)
    import subprocess

    for channel in ["nothing", *CHANNELS]:  # a fresh process each: disable() patches modules
        command = [sys.executable, __file__, "--without", channel, "--eval", *map(str, evals)]
        subprocess.run(command + (["--faq", args.faq] if args.faq else []), check=False)
    return 0


def _run(channel: str, evals: list[Path], faq_path: str | None) -> int:
    """Prints, per evaluation file, the metrics at the default threshold and the best answer
    accuracy any threshold reaches within the targets (wrong <= 2 %, false answers <= 5 %):
    removing a channel shifts the score scale, so the second figure is the fair comparison."""
    from faq.loader import load
    from handlers.match_cli import evaluate_items, read_eval_file

    overrides = disable(channel) if channel != "nothing" else {}
    matcher = faq.matcher.Matcher(load(faq_path), overrides)
    default = matcher.answer_threshold
    cells = []
    for path in evals:
        items = read_eval_file(str(path))
        e = evaluate_items(matcher, items)
        best = (0.0, -default)  # (accuracy, -threshold): ties go to the lower threshold
        for threshold in range(10, 71):
            matcher.answer_threshold = float(threshold)
            t = evaluate_items(matcher, items)
            if t.wrong <= 0.02 * t.in_scope and t.false_answers <= 0.05 * t.out_of_scope:
                best = max(best, (t.correct / t.in_scope, -threshold))
        matcher.answer_threshold = default
        cells.append(
            f"{path.stem}: acc {e.correct / e.in_scope:.3f} wrong {e.wrong}"
            f" false {e.false_answers}/{e.out_of_scope}; best within targets"
            f" {best[0]:.3f} (threshold {-best[1]:g})"
        )
    print(f"{'without ' + channel if channel != 'nothing' else 'full matcher':<20}", end="")
    print(" | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
