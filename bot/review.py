"""Active learning for staff (the web console's review page): questions the bot could not
answer and answers residents marked 👎, grouped by similarity, each group with the entry the
matcher suggests, so that staff teach a whole group at once. Also the console's inbox search.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rapidfuzz import fuzz, process

from bot.pooling import POOL_THRESHOLD, pooling_key
from bot.storage import FeedbackRow, InboxPage, Item, Storage
from faq.matcher import Matcher

# The review page groups at most this many of the latest questions and as many 👎 answers
# (a week of a busy station) and shows the biggest MAX_GROUPS groups: grouping and matching
# then stay near 100 ms even with 100,000 stored questions (benchmarks/web.py)
REVIEW_LIMIT = 200
MAX_GROUPS = 40
REVIEW_DAYS = 7
SEARCH_CHARS = 50  # a longer search is cut: LIKE patterns stay cheap


@dataclass
class ReviewGroup:
    """Similar questions and 👎 answers, with the entry the matcher suggests for them."""

    text: str  # the representative (latest) text
    questions: list[Item] = field(default_factory=list)
    unhelpful: list[FeedbackRow] = field(default_factory=list)
    candidates: list[tuple[str, float]] = field(default_factory=list)  # best first

    @property
    def size(self) -> int:
        return len(self.questions) + len(self.unhelpful)

    @property
    def residents(self) -> int:
        return len({q.user_id for q in self.questions} | {f.user_id for f in self.unhelpful})

    @property
    def suggested(self) -> str | None:
        return self.candidates[0][0] if self.candidates else None

    @property
    def refs(self) -> list[str]:
        return [q.ref for q in self.questions]

    @property
    def feedback_ids(self) -> list[int]:
        return [f.id for f in self.unhelpful]

    @property
    def texts(self) -> list[str]:
        """Each distinct phrasing once, in the group's order."""
        return list(
            dict.fromkeys([q.text for q in self.questions] + [f.question for f in self.unhelpful])
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "size": self.size,
            "residents": self.residents,
            "refs": self.refs,
            "feedback_ids": self.feedback_ids,
            "texts": self.texts,
            "suggested": self.suggested,
            "candidates": [[entry_id, score] for entry_id, score in self.candidates[:3]],
        }


@dataclass
class Review:
    days: int
    groups: list[ReviewGroup]
    considered: int  # questions and 👎 answers grouped
    truncated: bool  # more than REVIEW_LIMIT of either: only the latest were grouped


@functools.lru_cache(maxsize=20_000)
def _sorted_keys(text: str) -> tuple[str, str]:
    """The text's pooling key (tokens sorted), and its tokens each once: comparing these with
    a plain ratio is token_sort_ratio, precomputed once per text instead of once per pair
    (what made rapidfuzz's token scorers take a second for 500 texts)."""
    key = pooling_key(text)
    return key, " ".join(sorted(set(key.split())))


def group_texts(texts: list[str], threshold: float = POOL_THRESHOLD) -> list[list[int]]:
    """Indexes of near-duplicate texts, grouped as bot.pooling.pool_items pools wishes: each
    text (in order) joins the group whose first text it resembles most, else starts one.
    Resemblance: the mean of the ratios of sorted tokens and of sorted distinct tokens."""
    if not texts:
        return []
    keys = [_sorted_keys(text) for text in texts]
    ordered = [key[0] for key in keys]
    distinct = [key[1] for key in keys]
    scores = (
        process.cdist(ordered, ordered, scorer=fuzz.ratio, workers=-1)
        + process.cdist(distinct, distinct, scorer=fuzz.ratio, workers=-1)
    ) / 2
    leaders: list[int] = []
    groups: dict[int, list[int]] = {}
    for index in range(len(texts)):
        if leaders:
            similarity = scores[index, leaders]
            best = int(similarity.argmax())
            if similarity[best] >= threshold:
                groups[leaders[best]].append(index)
                continue
        leaders.append(index)
        groups[index] = [index]
    return list(groups.values())


def build_review(
    questions: list[Item],
    unhelpful: list[FeedbackRow],
    matcher: Matcher,
    days: int,
    limit: int,
    matched: dict[str, list[tuple[str, float]]] | None = None,
) -> Review:
    """Groups the rows (newest first as storage gives them), biggest group first, and asks
    the matcher for each group's best entries. A 👎 answer's own entry is never suggested
    back as the best: the resident said it was wrong."""
    rows: list[Item | FeedbackRow] = [*questions, *unhelpful]
    texts = [row.text if isinstance(row, Item) else row.question for row in rows]
    groups = []
    for members in group_texts(texts):
        group = ReviewGroup(text=texts[members[0]])
        for index in members:
            row = rows[index]
            if isinstance(row, Item):
                group.questions.append(row)
            else:
                group.unhelpful.append(row)
        groups.append(group)
    groups.sort(key=lambda group: -group.size)  # stable: equal groups stay newest first
    truncated = len(questions) >= limit or len(unhelpful) >= limit or len(groups) > MAX_GROUPS
    groups = groups[:MAX_GROUPS]
    matched = {} if matched is None else matched  # text -> candidates, kept by the caller
    new = [group.text for group in groups if group.text not in matched]
    for text, result in zip(new, matcher.match_many(new), strict=True):
        matched[text] = result.candidates
    for group in groups:
        rejected = {f.entry_id for f in group.unhelpful}
        group.candidates = [c for c in matched[group.text] if c[0] not in rejected]
    return Review(days, groups, len(rows), truncated)


