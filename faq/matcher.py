"""Decides, for one resident message, whether to answer from an FAQ entry, suggest, or pass it on.

Every entry gets a score from 0 to 100 (see docs/benchmarks.md, "Score scale"): a blend of
TF-IDF similarity to its nearest alternate question and to the entry as a whole, a naive-Bayes
and a logistic-regression posterior among entries, and a rapidfuzz edit similarity, scaled down
when the message has salient words the entry never uses (肯德基几点开门 is not about the canteen).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process
from scipy import sparse

from faq.model import LANGUAGES, KnowledgeBase, MatchResult
from faq.normalize import (
    EN_STOPWORDS,
    ZH_STOPCHARS,
    Normalizer,
    cjk_pinyin,
    is_cjk,
    pinyin_reading,
    tokens,
)

# Documented defaults (docs/benchmarks.md); config's `matching:` overrides them, and a
# knowledge base's own `settings:` override config.
DEFAULT_THRESHOLDS = {
    "answer_threshold": 26.0,  # best score needed to answer outright
    "suggest_threshold": 18.0,  # best score needed to offer "did you mean" buttons
    # 0..100: how strictly the message's salient words must be ones the entry uses. At s, an
    # entry covering a share c of them has its score multiplied by 1 - s/100 * (1 - c), and is
    # never answered outright below 0.6 * s/100 (subject words counted twice there). A small
    # hand-written FAQ wants it high (肯德基几点开门 is not about the canteen); a large intent
    # set full of slot words ("how do you say fly in italian") wants it low.
    "coverage_strictness": 80.0,
}
MIN_COVERAGE_AT_FULL_STRICTNESS = 0.6
SUBJECT_WEIGHT = 2.0  # an uncovered word naming the message's subject counts this many times
MAX_SUGGESTIONS = 3
MAX_CANDIDATES = 5
MAX_QUERY_CHARS = 500  # a run-on message is matched on its first 500 characters
FUZZ_CANDIDATES = 40  # alternate questions (best by TF-IDF) that get an edit-distance score
CHUNK = 256  # queries scored together: bounds the dense query x question matrix
CHAR_NGRAMS = (3, 4)  # English character n-grams (5-grams measured no better, and slower)
# the load-time classifier: word-level features only (words, word pairs, character and pinyin
# pairs), a few epochs of minibatch SGD; skipped above CLASSIFIER_MAX_ENTRIES entries
CLASSIFIER_FEATURES = "wxbqr"
CLASSIFIER_EPOCHS = 5
CLASSIFIER_MAX_ENTRIES = 1000
CLASSIFIER_BATCH = 256
CLASSIFIER_RATE = 8.0
CLASSIFIER_MOMENTUM = 0.9


@dataclass(frozen=True)
class Weights:
    """How the channels blend into one 0..1 similarity (they sum to 1)."""

    nearest: float = 0.23  # cosine to the closest alternate question
    centroid: float = 0.17  # cosine to all of the entry's questions and keywords together
    bayes: float = 0.17  # naive-Bayes posterior among entries: does this entry stand out?
    classifier: float = 0.33  # logistic regression trained on the questions at load time
    fuzz: float = 0.10  # rapidfuzz ratio on pinyin (zh) / sorted words (en)
    bayes_alpha: float = 0.02  # additive smoothing of the naive-Bayes word counts
    bayes_temperature: float = 1.0  # lower = more decisive posterior


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """Crude English suffix stripping: "opens", "opened", "opening" -> "open"."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@dataclass
class _Analysis:
    """One normalised text: features for the vector space, units for coverage, a fuzz string."""

    features: list[str]
    units: list[tuple[str, tuple[str, ...]]]  # (weight feature, features that cover it)
    fuzz_text: str
    # units that name what the message is about when the entry does not use them: English
    # words right after "the" ("what time does the bank open"); see _coverage for Chinese
    subjects: frozenset[int] = frozenset()


def _pinyin_units(
    syllables: list[str], features: list[str], units: list[tuple[str, tuple[str, ...]]]
) -> None:
    features.extend("p" + s for s in syllables)
    pairs = ["q" + a + " " + b for a, b in itertools.pairwise(syllables)]
    features.extend(pairs)
    for i, syllable in enumerate(syllables):
        around = tuple(pairs[max(0, i - 1) : i + 1]) or ("p" + syllable,)
        units.append(("p" + syllable, around))


