"""Pooling: near-duplicate wishes and unanswered questions grouped, so staff see "cooking
class ×18, from 12 residents" instead of eighteen lines. Linear in practice: each text is
compared with a few pool leaders, and its pooling key is made once, when it is saved.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process

from bot.text import one_line
from faq.normalize import CJK, Normalizer

# two wishes (or unanswered questions) whose pooling keys score at least this are pooled
POOL_THRESHOLD = 70.0
SUMMARY_CHARS = 100  # a pooled text in lists (wishes, stats): a 5,000-character wish is cut
# a text is keyed from its first POOLING_CHARS characters (a 5,000-character wish is cut)
POOLING_CHARS = 300

# one token per Chinese character, one per run of anything else but spaces
_TOKENS = re.compile(f"[{CJK}]|[^\\s{CJK}]+")
_NORMALIZER = Normalizer()  # no synonyms: wishes are not FAQ questions
# words that say "I wish" rather than what is wished for; removed before pooling
_ZH_FILLERS = (
    "可不可以",
    "能不能",
    "有没有",
    "希望",
    "我想",
    "想要",
    "可以",
    "能否",
    "麻烦",
    "我们",
    "一下",
    "一个",
    "驿站",
    "开个",
    "请",
    "吗",
    "呢",
    "吧",
    "的",
    "了",
    "啊",
    "呀",
    "想",
    "要",
    "个",
    "有",
)
_EN_FILLERS = frozenset(
    ("i", "we", "wish", "would", "like", "please", "want", "a", "an", "the", "some", "to",
     "have", "more", "can", "could", "you", "for", "it", "be", "nice", "hope", "there", "is",
     "station")
)  # fmt: skip


@dataclass
class Pool:
    """Near-duplicate texts grouped together: 'cooking class ×18, from 12 residents'."""

    text: str  # the representative (the earliest) text
    refs: list[str]
    residents: int
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.refs)

    def describe(self, limit: int = SUMMARY_CHARS) -> str:
        """'cooking class ×18, from 12 residents': the text on one line, cut to `limit`."""
        line = f"{one_line(self.text, limit)} ×{self.count}"
        if self.count > 1:
            line += f", from {self.residents} resident{'s' if self.residents != 1 else ''}"
        return line

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "count": self.count,
            "residents": self.residents,
            "refs": self.refs,
            "statuses": self.statuses,
        }


def pooling_key(text: str) -> str:
    """Text reduced to what it asks for: one token per Chinese character or English word,
    fillers ("希望", "please") dropped, so word order and particles matter less. Never empty
    for a text with anything but spaces in it. Stored with each item when it is saved
    (storage m007): a change to what it returns wants a migration that recomputes the column,
    or old items pool a little apart from new ones."""
    text = text[:POOLING_CHARS]
    # the matcher's normaliser: NFKC, Traditional -> Simplified, casefold, no punctuation
    normalised = _NORMALIZER.normalize(text)
    for filler in _ZH_FILLERS:
        normalised = normalised.replace(filler, " ")
    words = []
    for word in _TOKENS.findall(normalised):
        if word in _EN_FILLERS:
            continue
        if word.endswith(("sses", "shes", "ches", "xes")):
            word = word[:-2]  # classes ~ class, benches ~ bench
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]  # tables ~ table
        words.append(word)
    # sorted: token_sort_ratio is the plain ratio of these, and token_set_ratio ignores order
    return " ".join(sorted(words)) or text.strip().casefold()


def pool_items(items: Sequence[Any], threshold: float = POOL_THRESHOLD) -> list[Pool]:
    """Groups items (Item, storage.PoolingRow: with ref, text, status, user_id, created_at) whose
    texts are near-duplicates; biggest pool first.

    Similarity is the mean of token-sort and token-set ratios of pooling keys. Each item,
    oldest first, joins the pool whose first item (its leader) it resembles most (at least
    `threshold`), else starts a pool: comparing with the pool's first item rather than any
    member keeps chains (理发 ~ 免费理发 ~ 免费体检) apart. Items with the same key share one
    decision, and a key is compared with at most _CANDIDATE_LEADERS leaders (all of them while
    there are that few, else those sharing the most characters or word trigrams with it), so
    the work grows with the number of items, not with its square.
    """
    # oldest first: a pool's leader is its earliest text (already so from storage: cheap)
    ordered = sorted(items, key=lambda item: (item.created_at, item.kind, item.id))
    leaders = _LeaderIndex(threshold)
    leader_of_key: dict[str, int] = {}
    members: list[list[Any]] = []  # per leader, in the order pools were started
    made: dict[str, str] = {}  # keys of items stored without one (made here once per text)
    for item in ordered:
        key = getattr(item, "pool_key", None)
        if key is None:
            key = made.get(item.text) or made.setdefault(item.text, pooling_key(item.text))
        leader = leader_of_key.get(key)
        if leader is None:
            leader = leaders.find_or_add(key)
            if leader == len(members):
                members.append([])
            leader_of_key[key] = leader
        members[leader].append(item)
    pools = []
    for group in members:
        statuses = Counter(member.status for member in group)
        pools.append(
            Pool(
                text=group[0].text,
                refs=[member.ref for member in group],
                residents=len({member.user_id for member in group}),
                statuses=dict(statuses),
            )
        )
    # stable sort: equal pools keep the order of their first item
    pools.sort(key=lambda pool: -pool.count)
    return pools


# Bounds on pooling work: a key is scored against at most _CANDIDATE_LEADERS leaders, found by
# reading at most _POSTINGS_READ entries of the leaders' feature index.
_CANDIDATE_LEADERS = 16
_POSTINGS_READ = 400


def _similarities(key: str, leaders: list[str], threshold: float) -> Any:
    """Pooling similarity (0-100) of `key` to each leader, as a numpy array; a value below
    `threshold` may come out lower than it is (rapidfuzz stops early)."""
    # the mean reaches the threshold only if each half reaches 2 * threshold - 100
    cutoff = max(0.0, 2 * threshold - 100)
    return (
        # the keys' words are sorted: their plain ratio is the token-sort ratio
        process.cdist([key], leaders, scorer=fuzz.ratio, score_cutoff=cutoff)[0]
        + process.cdist([key], leaders, scorer=fuzz.token_set_ratio, score_cutoff=cutoff)[0]
    ) / 2


def _features(key: str) -> set[str]:
    """What a near-duplicate shares with `key`: its Chinese characters and short words, and
    the character trigrams of longer words (cooking ~ cookery)."""
    features = set()
    for token in key.split():
        if len(token) <= 3:
            features.add(token)
        else:
            padded = f" {token} "
            features.update(padded[start : start + 3] for start in range(len(padded) - 2))
    return features


class _LeaderIndex:
    """Pool leaders (distinct keys, numbered oldest first) and, for each feature, the leaders
    that have it."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.keys: list[str] = []
        self.postings: dict[str, list[int]] = {}

    def find_or_add(self, key: str) -> int:
        """The leader `key` resembles most (at least the threshold; the oldest of equals); else
        `key` becomes a leader. Returns the leader's number."""
        features = _features(key)
        candidates = self._candidates(features)
        if candidates:
            scores = _similarities(key, [self.keys[c] for c in candidates], self.threshold)
            best = int(scores.argmax())  # the first of equals: the oldest leader
            if scores[best] >= self.threshold:
                return candidates[best]
        leader = len(self.keys)
        self.keys.append(key)
        for feature in features:
            self.postings.setdefault(feature, []).append(leader)
        return leader

    def _candidates(self, features: set[str]) -> list[int]:
        """Every leader while there are few, else the _CANDIDATE_LEADERS sharing the most
        features with a key (rarest features read first); in leader order."""
        if len(self.keys) <= _CANDIDATE_LEADERS:
            return list(range(len(self.keys)))
        index = self.postings
        postings = sorted((index[feature] for feature in features if feature in index), key=len)
        shared: Counter[int] = Counter()
        budget = _POSTINGS_READ
        for posting in postings:
            if budget <= 0:
                break
            shared.update(posting[:budget] if len(posting) > budget else posting)
            budget -= len(posting)
        if len(shared) <= _CANDIDATE_LEADERS:
            return sorted(shared)
        # most_common's choice (ties: the leader counted first), without building its pairs
        return sorted(heapq.nlargest(_CANDIDATE_LEADERS, shared, key=shared.__getitem__))