class ReviewCache:
    """The review page for the last `days` days, grouped again only when its input changed.

    After a change made through the console (invalidate()) the next page waits for the new
    grouping. A change from elsewhere (new questions, Telegram staff) is picked up in the
    background: the page answers at once with the grouping from a moment ago
    (stale-while-revalidate), so a busy station's review stays fast.
    """

    def __init__(self, limit: int = REVIEW_LIMIT, station: str | None = None) -> None:
        self.limit = limit
        self.station = station  # one station's questions and 👎 only; None: every station
        self._key: tuple[Any, ...] | None = None
        self._review: Review | None = None
        self._lock = asyncio.Lock()
        self._dirty = False
        self._refresh: asyncio.Task[None] | None = None
        # what the matcher said for a group's text: only new texts are matched again
        self._matched: dict[str, list[tuple[str, float]]] = {}
        self._matcher_id: int | None = None

    def invalidate(self) -> None:
        """The console changed items: the next page waits for a fresh grouping."""
        self._dirty = True

    async def close(self) -> None:
        if self._refresh is not None and not self._refresh.done():
            self._refresh.cancel()
            with suppress(asyncio.CancelledError):
                await self._refresh

    async def get(self, storage: Storage, matcher: Matcher, days: int = REVIEW_DAYS) -> Review:
        since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
            days=days - 1
        )
        key = (days, id(matcher), *(await storage.review_fingerprint(since)))
        cached = self._review
        same_page = self._key is not None and key[:2] == self._key[:2]  # days and matcher
        if cached is not None and same_page and not self._dirty:
            if key != self._key and (self._refresh is None or self._refresh.done()):
                self._refresh = asyncio.create_task(
                    self._rebuild(storage, matcher, days, since, key)
                )
            return cached
        await self._rebuild(storage, matcher, days, since, key)
        assert self._review is not None
        return self._review

    async def _rebuild(
        self,
        storage: Storage,
        matcher: Matcher,
        days: int,
        since: datetime,
        key: tuple[Any, ...],
    ) -> None:
        async with self._lock:
            if key == self._key and not self._dirty:
                return  # another request rebuilt it meanwhile
            self._dirty = False
            if self._matcher_id != id(matcher) or len(self._matched) > 10_000:
                self._matched, self._matcher_id = {}, id(matcher)
            try:
                questions = await storage.latest_open_questions(
                    since, self.limit, station=self.station
                )
                unhelpful = await storage.unhelpful_answers(since, self.limit, station=self.station)
                self._review = await asyncio.to_thread(
                    build_review, questions, unhelpful, matcher, days, self.limit, self._matched
                )
            except BaseException:
                self._dirty = True  # whoever asks next tries again
                raise
            self._key = key


# --- inbox search -------------------------------------------------------------------------------


@functools.cache
def _converter(config: str) -> Any:
    import opencc  # lazy, as in faq.normalize: loading its dictionaries takes a moment

    return opencc.OpenCC(config)


def _convert(config: str, text: str) -> str:
    return _converter(config).convert(text)


def search_patterns(query: str) -> list[str]:
    """LIKE patterns for a search as typed, in Simplified and in Traditional characters
    (residents write either); SQLite's LIKE already ignores the case of Latin letters."""
    query = " ".join((query or "").split())[:SEARCH_CHARS]
    if not query:
        return []
    variants = dict.fromkeys([query, _convert("t2s", query), _convert("s2t", query)])
    escaped = [v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for v in variants]
    return [f"%{text}%" for text in escaped]


# storage -> (fingerprint, ids); weak: a closed Storage takes its entry with it
_thumbs_down: weakref.WeakKeyDictionary[Storage, tuple[tuple[Any, ...], list[int]]] = (
    weakref.WeakKeyDictionary()
)


async def thumbs_down_ids(storage: Storage) -> list[int]:
    """Storage's thumbs_down_question_ids(), read again only when a question or a 👎 was
    added: the join behind it takes 40 ms with 100,000 questions."""
    key = await storage.thumbs_down_fingerprint()
    cached = _thumbs_down.get(storage)
    if cached is None or cached[0] != key:
        cached = (key, await storage.thumbs_down_question_ids())
        _thumbs_down[storage] = cached
    return cached[1]


async def inbox_page(
    storage: Storage,
    matcher: Matcher,
    *,
    kind: str | None,
    status: str,
    outcome: str | None,
    search: str,
    page: int,
    per_page: int,
    station: str | None = None,
) -> InboxPage:
    """One page of the console's inbox (oldest waiting first), of one station when given."""
    return await storage.inbox_page(
        kind=kind,
        status=status,
        outcome=outcome,
        patterns=search_patterns(search),
        offset=(max(page, 1) - 1) * per_page,
        limit=per_page,
        answer_threshold=matcher.answer_threshold,
        suggest_threshold=matcher.suggest_threshold,
        thumbs_down_ids=await thumbs_down_ids(storage),
        station=station,
    )