def analyse(text: str) -> _Analysis:
    """Features of normalised text (char/pinyin n-grams for Chinese, words and char n-grams
    for English) and its coverage units."""
    features: list[str] = []
    units: list[tuple[str, tuple[str, ...]]] = []
    words: list[str] = []
    fuzz_parts: list[str] = []
    for token in tokens(text):
        if not is_cjk(token):
            words.append(token)
            continue
        syllables = cjk_pinyin(token)
        fuzz_parts.append("".join(syllables))
        features.extend("u" + c for c in token)
        bigrams = ["b" + token[i : i + 2] for i in range(len(token) - 1)]
        features.extend(bigrams)
        features.extend("p" + s for s in syllables)
        # a pair of grammar characters (的几 in 开门的几点) gets its own prefix: it must not
        # cover a content word that sounds the same (肯德基几点 is not about the station)
        pairs = [
            ("r" if token[i] in ZH_STOPCHARS and token[i + 1] in ZH_STOPCHARS else "q")
            + a
            + " "
            + b
            for i, (a, b) in enumerate(itertools.pairwise(syllables))
        ]
        features.extend(pairs)
        for i, char in enumerate(token):
            if char in ZH_STOPCHARS:
                continue
            lo, hi = max(0, i - 1), i + 1
            cover = (*bigrams[lo:hi], *pairs[lo:hi]) or ("u" + char, "p" + syllables[i])
            units.append(("u" + char, cover))
    if words:
        words = [w.split("'")[0] or w for w in words]  # what's -> what, i'd -> i
        stems = [_stem(w) for w in words]
        features += ["w" + s for s in stems]
        features += ["x" + a + " " + b for a, b in itertools.pairwise(stems)]
        joined = " " + " ".join(words) + " "
        for n in CHAR_NGRAMS:
            features += ["c" + joined[i : i + n] for i in range(len(joined) - n + 1)]
        subjects = set()
        for previous, word, stem in zip(["", *words], words, stems, strict=False):
            if word not in EN_STOPWORDS:
                if previous == "the":
                    subjects.add(len(units))
                units.append(("w" + stem, ("w" + stem,)))
        fuzz_parts.append(" ".join(sorted(words)))
        return _Analysis(features, units, " ".join(fuzz_parts), frozenset(subjects))
    return _Analysis(features, units, " ".join(fuzz_parts))


def _pinyin_view(text: str) -> _Analysis | None:
    """A latin text read as pinyin typed without an IME ("shitang jidian kaimen")."""
    syllables = pinyin_reading(text)
    if not syllables or len(syllables) < 2:
        return None
    features: list[str] = []
    units: list[tuple[str, tuple[str, ...]]] = []
    _pinyin_units(syllables, features, units)
    return _Analysis(features, units, "".join(syllables))


def _unit_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows scaled to unit length (float32)."""
    matrix = sparse.csr_matrix(matrix, dtype=np.float32)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags((1.0 / norms).astype(np.float32)) @ matrix)


def _train_classifier(
    rows: sparse.csr_matrix, labels: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by minibatch SGD with momentum (fixed seed, so the
    same knowledge base always gives the same matcher). Each step touches only the feature
    rows present in its batch, which keeps 15,000 questions under a second."""
    weights = np.zeros((rows.shape[1], n_classes), dtype=np.float32)
    velocity = np.zeros_like(weights)
    bias = np.zeros(n_classes, dtype=np.float32)
    order = np.random.default_rng(0)
    for _ in range(CLASSIFIER_EPOCHS):
        shuffled = order.permutation(rows.shape[0])
        for start in range(0, len(shuffled), CLASSIFIER_BATCH):
            batch = shuffled[start : start + CLASSIFIER_BATCH]
            block = rows[batch]
            columns = np.unique(block.indices)
            block = block[:, columns]
            logits = block @ weights[columns] + bias
            logits -= logits.max(axis=1, keepdims=True)
            error = np.exp(logits)
            error /= error.sum(axis=1, keepdims=True)
            error[np.arange(len(batch)), labels[batch]] -= 1.0
            step = CLASSIFIER_RATE / len(batch)
            velocity[columns] = CLASSIFIER_MOMENTUM * velocity[columns] - step * (block.T @ error)
            weights[columns] += velocity[columns]
            bias -= step * error.sum(axis=0)
    return weights, bias


