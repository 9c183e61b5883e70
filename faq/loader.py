"""Load and validate a knowledge base from YAML: a file, a folder, or the bundled faq/data/.

Every problem names its file, line, entry id and field and says what to change; a broken
knowledge base never half-loads (FaqError lists all problems at once).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import difflib
import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from faq.model import (
    LANGUAGES,
    WEEKDAYS,
    Branch,
    Canteen,
    Entry,
    KnowledgeBase,
    Localized,
    Meal,
    StationInfo,
    TimeRange,
)

TOP_KEYS = ("settings", "synonyms", "entries", "station")
ENTRY_KEYS = ("id", "category", "questions", "answer", "keywords", "live")
SETTINGS_KEYS = ("answer_threshold", "suggest_threshold", "coverage_strictness")
LIVE_NAMES = ("opening_hours", "canteen_hours", "canteen_menu", "branches", "branch_address")
OVERLAY_KEYS = ("teach",)
STATION_KEYS = (
    "timezone",
    "hours",
    "holiday_hours",
    "closed_dates",
    "open_dates",
    "canteen",
    "branches",
    "phone",
)
CANTEEN_KEYS = ("meals", "menu")
BRANCH_KEYS = ("id", "name", "address", "phone", "lat", "lon", "note", "streets")
# what one station of a district may set for itself (config `stations:`); the rest is shared
SITE_DATA_KEYS = ("hours", "holiday_hours", "closed_dates", "open_dates", "canteen")
YAML_SUFFIXES = (".yaml", ".yml")
# ids travel in Telegram callback data (64 bytes at most, with a short prefix)
MAX_ID_BYTES = 48

# what people write instead of zh / en
_LANGUAGE_ALIASES = {
    "cn": "zh",
    "chs": "zh",
    "zh-cn": "zh",
    "zh_cn": "zh",
    "zh-hans": "zh",
    "zh-tw": "zh",
    "zh-hant": "zh",
    "chinese": "zh",
    "中文": "zh",
    "eng": "en",
    "en-us": "en",
    "en-gb": "en",
    "en_us": "en",
    "english": "en",
    "英文": "en",
}
# 08:30-11:30; also 8:30-11:30 and 8:30 – 11:30 as staff write them (after NFKC: 8：30 too)
_TIME_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–—~至]\s*(\d{1,2}):(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a knowledge-base file, and what to change."""

    file: str
    line: int | None
    entry_id: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}" if self.line else self.file]
        if self.entry_id:
            parts.append(f"entry {self.entry_id}")
        if self.field:
            parts.append(f"field '{self.field}'")
        parts.append(self.message)
        # a key or value may hold a line break; the problem must stay on one line
        return ": ".join(parts).replace("\n", "\\n")


class FaqError(Exception):
    """A knowledge base that cannot be used; `problems` lists everything wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


# --- YAML that remembers line numbers -------------------------------------------------------


class LineDict(dict):
    """A YAML mapping that knows its own line and the line of each key."""

    __slots__ = ("key_lines", "line")

    def key_line(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A YAML sequence that knows its own line and the line of each item."""

    __slots__ = ("item_lines", "line")

    def item_line(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader (libyaml when available) building LineDict / LineList."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicate_keys: list[tuple[Any, int, int]] = []  # key, line, first line


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> Iterable[LineDict]:
    data = LineDict()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=False)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                "found a key that is not text",
                key_node.start_mark,
            )
        line = key_node.start_mark.line + 1
        if key in data.key_lines:
            loader.duplicate_keys.append((key, line, data.key_lines[key]))
        data.key_lines[key] = line
        data[key] = loader.construct_object(value_node, deep=False)


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> Iterable[LineList]:
    data = LineList()
    data.line = node.start_mark.line + 1
    data.item_lines = [child.start_mark.line + 1 for child in node.value]
    yield data
    data.extend(loader.construct_object(child, deep=False) for child in node.value)


def _construct_timestamp(loader: _LineLoader, node: yaml.ScalarNode) -> dt.date | str:
    # PyYAML raises a bare ValueError for 2025-02-30; keep the text so that the check of the
    # field it is in reports it by name
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return node.value


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def read_yaml(text: str, file: str) -> tuple[Any, list[Problem]]:
    """Parse one YAML document into LineDict/LineList values; syntax errors become Problems."""
    loader = _LineLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        line, message = _yaml_problem(error, text.splitlines())
        return None, [Problem(file, line, None, None, message)]
    except yaml.YAMLError as error:  # reader errors (control characters) carry no mark
        return None, [Problem(file, None, None, None, f"not readable as YAML: {error}")]
    except RecursionError:
        return None, [Problem(file, None, None, None, "nested too deeply to be a FAQ file")]
    finally:
        loader.dispose()
    problems = [
        Problem(file, line, None, str(key), f"key appears twice (first on line {first}); keep one")
        for key, line, first in loader.duplicate_keys
    ]
    return data, problems


_CLOSING = {'"': '"', "'": "'", "[": "]", "{": "}"}


