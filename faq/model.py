"""Plain data types of a loaded knowledge base and of one match decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

LANGUAGES = ("zh", "en")

Outcome = Literal["answer", "suggest", "none"]


@dataclass(frozen=True)
class Entry:
    """One FAQ entry: alternate questions and an answer per language."""

    id: str
    questions: dict[str, list[str]]
    answer: dict[str, str]
    category: str | None = None
    keywords: dict[str, list[str]] = field(default_factory=dict)
    live: str | None = None  # name of a live answer ("opening_hours", "canteen_menu", ...)
    source: str = ""  # "file:line" where the entry starts, for messages to staff

    def first_question(self, language: str) -> str:
        """The first question in `language`, else in the other language ("" if none): what
        lists and buttons show for the entry."""
        texts = self.questions.get(language) or next(
            (texts for texts in self.questions.values() if texts), []
        )
        return texts[0] if texts else ""


@dataclass
class KnowledgeBase:
    """Every entry of one or more YAML files, plus settings, synonyms and station data."""

    entries: list[Entry]
    settings: dict[str, float] = field(default_factory=dict)
    # canonical word -> variants residents type instead (饭堂 -> 食堂)
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    # structured station data (hours, holidays, canteen menu, branches); see docs/faq-format.md
    station: dict[str, Any] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def get(self, entry_id: str) -> Entry | None:
        return self._by_id().get(entry_id)

    def _by_id(self) -> dict[str, Entry]:
        cache = self.__dict__.get("_index")
        if cache is None or len(cache) != len(self.entries):
            cache = {entry.id: entry for entry in self.entries}
            self.__dict__["_index"] = cache
        return cache


@dataclass(frozen=True)
class MatchResult:
    """What the matcher decided for one message (see shared matching contract)."""

    query: str
    outcome: Outcome
    id: str | None
    suggestions: list[str]
    score: float  # best candidate's score, 0..100
    candidates: list[tuple[str, float]] = field(default_factory=list)  # best first, for staff

    def as_json(self) -> dict[str, Any]:
        return {
            "q": self.query,
            "outcome": self.outcome,
            "id": self.id,
            "suggestions": list(self.suggestions),
            "score": round(float(self.score), 1),
        }