class _Space:
    """TF-IDF vector space (sublinear tf, smoothed idf, L2-normalised rows)."""

    def __init__(self, documents: list[list[str]]) -> None:
        # a new feature gets the next column: map() over a defaultdict stays in C
        columns: defaultdict[str, int] = defaultdict()
        columns.default_factory = columns.__len__
        indptr, indices = [0], []
        for features in documents:
            indices.extend(map(columns.__getitem__, features))
            indptr.append(len(indices))
        self.vocabulary: dict[str, int] = dict(columns)
        counts = self._matrix(indices, indptr)
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        n = len(documents)
        self.idf = np.log((1 + n) / (1 + df)) + 1.0
        self.unknown_idf = math.log(1 + n) + 1.0  # a word the knowledge base never uses
        self.matrix = self._weigh(counts, np.zeros(n))

    def _matrix(self, indices: list[int], indptr: list[int]) -> sparse.csr_matrix:
        matrix = sparse.csr_matrix(
            (np.ones(len(indices)), np.array(indices, dtype=np.int64), np.array(indptr)),
            shape=(len(indptr) - 1, len(self.vocabulary)),
        )
        matrix.sum_duplicates()
        return matrix

    def _weigh(self, counts: sparse.csr_matrix, unknown_mass: np.ndarray) -> sparse.csr_matrix:
        counts.data = (1.0 + np.log(counts.data)) * self.idf[counts.indices]
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel() + unknown_mass)
        norms[norms == 0] = 1.0
        return sparse.csr_matrix(sparse.diags(1.0 / norms) @ counts)

    def transform(self, documents: list[list[str]]) -> sparse.csr_matrix:
        """Query vectors; words unknown to the knowledge base still count in the norm, so a
        message that is mostly about something else gets low similarity everywhere."""
        indptr, indices, unknown = [0], [], []
        vocabulary = self.vocabulary
        for features in documents:
            missing: set[str] = set()
            for feature in features:
                column = vocabulary.get(feature)
                if column is not None:
                    indices.append(column)
                elif feature[0] not in "ub":
                    # unknown Chinese characters are not held against a message: a homophone
                    # slip (志原者) is unknown as characters, known as pinyin
                    missing.add(feature)
            indptr.append(len(indices))
            unknown.append(len(missing))
        unknown_mass = np.array(unknown, dtype=float) * self.unknown_idf**2
        return self._weigh(self._matrix(indices, indptr), unknown_mass)

    def weight(self, feature: str) -> float:
        column = self.vocabulary.get(feature)
        return self.unknown_idf if column is None else float(self.idf[column])


