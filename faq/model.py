"""Plain data types of a loaded knowledge base and of one match decision, and the pure
functions over station data that both the matcher and the live answers may use (which branch
a question names)."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any, Generic, Literal, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

LANGUAGES = ("zh", "en")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

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
    # structured station data (hours, holidays, canteen menu, branches); see docs/faq-format.md.
    # Empty (false) when no file has a `station:` section.
    station: StationInfo = field(default_factory=lambda: StationInfo())
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
    # a second question the message asks, answered outright with this entry: the bot offers
    # it as a button (not in the JSON of `stationbot match`, whose keys the contract fixes)
    also: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "q": self.query,
            "outcome": self.outcome,
            "id": self.id,
            "suggestions": list(self.suggestions),
            "score": round(float(self.score), 1),
        }


# --- station data (faq/data/station.yaml), parsed once by faq.loader ---------------------------

T = TypeVar("T")


class _ReadsLikeADict:
    """Compatibility: `info["branches"]` and `info.get("phone")` read the attribute of that name,
    as when station data was a plain dict (bot/core.py still reads it that way). New code
    should use the attributes."""

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str) or key not in {f.name for f in dataclasses.fields(self)}:  # type: ignore[arg-type]
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            value = self[key]
        except KeyError:
            return default
        return default if value is None else value


@dataclass(frozen=True)
class Localized(_ReadsLikeADict, Generic[T]):
    """One value per language (a name, an address, a list of dishes)."""

    zh: T | None = None
    en: T | None = None

    def pick(self, language: str) -> T | None:
        """The value in `language`, else in the other language."""
        first, second = (self.en, self.zh) if language == "en" else (self.zh, self.en)
        return first if first is not None else second


class TimeRange(NamedTuple):
    """Opening hours or a meal time, start included, end excluded ("08:30-11:30")."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class Meal:
    name: str  # the key in station.yaml: breakfast, lunch, dinner
    hours: TimeRange


@dataclass(frozen=True)
class Canteen(_ReadsLikeADict):
    meals: tuple[Meal, ...] = ()  # earliest first
    # weekday (mon..sun) -> meal name -> dishes per language
    menu: Mapping[str, Mapping[str, Localized[tuple[str, ...]]]] = field(default_factory=dict)

    def meal(self, name: str) -> Meal | None:
        return next((meal for meal in self.meals if meal.name == name), None)


@dataclass(frozen=True)
class Branch(_ReadsLikeADict):
    """One 市民驿站 branch."""

    id: str
    name: Localized[str]
    address: Localized[str]
    lat: float
    lon: float
    phone: str | None = None
    note: Localized[str] | None = None
    # the streets residents name it by (新港路, Xingang Road)
    streets: tuple[str, ...] = ()


@dataclass(frozen=True)
class StationInfo(_ReadsLikeADict):
    """The `station:` section: what the live answers compute with."""

    timezone: str = "Asia/Shanghai"
    # weekday (mon..sun) -> opening hours, earliest first; () = closed that day
    hours: Mapping[str, tuple[TimeRange, ...]] = field(default_factory=dict)
    holiday_hours: tuple[TimeRange, ...] = ()  # on statutory holidays; () = closed
    closed_dates: frozenset[date] = frozenset()
    open_dates: frozenset[date] = frozenset()
    canteen: Canteen = field(default_factory=Canteen)
    branches: tuple[Branch, ...] = ()
    phone: str | None = None  # the station's own contact number, if not a branch's
    source: str = ""  # "file:line" of `station:`
    # in a district of several stations: the branch that is this station (its address is
    # "where is the station"); None = one station, the written answer gives the address
    home: str | None = None

    def __bool__(self) -> bool:
        """False when there is nothing to compute with (no `station:` section)."""
        return bool(self.hours or self.canteen.meals or self.canteen.menu or self.branches)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # checked by the loader; ZoneInfo caches it

    def branch(self, branch_id: str) -> Branch | None:
        return next((branch for branch in self.branches if branch.id == branch_id), None)


def _place_key(text: str) -> str:
    """Comparison key for street names: NFKC, casefolded, no spaces or punctuation, Rd = Road."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\b(rd|road)\b\.?", "road", text)
    return "".join(char for char in text if char.isalnum())


# what follows a street name when it names the subdistrict (嘉兴路街道), not the street
_SUBDISTRICT = ("街道", "subdistrict")


def branch_named_in(station: StationInfo, text: str) -> Branch | None:
    """The branch whose street `text` names (新港路的驿站在哪 -> the 新港路 branch), else None.
    When several are named, the one named first. 嘉兴路街道 names the subdistrict, not a street."""
    key = _place_key(text)
    found: list[tuple[int, Branch]] = []
    for branch in station.branches:
        for street in branch.streets:
            street_key = _place_key(street)
            position = key.find(street_key) if street_key else -1
            while position >= 0 and key.startswith(_SUBDISTRICT, position + len(street_key)):
                position = key.find(street_key, position + 1)
            if position >= 0:
                found.append((position, branch))
    return min(found, key=lambda pair: pair[0])[1] if found else None


# a Chinese street: a name, then 路 / 街 / 大道; not 走路, 马路, 路线, 路过, 街道, 逛街 ...
_ZH_STREET = re.compile(
    r"(?![走马迷带问顺一小大岔近弯引让开领铁公水陆网出道思心套在半来回家前逛上条])"
    r"[\u4e00-\u9fff](?:路|大道|街)(?![线过口费人子面况径道])"
)
_EN_STREET = re.compile(
    r"\b(?!(?:the|which|this|that|a|an|by|on|in|at|to|from|of|main|what|same|my|your|our"
    r"|one|high|busy|ring)\b)"
    r"[a-z]+ (?:road|rd|street|st|avenue|ave|lu)\b",
    re.IGNORECASE,
)


def names_a_street(text: str) -> bool:
    """True when `text` seems to name a street (株洲路, Zhuzhou Road), whether or not a branch
    is there. A guess: callers use it only to choose between one branch and the list."""
    text = unicodedata.normalize("NFKC", text)
    return bool(_ZH_STREET.search(text) or _EN_STREET.search(text))