def _yaml_problem(error: yaml.MarkedYAMLError, lines: list[str]) -> tuple[int | None, str]:
    """The line to fix and what to do, for a YAML error.

    PyYAML notices an unclosed quote or bracket only where the text runs out (often the end
    of the file); the line to fix is where it opened, which is the error's context mark.
    """

    def line_of(mark: Any) -> int | None:
        # a mark at the very end of the text is one line past the last
        return min(mark.line + 1, max(len(lines), 1)) if mark is not None else None

    problem_line, context_line = line_of(error.problem_mark), line_of(error.context_mark)
    problem = error.problem or error.context or "invalid YAML"
    if isinstance(error, yaml.constructor.ConstructorError):
        return problem_line or context_line, f"cannot read this value: {problem}"
    context = error.context or ""
    opened = ""
    if error.context_mark is not None and context_line is not None:
        source = lines[context_line - 1] if context_line <= len(lines) else ""
        column = error.context_mark.column
        opened = source[column] if column < len(source) else ""
    unclosed = ("quoted scalar" in context or "flow " in context) and opened in _CLOSING
    if (
        unclosed
        and error.problem_mark is not None
        and error.problem_mark.line != error.context_mark.line
    ):
        closing = _CLOSING[opened]
        what = "quote" if opened in "\"'" else "bracket"
        at_end = error.problem_mark.line >= len(lines) or "end of stream" in problem
        reached = "the end of the file" if at_end else f"line {problem_line}"
        return context_line, (
            f"YAML syntax error: the {what} {opened} opened on this line is not closed "
            f"(YAML reached {reached} looking for its {closing}); add the {closing}"
        )
    line = problem_line or context_line
    source_line = lines[line - 1] if line and line <= len(lines) else ""
    message = f"YAML syntax error: {problem}"
    if "\t" in source_line[: len(source_line) - len(source_line.lstrip())]:
        return line, message + "; indent with spaces, not tabs"
    if "mapping values are not allowed" in problem:
        return line, message + "; put text containing ': ' in quotes, or fix the indentation"
    return line, message + "; check the indentation and quotes on this line and the one before"


# --- small checks ----------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (empty)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, dt.date):
        return "a date"
    return type(value).__name__


def _close_key(key: Any, allowed: Iterable[str]) -> str | None:
    """The allowed key that `key` is probably a typo of."""
    allowed = list(allowed)
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    # "saturday" is too far from "sat" for difflib but plainly meant it
    close = close or [name for name in allowed if str(key).casefold().startswith(name)]
    return close[0] if close else None