class Matcher:
    """Scores messages against one knowledge base and applies the answer/suggest/none rule."""

    def __init__(
        self,
        kb: KnowledgeBase,
        thresholds: dict[str, float] | None = None,
        weights: Weights | None = None,
    ) -> None:
        settings = dict(DEFAULT_THRESHOLDS)
        settings.update({k: float(v) for k, v in (thresholds or {}).items() if v is not None})
        settings.update({k: float(v) for k, v in kb.settings.items() if v is not None})
        self.answer_threshold = settings["answer_threshold"]
        self.suggest_threshold = min(settings["suggest_threshold"], self.answer_threshold)
        self.coverage_strictness = min(max(settings["coverage_strictness"], 0.0), 100.0)
        self.weights = weights or Weights()
        self.normalizer = Normalizer(kb.synonyms)
        self.entry_ids = [entry.id for entry in kb.entries]
        self._build(kb)

    def _build(self, kb: KnowledgeBase) -> None:
        question_features, fuzz_texts, starts = [], [], []
        keyword_features = []
        for entry in kb.entries:
            starts.append(len(question_features))
            for language in LANGUAGES:
                for question in entry.questions.get(language, []):
                    analysis = analyse(self.normalizer.normalize(question))
                    question_features.append(analysis.features)
                    fuzz_texts.append(analysis.fuzz_text)
            keywords = [k for lang in LANGUAGES for k in entry.keywords.get(lang, [])]
            keyword_features.append(
                [f for k in keywords for f in analyse(self.normalizer.normalize(k)).features]
            )

        self._has_questions = bool(question_features)
        if not self._has_questions:
            return
        n_entries = len(self.entry_ids)
        self.space = _Space(question_features + keyword_features)
        all_rows = self.space.matrix
        self.questions = all_rows[: len(question_features)]
        self.question_t = self.questions.T.tocsr()
        self.fuzz_texts = np.array(fuzz_texts, dtype=object)
        self.starts = np.array(starts)
        lengths = np.diff(np.append(self.starts, len(question_features)))
        self.question_entry = np.repeat(np.arange(n_entries), lengths)
        # entry x document membership: entry sums for the centroid and naive-Bayes counts
        owner = np.concatenate([self.question_entry, np.arange(n_entries)])
        membership = sparse.csr_matrix(
            (np.ones(len(owner)), (owner, np.arange(len(owner)))),
            shape=(n_entries, len(owner)),
        )
        totals = sparse.csr_matrix(membership @ all_rows)
        norms = np.sqrt(np.asarray(totals.multiply(totals).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        self.centroid_t = sparse.csr_matrix(sparse.diags(1.0 / norms) @ totals).T.tocsr()
        # multinomial naive Bayes over entries, kept sparse: log P(f|e) = base_e + log1p(n/alpha)
        alpha = self.weights.bayes_alpha
        self.bayes_t = totals.copy()
        self.bayes_t.data = np.log1p(self.bayes_t.data / alpha)
        self.bayes_t = self.bayes_t.T.tocsr()
        mass = np.asarray(totals.sum(axis=1)).ravel()
        self.bayes_base = np.log(alpha) - np.log(mass + alpha * totals.shape[1])
        # which features each entry uses: a message word none of them covers is not answered
        names = np.array(list(self.space.vocabulary), dtype=object)
        self.entry_features = [
            frozenset(names[totals.indices[totals.indptr[i] : totals.indptr[i + 1]]])
            for i in range(n_entries)
        ]
        self._any_pinyin = any(f.startswith("q") for f in self.space.vocabulary)
        # the classifier sees word-level features only (words, word pairs, character and
        # pinyin pairs): character n-grams add little there and would triple training time
        self.classifier_columns = np.array(
            [i for i, name in enumerate(names) if name[0] in CLASSIFIER_FEATURES], dtype=np.int64
        )
        self.classifier: tuple[np.ndarray, np.ndarray] | None = None
        # a class per entry: with thousands of one-question entries there is nothing to learn
        # and the weight matrix would not fit in memory; the other channels then carry its weight
        if n_entries <= CLASSIFIER_MAX_ENTRIES and self.weights.classifier > 0:
            labels = np.concatenate([self.question_entry, np.arange(n_entries)])
            self.classifier = _train_classifier(
                _unit_rows(all_rows[:, self.classifier_columns]), labels, n_entries
            )

    # scoring

    def match(self, text: str) -> MatchResult:
        """The decision for one message; never raises."""
        return self.match_many([text])[0]

    def match_many(self, texts: list[str]) -> list[MatchResult]:
        """Decisions for many messages, scored in bulk."""
        results: list[MatchResult] = []
        for start in range(0, len(texts), CHUNK):
            results.extend(self._match_chunk(texts[start : start + CHUNK]))
        return results

    def _match_chunk(self, texts: list[str]) -> list[MatchResult]:
        views: list[_Analysis] = []
        owner: list[int] = []
        for index, text in enumerate(texts):
            normal = self.normalizer.normalize(str(text or ""))[:MAX_QUERY_CHARS]
            if not normal or not self._has_questions:
                continue
            views.append(analyse(normal))
            owner.append(index)
            if self._any_pinyin and (pinyin := _pinyin_view(normal)) is not None:
                views.append(pinyin)
                owner.append(index)
        best: dict[int, tuple[np.ndarray, list[float]]] = {}
        if views:
            scores, coverages = self._score(views)
            for row, index in enumerate(owner):
                if index not in best or scores[row].max() > best[index][0].max():
                    best[index] = (scores[row], coverages[row])
        return [
            self._decide(text, *best[i]) if i in best else self._nothing(text)
            for i, text in enumerate(texts)
        ]

    def _score(self, views: list[_Analysis]) -> tuple[np.ndarray, list[list[float]]]:
        """Entry scores (views x entries, 0..100) and the coverage of the top entries."""
        w = self.weights
        queries = self.space.transform([v.features for v in views])
        similarity = (queries @ self.question_t).toarray()
        nearest = np.maximum.reduceat(similarity, self.starts, axis=1)
        centroid = (queries @ self.centroid_t).toarray()
        loglik = (queries @ self.bayes_t).toarray()
        loglik += np.asarray(queries.sum(axis=1)) * self.bayes_base
        loglik /= w.bayes_temperature
        loglik -= loglik.max(axis=1, keepdims=True)
        bayes = np.exp(loglik)
        bayes /= bayes.sum(axis=1, keepdims=True)
        edit = np.zeros_like(nearest)
        top = min(FUZZ_CANDIDATES, similarity.shape[1])
        for row, view in enumerate(views):
            picked = np.argpartition(-similarity[row], top - 1)[:top]
            ratios = process.cdist([view.fuzz_text], self.fuzz_texts[picked], scorer=fuzz.ratio)
            np.maximum.at(edit[row], self.question_entry[picked], ratios[0] / 100.0)
        blend = w.nearest * nearest + w.centroid * centroid + w.bayes * bayes + w.fuzz * edit
        if self.classifier is not None:
            weights, bias = self.classifier
            logits = _unit_rows(queries[:, self.classifier_columns]) @ weights + bias
            logits -= logits.max(axis=1, keepdims=True)
            classifier = np.exp(logits)
            blend += w.classifier * classifier / classifier.sum(axis=1, keepdims=True)
        else:
            blend /= 1.0 - w.classifier
        coverages: list[list[float]] = []
        for row, view in enumerate(views):
            order = np.argsort(-blend[row])[:MAX_CANDIDATES]
            row_coverage = [1.0] * blend.shape[1]
            for entry in order:
                covered, subject_covered = self._coverage(view, int(entry))
                row_coverage[entry] = subject_covered
                blend[row, entry] *= 1.0 - self.coverage_strictness / 100.0 * (1.0 - covered)
            coverages.append(row_coverage)
        return np.clip(blend * 100.0, 0.0, 100.0), coverages

    def _coverage(self, view: _Analysis, entry: int) -> tuple[float, float]:
        """Share of the message's salient (IDF-weighted) words that this entry uses: plain
        (scales the score), and with subject words weighed SUBJECT_WEIGHT times (gates answers).

        Subject words are uncovered words before the first covered one (a Chinese question
        leads with its topic: 银行几点开门 is about the bank) and English words after "the"
        ("what time does the bank open"). Extra words later in a message (驿站能看病伐 我有点感冒)
        weigh normally."""
        known = self.entry_features[entry]
        total = covered = subjects = 0.0
        leading = True
        unknown_subject = False
        for index, (weight_feature, cover) in enumerate(view.units):
            weight = self.space.weight(weight_feature)
            total += weight
            matched = known.intersection(cover)
            unknown = weight_feature not in self.space.vocabulary
            if (
                leading
                and matched
                and weight_feature not in known
                and all(f[0] == "q" for f in matched)
            ):
                # a character this entry never uses, matched only by its sound, at the head of
                # the message: 药店几点关门 (店 sounds like 点), not a slip after a match (食唐)
                unknown_subject = True
            if matched:
                leading = False
                covered += weight
            elif leading or index in view.subjects:
                subjects += weight
                unknown_subject |= unknown
        if not total:
            return 1.0, 1.0
        if unknown_subject:
            # the message is about something the knowledge base never mentions (邮局地址在哪,
            # 学校食堂饭卡充值): whatever else it shares with an entry, it is not answered outright
            return covered / total, 0.0
        return covered / total, covered / (total + (SUBJECT_WEIGHT - 1.0) * subjects)

    # decision

    def _decide(self, text: str, scores: np.ndarray, coverages: list[float]) -> MatchResult:
        order = np.argsort(-scores)[:MAX_CANDIDATES]
        candidates = [(self.entry_ids[i], round(float(scores[i]), 1)) for i in order]
        best = float(scores[order[0]])
        min_coverage = MIN_COVERAGE_AT_FULL_STRICTNESS * self.coverage_strictness / 100.0
        if best >= self.answer_threshold and coverages[order[0]] >= min_coverage:
            return MatchResult(text, "answer", candidates[0][0], [], best, candidates)
        suggestions = [i for i, s in candidates if s >= self.suggest_threshold][:MAX_SUGGESTIONS]
        if suggestions:
            return MatchResult(text, "suggest", None, suggestions, best, candidates)
        return MatchResult(text, "none", None, [], best, candidates)

    @staticmethod
    def _nothing(text: str) -> MatchResult:
        return MatchResult(text, "none", None, [], 0.0, [])