def _unknown_key(key: Any, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = _close_key(key, allowed)
    if close:
        return f"unknown key; did you mean '{close}'?"
    return f"unknown key; allowed keys are {', '.join(allowed)}"


def _language_hint(key: Any) -> str:
    text = str(key).strip().casefold()
    guess = _LANGUAGE_ALIASES.get(text) or next(
        iter(difflib.get_close_matches(text, LANGUAGES, n=1, cutoff=0.4)), None
    )
    hint = f"; did you mean '{guess}'?" if guess else ""
    return f"unknown language; use zh or en{hint}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def question_key(text: str) -> str:
    """Comparison key for alternate questions: NFKC, casefolded, no spaces or punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(
        char
        for char in text
        if not char.isspace() and not unicodedata.category(char).startswith("P")
    )


def _valid_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


# --- the loader ------------------------------------------------------------------------------


@dataclass
class _Source:
    name: str  # shown in messages and in Entry.source
    read: Callable[[], bytes]


class _Builder:
    """Collects entries and problems file by file, then builds the KnowledgeBase.

    `file` and `entry` say where the checks currently are, so every Problem names them.
    """

    def __init__(self, *, both_languages: bool) -> None:
        self.both_languages = both_languages
        self.file = ""
        self.entry: str | None = None
        self.problems: list[Problem] = []
        self.entries: list[Entry] = []
        self.entry_places: dict[str, str] = {}  # id -> "file:line"
        self.answer_places: dict[str, tuple[str, int]] = {}  # id -> (file, line of `answer:`)
        self.question_owner: dict[str, tuple[str, str]] = {}  # key -> (entry id, "file:line")
        self.settings: dict[str, float] = {}
        self.setting_places: dict[str, tuple[str, int]] = {}
        self.synonyms: dict[str, list[str]] = {}
        self.station = StationInfo()
        self.station_place: str | None = None
        self.sources: list[str] = []

    def problem(self, line: int | None, field: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, line, self.entry, field, message))

    def unknown_keys(self, mapping: LineDict, allowed: tuple[str, ...], prefix: str = "") -> None:
        for key in mapping:
            if key not in allowed:
                self.problem(mapping.key_line(key), f"{prefix}{key}", _unknown_key(key, allowed))

    # files

    def read_source(self, source: _Source, *, empty_ok: bool = False) -> LineDict | None:
        """Text of one file parsed to a top-level mapping, or None (after recording why not)."""
        self.file, self.entry = source.name, None
        try:
            raw = source.read()
        except OSError as error:
            self.problem(None, None, f"cannot read: {error.strerror or error}")
            return None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            byte = raw[error.start]
            self.problem(line, None, f"not UTF-8 text (byte 0x{byte:02x}); save it as UTF-8")
            return None
        data, problems = read_yaml(text, source.name)
        self.problems.extend(problems)
        if data is None:
            if not problems and not empty_ok:
                self.problem(1, None, "file is empty; add an `entries:` list")
            return None
        if not isinstance(data, dict):
            expected = "expected keys such as `entries:` and `settings:`"
            self.problem(getattr(data, "line", 1), None, f"top level is {_kind(data)}; {expected}")
            return None
        return data

    def add_file(self, source: _Source) -> None:
        self.sources.append(source.name)
        before = len(self.problems)
        data = self.read_source(source)
        if data is None:
            return
        self.name_entries(self.problems, before, data)
        self.unknown_keys(data, TOP_KEYS)
        if "settings" in data:
            self.add_settings(data["settings"], data.key_line("settings"))
        if "synonyms" in data:
            self.add_synonyms(data["synonyms"], data.key_line("synonyms"))
        if "station" in data:
            self.add_station(data["station"], data.key_line("station"))
        entries = data.get("entries")
        if isinstance(entries, list):
            for index, raw in enumerate(entries):
                self.add_entry(raw, entries.item_line(index), index)
        elif entries is not None:
            got = _kind(entries)
            self.problem(
                data.key_line("entries"),
                "entries",
                f"expected a list of entries, each starting with '- id:', got {got}",
            )

    @staticmethod
    def name_entries(problems: list[Problem], start: int, data: LineDict) -> None:
        """Add entry ids to problems found while parsing (keys that appear twice)."""
        entries = data.get("entries")
        if not isinstance(entries, list) or not entries:
            return
        first = data.key_line("entries")
        last = min((line for line in data.key_lines.values() if line > first), default=None)
        for index in range(start, len(problems)):
            line = problems[index].line
            if line is None or line <= first or (last is not None and line >= last):
                continue
            position = bisect.bisect_right(entries.item_lines, line) - 1
            if position < 0:
                continue
            raw = entries[position]
            entry_id = raw.get("id") if isinstance(raw, dict) else None
            label = entry_id if isinstance(entry_id, str) else f"#{position + 1}"
            problems[index] = dataclasses.replace(problems[index], entry_id=label)

    # settings and synonyms

    def add_settings(self, raw: Any, line: int) -> None:
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.problem(line, "settings", f"expected a mapping, got {_kind(raw)}")
            return
        self.unknown_keys(raw, SETTINGS_KEYS, "settings.")
        for key, value in raw.items():
            key_line = raw.key_line(key)
            field = f"settings.{key}"
            if key not in SETTINGS_KEYS or value is None:
                continue
            if not _is_number(value) or not 0 <= value <= 100:
                scale = "the score scale of `stationbot match`"
                self.problem(
                    key_line, field, f"expected a number from 0 to 100 ({scale}), got {value!r}"
                )
            elif key in self.setting_places:
                first_file, first_line = self.setting_places[key]
                self.problem(key_line, field, f"already set in {first_file}:{first_line}; keep one")
            else:
                self.settings[key] = float(value)
                self.setting_places[key] = (self.file, key_line)

    def add_synonyms(self, raw: Any, line: int) -> None:
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.problem(line, "synonyms", f"expected word -> [variants], got {_kind(raw)}")
            return
        for word, variants in raw.items():
            key_line = raw.key_line(word)
            field = f"synonyms.{word}"
            if not isinstance(word, str) or not word.strip():
                self.problem(key_line, field, "the word must be text; put it in quotes")
                continue
            texts = self.text_list(field, variants, key_line, "variants")
            if texts is not None:
                merged = self.synonyms.setdefault(word.strip(), [])
                merged.extend(text for text in texts if text not in merged)

    # shapes shared by entries, station and overlay

    def text_list(self, field: str, raw: Any, line: int, what: str) -> list[str] | None:
        """A list of non-empty strings, or None after recording what is wrong."""
        if isinstance(raw, str):
            self.problem(
                line,
                field,
                f"expected a list of {what}, got a single text; "
                f"write it as [{raw.strip()}] or as lines starting with '- '",
            )
            return None
        if not isinstance(raw, list):
            self.problem(line, field, f"expected a list of {what}, got {_kind(raw)}")
            return None
        texts = []
        for index, item in enumerate(raw):
            if not isinstance(item, str):
                got = _kind(item)
                self.problem(
                    raw.item_line(index), f"{field}[{index}]", f"expected text, got {got}; quote it"
                )
            elif not item.strip():
                self.problem(raw.item_line(index), f"{field}[{index}]", "empty; remove this item")
            else:
                texts.append(item.strip())
        return texts if len(texts) == len(raw) else None

    def language_map(self, field: str, raw: Any, line: int, example: str) -> LineDict | None:
        """The zh/en part of a mapping (other keys are recorded as problems), or None."""
        if not isinstance(raw, dict):
            self.problem(line, field, f"expected {example}, got {_kind(raw)}")
            return None
        known = LineDict((key, value) for key, value in raw.items() if key in LANGUAGES)
        known.line, known.key_lines = raw.line, raw.key_lines
        for key in raw:
            if key not in LANGUAGES:
                self.problem(raw.key_line(key), f"{field}.{key}", _language_hint(key))
        return known

    def text_by_language(self, field: str, raw: Any, line: int) -> dict[str, str] | None:
        """{zh: text, en: text} with at least one language, or None after recording why not."""
        mapping = self.language_map(field, raw, line, "{zh: ..., en: ...}")
        if mapping is None:
            return None
        result = {}
        for language, text in mapping.items():
            key_line = mapping.key_line(language)
            if not isinstance(text, str):
                self.problem(key_line, f"{field}.{language}", f"expected text, got {_kind(text)}")
            elif not text.strip():
                self.problem(key_line, f"{field}.{language}", "empty; write it or remove the line")
            else:
                result[language] = text.strip()
        if not raw:
            self.problem(line, field, "empty; give it in zh or en")
        if self.both_languages:
            for language in LANGUAGES:
                if language not in mapping:
                    self.problem(line, f"{field}.{language}", "the bundled FAQ needs it; add it")
        return result if result and len(result) == len(mapping) else None

    # entries

    def add_entry(self, raw: Any, line: int, index: int) -> None:
        self.entry = f"#{index + 1}"
        if not isinstance(raw, dict):
            self.problem(line, None, f"expected an entry (id, questions, answer), got {_kind(raw)}")
            return
        before = len(self.problems)
        entry_id = self.entry_id(raw)
        if entry_id is not None:
            self.entry_places[entry_id] = f"{self.file}:{line}"
        self.unknown_keys(raw, ENTRY_KEYS)
        # `anwser:` already says what to change; "answer missing" on top would be noise
        misspelt = {_close_key(key, ENTRY_KEYS) for key in raw if key not in ENTRY_KEYS}
        questions = self.question_lists(raw, "questions", required="questions" not in misspelt)
        keywords = self.question_lists(raw, "keywords", required=False)
        answer = None
        if raw.get("answer") is not None:
            answer = self.text_by_language("answer", raw["answer"], raw.key_line("answer"))
        elif "answer" not in misspelt:
            self.problem(
                raw.key_line("answer"), "answer", "missing; add `answer: {zh: ..., en: ...}`"
            )
        category = raw.get("category")
        if category is not None and (not isinstance(category, str) or not category.strip()):
            got = _kind(category)
            self.problem(raw.key_line("category"), "category", f"expected a word, got {got}")
        live = raw.get("live")
        if live is not None and live not in LIVE_NAMES:
            close = difflib.get_close_matches(str(live), LIVE_NAMES, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(LIVE_NAMES)}"
            self.problem(raw.key_line("live"), "live", f"unknown live answer; {hint}")
        if entry_id is None or questions is None:
            return
        if not self.claim_questions(raw["questions"], questions) or len(self.problems) > before:
            return
        self.answer_places[entry_id] = (self.file, raw.key_line("answer"))
        self.entries.append(
            Entry(
                id=entry_id,
                questions=questions,
                answer=answer or {},
                category=category.strip() if category else None,
                keywords=keywords or {},
                live=live,
                source=self.entry_places[entry_id],
            )
        )

    def entry_id(self, raw: LineDict) -> str | None:
        value = raw.get("id")
        line = raw.key_line("id")
        if value is None or (isinstance(value, str) and not value.strip()):
            self.problem(line, "id", "missing; add a unique `id:` such as canteen.hours")
            return None
        if not isinstance(value, str):
            self.problem(line, "id", f"the id must be text, got {_kind(value)}; quote it")
            return None
        self.entry = value
        if any(char.isspace() for char in value) or len(value.encode()) > MAX_ID_BYTES:
            self.problem(
                line,
                "id",
                f"an id has no spaces and at most {MAX_ID_BYTES} bytes (it goes into buttons); "
                "use something like canteen.hours",
            )
            return None
        if value in self.entry_places:
            self.problem(
                line, "id", f"duplicate id, also at {self.entry_places[value]}; rename one"
            )
            return None
        return value

    def question_lists(
        self, raw: LineDict, field: str, *, required: bool
    ) -> dict[str, list[str]] | None:
        line = raw.key_line(field)
        if raw.get(field) is None:
            if required:
                self.problem(line, field, f"missing; add `{field}: {{zh: [...], en: [...]}}`")
            return None
        mapping = self.language_map(field, raw[field], line, "{zh: [...], en: [...]}")
        if mapping is None:
            return None
        result: dict[str, list[str]] = {}
        for language, items in mapping.items():
            # `en:` left empty means "none yet", like `en: []`
            texts = self.text_list(
                f"{field}.{language}", items or [], mapping.key_line(language), field
            )
            if texts is not None:
                result[language] = texts
        if len(result) < len(raw[field]):
            return None
        if required and not any(result.values()):
            self.problem(line, field, "no questions; give at least one in zh or en")
            return None
        if required and self.both_languages:
            for language in LANGUAGES:
                if not result.get(language):
                    self.problem(
                        line, f"{field}.{language}", "the bundled FAQ needs some; add them"
                    )
        return result

    def claim_questions(
        self, raw: LineDict, questions: dict[str, list[str]], prefix: str = "questions"
    ) -> bool:
        """Register each question's key; a question already under another entry is a problem."""
        ok = True
        for language, texts in questions.items():
            items = raw[language]
            for index, text in enumerate(texts):
                line = items.item_line(index) if isinstance(items, list) else raw.line
                field = f"{prefix}.{language}[{index}]"
                key = question_key(text)
                if not key:
                    self.problem(line, field, "the question has no words; write a real question")
                    ok = False
                    continue
                owner, place = self.question_owner.setdefault(
                    key, (self.entry, f"{self.file}:{line}")
                )
                if owner != self.entry:
                    self.problem(
                        line,
                        field,
                        f"{text!r} is also a question of entry {owner} ({place}); "
                        "keep it under one entry only",
                    )
                    ok = False
        return ok

    # station: checked and built into faq.model.StationInfo in one pass

    def add_station(self, raw: Any, line: int) -> None:
        if self.station_place is not None:
            where = self.station_place
            self.problem(line, "station", f"station data is already in {where}; keep one")
            return
        self.station_place = f"{self.file}:{line}"
        if not isinstance(raw, dict):
            self.problem(line, "station", f"expected a mapping, got {_kind(raw)}")
            return
        before = len(self.problems)
        self.unknown_keys(raw, STATION_KEYS, "station.")
        values = self.station_values(raw, "station.")
        if len(self.problems) == before:
            self.station = StationInfo(
                **{key: value for key, value in values.items() if value is not None},
                source=self.station_place,
            )

    def station_values(self, raw: LineDict, prefix: str) -> dict[str, Any]:
        """The station keys of `raw` (hours, canteen ...) checked and typed."""
        checks: dict[str, Callable[[str, Any, int], Any]] = {
            "timezone": self.timezone,
            "hours": self.week_hours,
            "holiday_hours": self.time_ranges,
            "closed_dates": self.dates,
            "open_dates": self.dates,
            "canteen": self.canteen,
            "branches": self.branches,
            "phone": self.phone,
        }
        return {
            key: checks[key](f"{prefix}{key}", value, raw.key_line(key))
            for key, value in raw.items()
            if key in checks
        }

    def timezone(self, field: str, value: Any, line: int) -> str | None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            self.problem(line, field, f"unknown time zone {value!r}; use e.g. Asia/Shanghai")
            return None
        return value

    def phone(self, field: str, value: Any, line: int) -> str | None:
        if isinstance(value, str) and value.strip():
            return value.strip()
        self.problem(
            line, field, f'expected text such as "021-62994399" (in quotes), got {_kind(value)}'
        )
        return None

    def time_ranges(self, field: str, value: Any, line: int) -> tuple[TimeRange, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            example = '["08:30-11:30", "13:00-17:00"] ([] = closed)'
            self.problem(line, field, f"expected a list such as {example}, got {_kind(value)}")
            return ()
        spans: list[TimeRange] = []
        for index, item in enumerate(value):
            item_line = value.item_line(index)
            span = self.time_range(f"{field}[{index}]", item, item_line)
            if span is None:
                continue
            if spans and span.start < spans[-1].end:
                self.problem(
                    item_line, f"{field}[{index}]", "overlaps the range before; list them in order"
                )
            spans.append(span)
        return tuple(spans)

    def time_range(self, field: str, value: Any, line: int) -> TimeRange | None:
        """ "08:30-11:30" (or 8:30-11:30, 8:30 – 11:30) as a TimeRange, or None after a problem."""
        text = unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else ""
        match = _TIME_RANGE.match(text)
        if match is None:
            example = '"HH:MM-HH:MM" such as "08:30-11:30" in quotes'
            self.problem(line, field, f"expected {example}, got {value!r}")
            return None
        if "24:00" in (f"{int(match[1])}:{match[2]}", f"{int(match[3])}:{match[4]}"):
            self.problem(
                line, field, f'{value!r}: the day ends at 23:59; write "23:59" for "until midnight"'
            )
            return None
        try:
            start = dt.time(int(match[1]), int(match[2]))
            end = dt.time(int(match[3]), int(match[4]))
        except ValueError:
            self.problem(line, field, f"{value!r} is not a time of day; use 00:00 to 23:59")
            return None
        if start >= end:
            self.problem(line, field, f"{value!r} ends before it starts; swap the times")
            return None
        return TimeRange(start, end)

    def week_hours(self, field: str, value: Any, line: int) -> Mapping[str, tuple[TimeRange, ...]]:
        if not isinstance(value, dict):
            self.problem(line, field, f"expected one line per weekday mon..sun, got {_kind(value)}")
            return MappingProxyType({})
        self.unknown_keys(value, WEEKDAYS, f"{field}.")
        misspelt = {_close_key(day, WEEKDAYS) for day in value if day not in WEEKDAYS}
        for day in WEEKDAYS:
            if day not in value and day not in misspelt:
                self.problem(line, f"{field}.{day}", f"missing; add `{day}: []` if closed that day")
        return MappingProxyType(
            {
                day: self.time_ranges(f"{field}.{day}", value[day], value.key_line(day))
                for day in WEEKDAYS
                if day in value
            }
        )

    def dates(self, field: str, value: Any, line: int) -> frozenset[dt.date]:
        if value is None:
            return frozenset()
        if not isinstance(value, list):
            self.problem(line, field, f'expected a list such as ["2025-10-08"], got {_kind(value)}')
            return frozenset()
        days = set()
        for index, item in enumerate(value):
            if isinstance(item, dt.date) and not isinstance(item, dt.datetime):
                days.add(item)
            elif isinstance(item, str) and _DATE.match(item) and _valid_date(item):
                days.add(dt.date.fromisoformat(item))
            else:
                self.problem(
                    value.item_line(index),
                    f"{field}[{index}]",
                    f'expected a date "YYYY-MM-DD" such as "2025-10-08", got {item!r}',
                )
        return frozenset(days)

    def canteen(self, field: str, value: Any, line: int) -> Canteen | None:
        if not isinstance(value, dict):
            self.problem(line, field, f"expected `meals:` and `menu:`, got {_kind(value)}")
            return None
        self.unknown_keys(value, CANTEEN_KEYS, f"{field}.")
        meals: list[Meal] = []
        raw_meals = value.get("meals")
        if raw_meals is not None and not isinstance(raw_meals, dict):
            self.problem(
                value.key_line("meals"),
                f"{field}.meals",
                f'expected meal -> "HH:MM-HH:MM" (lunch: "11:00-13:00"), got {_kind(raw_meals)}',
            )
        elif raw_meals:
            for meal, span in raw_meals.items():
                hours = self.time_range(f"{field}.meals.{meal}", span, raw_meals.key_line(meal))
                if hours is not None:
                    meals.append(Meal(str(meal), hours))
        menu = value.get("menu")
        known_meals = list(raw_meals) if isinstance(raw_meals, dict) else []
        return Canteen(
            meals=tuple(sorted(meals, key=lambda meal: meal.hours)),
            menu=self.menu(f"{field}.menu", menu, value.key_line("menu"), known_meals),
        )

    def menu(
        self, field: str, raw: Any, line: int, meals: list[str]
    ) -> Mapping[str, Mapping[str, Localized[tuple[str, ...]]]]:
        """weekday -> meal -> {zh: [dishes], en: [dishes]} (read-only)"""
        shape = "{zh: [dishes], en: [dishes]}"
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(line, field, f"expected weekday -> meal -> {shape}, got {_kind(raw)}")
            return {}
        self.unknown_keys(raw, WEEKDAYS, f"{field}.")
        menu: dict[str, dict[str, Localized[tuple[str, ...]]]] = {}
        for day, day_menu in raw.items():
            if day not in WEEKDAYS:
                continue
            if not isinstance(day_menu, dict):
                got = _kind(day_menu)
                self.problem(
                    raw.key_line(day), f"{field}.{day}", f"expected meal -> {shape}, got {got}"
                )
                continue
            menu[day] = {}
            for meal, dishes in day_menu.items():
                meal_field = f"{field}.{day}.{meal}"
                meal_line = day_menu.key_line(meal)
                if meal not in meals:
                    close = difflib.get_close_matches(str(meal), meals, n=1, cutoff=0.6)
                    hint = f"did you mean '{close[0]}'?" if close else "add it to canteen.meals"
                    self.problem(meal_line, meal_field, f"not a meal of canteen.meals; {hint}")
                    continue
                by_language = self.language_map(meal_field, dishes, meal_line, shape)
                if by_language is None:
                    continue
                lists = {
                    language: self.text_list(
                        f"{meal_field}.{language}", items, by_language.key_line(language), "dishes"
                    )
                    for language, items in by_language.items()
                }
                menu[day][str(meal)] = Localized(
                    **{language: tuple(items) for language, items in lists.items() if items}
                )
        return MappingProxyType({day: MappingProxyType(meals) for day, meals in menu.items()})

    def branches(self, field: str, value: Any, line: int) -> tuple[Branch, ...]:
        if not isinstance(value, list):
            self.problem(
                line, field, f"expected a list of branches ('- id: ...'), got {_kind(value)}"
            )
            return ()
        branches = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(value):
            item_field = f"{field}[{index}]"
            if not isinstance(raw, dict):
                got = _kind(raw)
                self.problem(value.item_line(index), item_field, f"expected a branch, got {got}")
                continue
            branch = self.branch(item_field, raw)
            branch_id = raw.get("id")
            if isinstance(branch_id, str) and branch_id.strip() in seen:
                self.problem(
                    raw.key_line("id"),
                    f"{item_field}.id",
                    f"duplicate branch id {branch_id.strip()!r} (also line "
                    f"{seen[branch_id.strip()]}); rename one",
                )
            elif isinstance(branch_id, str):
                seen[branch_id.strip()] = raw.key_line("id")
            if branch is not None:
                branches.append(branch)
        return tuple(branches)

    def branch(self, field: str, raw: LineDict) -> Branch | None:
        before = len(self.problems)
        self.unknown_keys(raw, BRANCH_KEYS, f"{field}.")
        for key in ("id", "name", "address", "lat", "lon"):
            if key not in raw:
                self.problem(raw.line, f"{field}.{key}", "missing; add it")
        branch: dict[str, Any] = {}
        for key, value in raw.items():
            line = raw.key_line(key)
            if key == "id":
                if isinstance(value, str) and value.strip():
                    branch[key] = value.strip()
                else:
                    got = _kind(value)
                    self.problem(line, f"{field}.id", f"expected text such as tianbao, got {got}")
            elif key == "phone":
                branch[key] = self.phone(f"{field}.phone", value, line)
            elif key in ("name", "address", "note"):
                text = self.text_by_language(f"{field}.{key}", value, line)
                branch[key] = Localized(**text) if text else None
            elif key == "streets":
                streets = self.text_list(f"{field}.streets", value, line, "street names")
                branch[key] = tuple(streets or ())
            elif key in ("lat", "lon"):
                limit = 90 if key == "lat" else 180
                if _is_number(value) and -limit <= value <= limit:
                    branch[key] = float(value)
                else:
                    self.problem(
                        line,
                        f"{field}.{key}",
                        f"expected decimal degrees from -{limit} to {limit}, got {value!r}",
                    )
        if len(self.problems) > before:
            return None
        return Branch(**branch)

    def add_station_faq(self, path: Path) -> None:
        """One station's entries on top of the shared ones: same id replaces, new id adds."""
        sources, problem = _sources(path)
        if problem is not None:
            self.problems.append(problem)
            return
        shared = set(self.entry_places)  # an id twice among the station's own is a problem
        for source in sources:
            data = self.read_source(source)
            if data is None:  # what is wrong with it is recorded
                continue
            entries = data.get("entries")
            for raw in entries if isinstance(entries, list) else []:
                entry_id = raw.get("id") if isinstance(raw, dict) else None
                if isinstance(entry_id, str) and entry_id in shared:
                    shared.discard(entry_id)
                    self.release_entry(entry_id)
            self.add_file(source)

    def release_entry(self, entry_id: str) -> None:
        """Forgets a shared entry (and its questions) that a station's own replaces."""
        self.entries = [entry for entry in self.entries if entry.id != entry_id]
        self.entry_places.pop(entry_id, None)
        self.answer_places.pop(entry_id, None)
        self.question_owner = {
            key: owner for key, owner in self.question_owner.items() if owner[0] != entry_id
        }

    def check_answer_languages(self) -> None:
        """Every entry answers in each language that any entry answers in.

        A knowledge base of one's own may be Chinese-only or English-only, but one that answers
        in English somewhere must do so everywhere: a resident who chose English would
        otherwise get some answers in Chinese. (The bundled FAQ is checked more strictly, entry
        by entry, for questions too.)
        """
        if self.both_languages:
            return
        for language in LANGUAGES:
            example = next((e.id for e in self.entries if e.answer.get(language)), None)
            if example is None:
                continue
            for entry in self.entries:
                if not entry.answer.get(language):
                    self.file, line = self.answer_places[entry.id]
                    self.entry = entry.id
                    self.problem(
                        line,
                        f"answer.{language}",
                        f"missing; other entries answer in {language} (e.g. {example}), "
                        "so add it here too",
                    )

    # overlay and result

    def add_overlay(self, path: Path) -> None:
        """Add the staff overlay's taught questions to their entries."""

        def read() -> bytes:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return b""

        # a missing or empty overlay just means nothing has been taught yet
        data = self.read_source(_Source(str(path), read), empty_ok=True)
        if data is None:
            return
        self.unknown_keys(data, OVERLAY_KEYS)
        teach = data.get("teach")
        if teach is None:
            return
        if not isinstance(teach, dict):
            self.problem(
                data.key_line("teach"),
                "teach",
                f"expected entry id -> {{zh: [...], en: [...]}}, got {_kind(teach)}",
            )
            return
        by_id = {entry.id: index for index, entry in enumerate(self.entries)}
        for entry_id, raw in teach.items():
            self.entry = str(entry_id)
            line = teach.key_line(entry_id)
            if entry_id not in by_id:
                close = difflib.get_close_matches(str(entry_id), list(by_id), n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else "see `stationbot faq list`"
                self.problem(line, f"teach.{entry_id}", f"no such FAQ entry; {hint}")
            elif raw is not None:
                self.teach(by_id[entry_id], raw, line)

    def teach(self, index: int, raw: Any, line: int) -> None:
        mapping = self.language_map(f"teach.{self.entry}", raw, line, "{zh: [...], en: [...]}")
        if mapping is None:
            return
        entry = self.entries[index]
        questions = {language: list(texts) for language, texts in entry.questions.items()}
        taught: dict[str, list[str]] = {}
        for language, items in mapping.items():
            field = f"teach.{self.entry}.{language}"
            texts = self.text_list(field, items or [], mapping.key_line(language), "questions")
            if texts is None:
                continue
            known = {question_key(text) for text in questions.get(language, [])}
            questions.setdefault(language, []).extend(
                text for text in texts if question_key(text) not in known
            )
            taught[language] = texts
        if self.claim_questions(mapping, taught, f"teach.{self.entry}"):
            self.entries[index] = dataclasses.replace(entry, questions=questions)

    def result(self) -> KnowledgeBase:
        answer = self.settings.get("answer_threshold")
        suggest = self.settings.get("suggest_threshold")
        if answer is not None and suggest is not None and suggest > answer:
            self.file, line = self.setting_places["suggest_threshold"]
            self.entry = None
            self.problem(
                line,
                "settings.suggest_threshold",
                f"{suggest:g} is above answer_threshold {answer:g}; make it lower or equal",
            )
        if not self.entries and not self.problems:
            self.file, self.entry = ", ".join(self.sources), None
            self.problem(None, "entries", "no entries; add an `entries:` list")
        if self.problems:
            # file by file, top to bottom, as staff read them (the overlay comes last)
            rank = {name: index for index, name in enumerate(self.sources)}
            self.problems.sort(key=lambda p: (rank.get(p.file, len(rank)), p.line or 0))
            raise FaqError(self.problems)
        return KnowledgeBase(
            entries=self.entries,
            settings=self.settings,
            synonyms=self.synonyms,
            station=self.station,
            sources=self.sources,
        )


# --- public functions ------------------------------------------------------------------------


def bundled_path() -> Traversable:
    """The folder of the bundled knowledge base (faq/data/ inside the installed package)."""
    return resources.files("faq").joinpath("data")


def _is_yaml(name: str) -> bool:
    return name.endswith(YAML_SUFFIXES) and not name.startswith(".")


def _sources(path: str | Path | None) -> tuple[list[_Source], Problem | None]:
    if path is None:
        folder = bundled_path()
        items = sorted(
            (item for item in folder.iterdir() if _is_yaml(item.name)), key=lambda item: item.name
        )
        sources = [_Source(f"faq/data/{item.name}", item.read_bytes) for item in items]
        if not sources:
            return [], Problem("faq/data", None, None, None, "the bundled FAQ has no YAML files")
        return sources, None
    path = Path(path)
    try:
        if path.is_dir():
            files = sorted(item for item in path.iterdir() if _is_yaml(item.name))
            if not files:
                return [], Problem(str(path), None, None, None, "folder has no .yaml files")
            return [_Source(str(item), item.read_bytes) for item in files], None
        if path.exists():
            return [_Source(str(path), path.read_bytes)], None
    except OSError as error:
        return [], Problem(str(path), None, None, None, f"cannot read: {error.strerror or error}")
    return [], Problem(str(path), None, None, None, "no such file or folder")


def load(
    path: str | Path | None = None,
    *,
    overlay: str | Path | None = None,
    station_faq: str | Path | None = None,
) -> KnowledgeBase:
    """Load a knowledge base: the bundled FAQ when `path` is None, else a YAML file or folder.

    `station_faq` (a file or folder of entries) is one station's own on top: an entry with a
    shared entry's id replaces it, others are added. `overlay` is the staff overlay
    (questions taught to entries); a missing file is ignored. Raises FaqError listing every
    problem.
    """
    sources, problem = _sources(path)
    if problem is not None:
        raise FaqError([problem])
    builder = _Builder(both_languages=path is None)
    for source in sources:
        builder.add_file(source)
    if station_faq is not None and not builder.problems:
        builder.add_station_faq(Path(station_faq))
    builder.check_answer_languages()
    if overlay is not None and not builder.problems:
        builder.add_overlay(Path(overlay))
    return builder.result()


def check(path: str | Path | None = None, *, overlay: str | Path | None = None) -> list[Problem]:
    """Every problem in a knowledge base (empty when it loads)."""
    try:
        load(path, overlay=overlay)
    except FaqError as error:
        return error.problems
    return []


def parse_station(raw: Any, file: str = "<station>") -> StationInfo:
    """Station data given as a plain mapping (the value of `station:`) -> StationInfo, by the
    same checks as `faq check`. Raises FaqError listing every problem."""
    text = yaml.safe_dump({"station": raw}, allow_unicode=True, sort_keys=False)
    builder = _Builder(both_languages=False)
    builder.file = file
    data, problems = read_yaml(text, file)
    builder.problems.extend(problems)
    if isinstance(data, dict):
        builder.add_station(data["station"], data.key_line("station"))
    if builder.problems:
        raise FaqError(builder.problems)
    return builder.station


def parse_site(
    raw: LineDict, file: str, field: str, extra_keys: tuple[str, ...] = ()
) -> tuple[Branch, dict[str, Any]]:
    """One station of a district as a config file writes it (`stations:` item): where it is
    (the keys of a branch: id, name, address, phone, lat, lon, streets, note) and its own
    hours, holidays and canteen (SITE_DATA_KEYS; left out = shared). Checked as `faq check`
    checks station.yaml, problems naming `file`, the line and `field`; `extra_keys` are the
    caller's to read. Raises FaqError."""
    builder = _Builder(both_languages=False)
    builder.file = file
    builder.unknown_keys(raw, (*BRANCH_KEYS, *SITE_DATA_KEYS, *extra_keys), f"{field}.")
    place = LineDict({key: value for key, value in raw.items() if key in BRANCH_KEYS})
    place.line, place.key_lines = raw.line, raw.key_lines
    branch = builder.branch(field, place)
    data = LineDict({key: value for key, value in raw.items() if key in SITE_DATA_KEYS})
    data.line, data.key_lines = raw.line, raw.key_lines
    values = builder.station_values(data, f"{field}.")
    if builder.problems or branch is None:
        raise FaqError(builder.problems)
    return branch, {key: value for key, value in values.items() if value is not None}


def write_core(kb: KnowledgeBase, path: Path, *, header: str = "") -> None:
    """Writes `kb` (settings, entries) in the core format that `stationbot match --faq` reads."""
    data = {
        "settings": dict(kb.settings),
        "entries": [
            {
                "id": entry.id,
                "questions": {lang: qs for lang, qs in entry.questions.items() if qs},
                "answer": entry.answer,
            }
            for entry in kb.entries
        ],
    }
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    path.write_text(
        comment + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000),
        encoding="utf-8",
    )
