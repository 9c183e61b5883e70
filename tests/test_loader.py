"""Knowledge-base loader: the core format loads, every broken file is named line by line."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faq.loader import FaqError, Problem, bundled_path, check, load, parse_station, question_key
from faq.model import LANGUAGES, Branch, Localized, StationInfo, TimeRange

SHARED = Path(__file__).parents[1].parent / "shared"
REPO = Path(__file__).parents[1]

# the core example of shared/spec/faq-schema.md, verbatim: it must always load
CORE_EXAMPLE = """\
# One YAML file, or a folder of them (entries from all files are merged).
settings:                 # optional, per knowledge base
  answer_threshold: 80    # optional; the project's own defaults apply when absent
  suggest_threshold: 60   # optional
entries:
  - id: canteen.hours               # unique across the whole knowledge base
    category: canteen               # optional; used for browsing menus
    questions:                      # alternate phrasings, per language
      zh: [食堂几点开门, 社区食堂营业时间]
      en: [When does the canteen open?]
    answer:
      zh: 社区食堂每天 7:00 开始供应早餐……
      en: The community canteen serves breakfast from 7:00...
"""

GOOD_ENTRY = """\
  - id: canteen.hours
    questions: {zh: [食堂几点开门], en: [When does the canteen open?]}
    answer: {zh: 七点开门, en: At seven.}
"""

STATION = """\
station:
  timezone: Asia/Shanghai
  hours:
    mon: ["08:30-11:30", "13:00-17:00"]
    tue: ["08:30-11:30"]
    wed: ["08:30-11:30"]
    thu: ["08:30-11:30"]
    fri: ["08:30-11:30"]
    sat: ["09:00-12:00"]
    sun: []
  holiday_hours: []
  closed_dates: ["2025-10-08", 2025-10-09]
  open_dates: []
  canteen:
    meals:
      breakfast: "07:00-09:00"
      lunch: "11:00-13:00"
    menu:
      mon:
        lunch: {zh: [红烧肉, 炒青菜], en: [Braised pork, Stir-fried greens]}
  branches:
    - id: tianbao
      name: {zh: 第一分站（天宝路）, en: "Branch 1 (Tianbao Road)"}
      address: {zh: 虹口区天宝路881号二楼, en: "2F, 881 Tianbao Road"}
      phone: "021-62994399"
      lat: 31.2645
      lon: 121.4935
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def only_problem(path: Path, overlay: Path | None = None) -> str:
    problems = check(path, overlay=overlay)
    assert len(problems) == 1, "\n".join(map(str, problems))
    return str(problems[0])


def assert_names(line: str, file: Path, number: int, entry: str | None, field: str | None) -> None:
    """The one-line message names the file, line, entry id and field."""
    assert "\n" not in line
    assert line.startswith(f"{file}:{number}: "), line
    if entry:
        assert f"entry {entry}:" in line, line
    if field:
        assert f"field '{field}'" in line, line


# --- what loads ------------------------------------------------------------------------------


def test_core_schema_example_loads_as_written(tmp_path: Path) -> None:
    kb = load(write(tmp_path, "faq.yaml", CORE_EXAMPLE))
    entry = kb.get("canteen.hours")
    assert entry is not None
    assert entry.category == "canteen"
    assert entry.questions == {
        "zh": ["食堂几点开门", "社区食堂营业时间"],
        "en": ["When does the canteen open?"],
    }
    assert entry.answer["zh"].startswith("社区食堂每天 7:00")
    assert kb.settings == {"answer_threshold": 80.0, "suggest_threshold": 60.0}
    assert entry.source == f"{tmp_path / 'faq.yaml'}:6"


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared spec not present")
def test_example_in_shared_schema_spec_loads(tmp_path: Path) -> None:
    spec = (SHARED / "spec" / "faq-schema.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", spec, re.S)
    assert example is not None
    assert load(write(tmp_path, "faq.yaml", example[1])).get("canteen.hours") is not None


def test_english_only_knowledge_base_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "kb.yaml", "entries:\n  - id: x\n    questions: {en: [hi]}\n")
    path.write_text(path.read_text() + "    answer: {en: hello}\n", encoding="utf-8")
    assert load(path).get("x").answer == {"en": "hello"}


def test_folder_merges_entries_synonyms_and_station(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "synonyms:\n  食堂: [饭堂]\nentries:\n" + GOOD_ENTRY)
    write(
        tmp_path,
        "b.yaml",
        """\
        synonyms:
          食堂: [饭堂, 食唐]
        entries:
          - id: canteen.menu
            questions: {zh: [今天吃什么]}
            answer: {zh: 红烧肉, en: Braised pork}
        """,
    )
    write(tmp_path, "station.yaml", STATION)
    write(tmp_path, "notes.txt", "not yaml, not read")
    kb = load(tmp_path)
    assert [entry.id for entry in kb.entries] == ["canteen.hours", "canteen.menu"]
    assert kb.synonyms == {"食堂": ["饭堂", "食唐"]}
    assert kb.sources == [str(tmp_path / name) for name in ("a.yaml", "b.yaml", "station.yaml")]
    station = kb.station
    assert isinstance(station, StationInfo)
    assert station.hours["mon"] == (
        TimeRange(dt.time(8, 30), dt.time(11, 30)),
        TimeRange(dt.time(13, 0), dt.time(17, 0)),
    )
    assert station.hours["sun"] == ()
    # unquoted dates too
    assert station.closed_dates == {dt.date(2025, 10, 8), dt.date(2025, 10, 9)}
    assert station.canteen.menu["mon"]["lunch"].en == ("Braised pork", "Stir-fried greens")
    assert [meal.name for meal in station.canteen.meals] == ["breakfast", "lunch"]
    [branch] = station.branches
    assert isinstance(branch, Branch)
    assert branch.lat == pytest.approx(31.2645)
    assert branch.name == Localized(zh="第一分站（天宝路）", en="Branch 1 (Tianbao Road)")
    assert station.source == f"{tmp_path / 'station.yaml'}:1"


def test_station_data_still_reads_like_the_old_mapping(tmp_path: Path) -> None:
    """bot/core.py reads kb.station["branches"][0]["phone"] and .get(...) until it is rewired."""
    kb = load(write(tmp_path, "kb.yaml", STATION + "entries:\n" + GOOD_ENTRY))
    branch = kb.station["branches"][0]
    assert branch["name"]["zh"] == "第一分站（天宝路）"
    assert branch["phone"] == branch.get("phone") == "021-62994399"
    assert kb.station.get("phone") is None
    assert kb.station.get("nonsense", "default") == "default"
    with pytest.raises(KeyError):
        kb.station["nonsense"]


def test_knowledge_base_without_station_data_has_an_empty_one(tmp_path: Path) -> None:
    kb = load(write(tmp_path, "kb.yaml", "entries:\n" + GOOD_ENTRY))
    assert kb.station == StationInfo()
    assert not kb.station
    assert kb.station.get("branches") == ()


def test_parse_station_uses_the_checks_of_faq_check() -> None:
    raw = {"hours": {"mon": ["8:30-11:30"]}}
    with pytest.raises(FaqError, match=r"field 'station\.hours\.tue': missing"):
        parse_station(raw)
    week = {day: ["8:30-11:30"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    station = parse_station({"hours": week})
    assert station.hours["mon"] == (TimeRange(dt.time(8, 30), dt.time(11, 30)),)


@pytest.mark.parametrize(
    ("written", "start", "end"),
    [
        ("08:30-11:30", (8, 30), (11, 30)),
        ("8:30-11:30", (8, 30), (11, 30)),  # no leading zero, as staff write it
        ("8:30 - 11:30", (8, 30), (11, 30)),
        ("8:30–11:30", (8, 30), (11, 30)),  # an en dash from a word processor
        ("８：３０-１１：３０", (8, 30), (11, 30)),  # full-width, from a Chinese keyboard
        ("00:00-23:59", (0, 0), (23, 59)),
    ],
)
def test_time_ranges_staff_write_are_read(
    tmp_path: Path, written: str, start: tuple[int, int], end: tuple[int, int]
) -> None:
    text = STATION.replace('mon: ["08:30-11:30", "13:00-17:00"]', f'mon: ["{written}"]')
    kb = load(write(tmp_path, "kb.yaml", text + "entries:\n" + GOOD_ENTRY))
    assert kb.station.hours["mon"] == (TimeRange(dt.time(*start), dt.time(*end)),)


def test_overlay_adds_taught_questions(tmp_path: Path) -> None:
    kb_file = write(tmp_path, "kb.yaml", "entries:\n" + GOOD_ENTRY)
    overlay = write(
        tmp_path, "overlay.yaml", "teach:\n  canteen.hours: {zh: [饭堂啥辰光开, 食堂几点开门！]}\n"
    )
    kb = load(kb_file, overlay=overlay)
    # the second one is already there once punctuation is ignored
    assert kb.get("canteen.hours").questions["zh"] == ["食堂几点开门", "饭堂啥辰光开"]


def test_missing_or_empty_overlay_is_ignored(tmp_path: Path) -> None:
    kb_file = write(tmp_path, "kb.yaml", "entries:\n" + GOOD_ENTRY)
    assert load(kb_file, overlay=tmp_path / "none.yaml").get("canteen.hours")
    assert load(kb_file, overlay=write(tmp_path, "empty.yaml", "")).get("canteen.hours")


def test_question_key_ignores_width_case_spaces_and_punctuation() -> None:
    assert question_key("食堂 几点开门？") == question_key("食堂几点开门")
    assert question_key("When does the Canteen open?") == question_key("when does the canteen open")
    assert question_key("ＡＢＣ") == question_key("abc")


# --- what is reported ------------------------------------------------------------------------

BROKEN_ENTRIES = [
    # (entries text, line, entry id, field, words the message must contain)
    (
        "  - id: canteen.hours\n    questions: {zh: [a]}\n    anwser: {zh: b}\n",
        4,
        "canteen.hours",
        "anwser",
        "did you mean 'answer'?",
    ),
    (
        "  - questions: {zh: [a]}\n    answer: {zh: b}\n",
        2,
        "#1",
        "id",
        "missing",
    ),
    (
        "  - id: ''\n    questions: {zh: [a]}\n    answer: {zh: b}\n",
        2,
        "#1",
        "id",
        "missing",
    ),
    (
        "  - id: a\n    answer: {zh: b}\n",
        2,
        "a",
        "questions",
        "missing",
    ),
    (
        "  - id: a\n    questions: {zh: [], en: []}\n    answer: {zh: b}\n",
        3,
        "a",
        "questions",
        "at least one",
    ),
    (
        "  - id: a\n    questions: {zh: [a]}\n",
        2,
        "a",
        "answer",
        "missing",
    ),
    (
        "  - id: a\n    questions: {zh: [a]}\n    answer: {zh: '  '}\n",
        4,
        "a",
        "answer.zh",
        "empty",
    ),
    (
        "  - id: a\n    questions: {zh: [a]}\n    answer: {}\n",
        4,
        "a",
        "answer",
        "empty",
    ),
    (
        "  - id: a\n    questions:\n      cn: [a]\n    answer: {zh: b}\n",
        4,
        "a",
        "questions.cn",
        "did you mean 'zh'?",
    ),
    (
        "  - id: a\n    questions:\n      zh: 食堂几点开门\n    answer: {zh: b}\n",
        4,
        "a",
        "questions.zh",
        "got a single text",
    ),
    (
        "  - id: a\n    questions:\n      zh:\n        - ok\n        - 12\n    answer: {zh: b}\n",
        6,
        "a",
        "questions.zh[1]",
        "expected text",
    ),
    (
        "  - id: a\n    questions: [a, b]\n    answer: {zh: b}\n",
        3,
        "a",
        "questions",
        "expected {zh: [...], en: [...]}",
    ),
    (
        "  - id: a\n    questions: {zh: [a]}\n    answer: {zh: b}\n    live: canteen_menus\n",
        5,
        "a",
        "live",
        "did you mean 'canteen_menu'?",
    ),
    (
        "  - id: a\n    questions: {zh: [a]}\n    answer: {zh: b}\n    category: [x]\n",
        5,
        "a",
        "category",
        "expected a word",
    ),
    (
        "  - id: two words\n    questions: {zh: [a]}\n    answer: {zh: b}\n",
        2,
        "two words",
        "id",
        "no spaces",
    ),
    (
        "  - id: a\n    id: b\n    questions: {zh: [a]}\n    answer: {zh: b}\n",
        3,
        "b",
        "id",
        "appears twice",
    ),
    (
        "  - id: a\n    questions: {zh: [a, '？！']}\n    answer: {zh: b}\n",
        3,
        "a",
        "questions.zh[1]",
        "no words",
    ),
]


@pytest.mark.parametrize(("entries", "line", "entry", "field", "words"), BROKEN_ENTRIES)
def test_broken_entry_is_named_in_one_line(
    tmp_path: Path, entries: str, line: int, entry: str, field: str, words: str
) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text("entries:\n" + entries, encoding="utf-8")
    message = only_problem(path)
    assert_names(message, path, line, entry, field)
    assert words in message


BROKEN_FILES = [
    # (file text, line, field, words)
    # an unclosed bracket or quote is reported where it opens, not where the file ends
    ("entries:\n  - id: a\n    questions: {zh: [a]\n", 3, None, "the bracket { opened on this"),
    (
        'entries:\n  - id: "canteen.hours\n    questions: {zh: [a]}\n    answer: {zh: b}\n',
        2,
        None,
        'the quote " opened on this line is not closed',
    ),
    (
        "entries:\n  - id: a\n    questions:\n      zh: [a, b\n      en: [c]\n"
        "    answer: {zh: b}\n",
        4,
        None,
        "add the ]",
    ),
    (
        "entries:\n  - id: a\n    answer: {zh: 'b}\n    questions: {zh: [a]}\n",
        3,
        None,
        "the quote ' opened on this line",
    ),
    (
        "entries:\n  - id: a\n    questions: {zh: [a] en: [b]}\n    answer: {zh: b}\n",
        3,
        None,
        "YAML syntax error",
    ),
    ("entries:\n  - id: a\n    questions: {zh: [a]}\n   answer: {zh: b}\n", 4, None, "YAML"),
    ("entries:\n\t- id: a\n", 2, None, "not tabs"),
    ("- id: a\n", 1, None, "top level is a list"),
    ("entrys:\n" + GOOD_ENTRY, 1, "entrys", "did you mean 'entries'?"),
    ("entries: {id: a}\n", 1, "entries", "expected a list of entries"),
    ("settings:\n  answer_treshold: 80\nentries:\n" + GOOD_ENTRY, 2, None, "'answer_threshold'"),
    ("settings:\n  answer_threshold: 180\nentries:\n" + GOOD_ENTRY, 2, None, "0 to 100"),
    ("settings:\n  answer_threshold: high\nentries:\n" + GOOD_ENTRY, 2, None, "0 to 100"),
    (
        "settings:\n  answer_threshold: 60\n  suggest_threshold: 70\nentries:\n" + GOOD_ENTRY,
        3,
        "settings.suggest_threshold",
        "above answer_threshold",
    ),
    ("synonyms: [饭堂]\nentries:\n" + GOOD_ENTRY, 1, "synonyms", "expected word -> [variants]"),
    ("synonyms:\n  食堂: 饭堂\nentries:\n" + GOOD_ENTRY, 2, "synonyms.食堂", "single text"),
    ("", 1, None, "file is empty"),
]


@pytest.mark.parametrize(("text", "line", "field", "words"), BROKEN_FILES)
def test_broken_file_is_named_in_one_line(
    tmp_path: Path, text: str, line: int, field: str | None, words: str
) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text(text, encoding="utf-8")
    message = only_problem(path)
    assert_names(message, path, line, None, field)
    assert words in message


BROKEN_STATION = [
    # (old text in STATION, new text, line, field, words)
    (
        'mon: ["08:30-11:30", "13:00-17:00"]',
        'mon: ["08:30-11:30", "13:00-12:00"]',
        4,
        "station.hours.mon[1]",
        "swap",
    ),
    (
        'mon: ["08:30-11:30", "13:00-17:00"]',
        'mon: ["8.30-11.30"]',
        4,
        "station.hours.mon[0]",
        "HH:MM-HH:MM",
    ),
    (
        'mon: ["08:30-11:30", "13:00-17:00"]',
        'mon: ["08:30-11:30", "13:00-24:00"]',
        4,
        "station.hours.mon[1]",
        'write "23:59" for "until midnight"',
    ),
    (
        'lunch: "11:00-13:00"',
        'lunch: "11:00-25:00"',
        17,
        "station.canteen.meals.lunch",
        "not a time of day",
    ),
    (
        "      lon: 121.4935\n",
        "      lon: 121.4935\n      streets: 天宝路\n",
        28,
        "station.branches[0].streets",
        "single text",
    ),
    ("  open_dates: []", "  open_dates: []\n  phone: 62994399", 14, "station.phone", "in quotes"),
    (
        'mon: ["08:30-11:30", "13:00-17:00"]',
        'mon: ["10:00-12:00", "11:00-17:00"]',
        4,
        "station.hours.mon[1]",
        "overlaps",
    ),
    (
        'mon: ["08:30-11:30", "13:00-17:00"]',
        'mon: "08:30-11:30"',
        4,
        "station.hours.mon",
        "expected a list",
    ),
    ("    sun: []\n", "    sunday: []\n", 10, "station.hours.sunday", "did you mean 'sun'?"),
    ("    sun: []\n", "", 3, "station.hours.sun", "missing"),
    ("2025-10-09]", "2025-02-30]", 12, "station.closed_dates[1]", "YYYY-MM-DD"),
    (
        'closed_dates: ["2025-10-08"',
        'closed_dates: ["8 Oct"',
        12,
        "station.closed_dates[0]",
        "YYYY-MM-DD",
    ),
    ("timezone: Asia/Shanghai", "timezone: Asia/Shanghia", 2, "station.timezone", "time zone"),
    ('breakfast: "07:00-09:00"', "breakfast: 7-9", 16, "station.canteen.meals.breakfast", "HH:MM"),
    ("        lunch: {zh", "        lunh: {zh", 20, "station.canteen.menu.mon.lunh", "'lunch'"),
    ("[红烧肉, 炒青菜]", "红烧肉", 20, "station.canteen.menu.mon.lunch.zh", "single text"),
    ("lat: 31.2645", "lat: 131.2", 26, "station.branches[0].lat", "-90 to 90"),
    ("lon: 121.4935", "lon: east", 27, "station.branches[0].lon", "-180 to 180"),
    ('phone: "021-62994399"', "phone: 62994399", 25, "station.branches[0].phone", "in quotes"),
    ("      lat: 31.2645\n", "", 22, "station.branches[0].lat", "missing"),
    ("      phone:", "      fone:", 25, "station.branches[0].fone", "did you mean 'phone'?"),
    ("  open_dates: []", "  opening_dates: []", 13, "station.opening_dates", "'open_dates'"),
]


@pytest.mark.parametrize(("old", "new", "line", "field", "words"), BROKEN_STATION)
def test_broken_station_data_is_named_in_one_line(
    tmp_path: Path, old: str, new: str, line: int, field: str, words: str
) -> None:
    assert old in STATION
    path = write(tmp_path, "station.yaml", STATION.replace(old, new) + "entries:\n" + GOOD_ENTRY)
    message = only_problem(path)
    assert_names(message, path, line, None, field)
    assert words in message


def test_station_in_two_files_is_a_problem(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", STATION + "entries:\n" + GOOD_ENTRY)
    second = write(tmp_path, "b.yaml", "station:\n  timezone: Asia/Shanghai\n")
    message = only_problem(tmp_path)
    assert_names(message, second, 1, None, "station")
    assert f"already in {tmp_path / 'a.yaml'}:1" in message


def test_duplicate_id_across_files_names_both_places(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "entries:\n" + GOOD_ENTRY)
    second = write(
        tmp_path, "b.yaml", "entries:\n  - id: canteen.hours\n    questions: {zh: [x]}\n"
    )
    second.write_text(second.read_text() + "    answer: {zh: y}\n", encoding="utf-8")
    message = only_problem(tmp_path)
    assert_names(message, second, 2, "canteen.hours", "id")
    assert f"{tmp_path / 'a.yaml'}:2" in message


def test_same_question_under_two_entries_is_a_problem(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "entries:\n" + GOOD_ENTRY)
    second = write(
        tmp_path,
        "b.yaml",
        """\
        entries:
          - id: canteen.open
            questions:
              zh:
                - 食堂 几点开门？
            answer: {zh: 七点}
        """,
    )
    message = only_problem(tmp_path)
    assert_names(message, second, 5, "canteen.open", "questions.zh[0]")
    assert "also a question of entry canteen.hours" in message
    assert f"{tmp_path / 'a.yaml'}:3" in message


OVERLAYS = [
    # (overlay text, line, entry, field, words)
    (
        "teach:\n  canteen.hour: {zh: [x]}\n",
        2,
        "canteen.hour",
        None,
        "did you mean 'canteen.hours'?",
    ),
    ("teach:\n  canteen.hours: [x]\n", 2, "canteen.hours", "teach.canteen.hours", "expected"),
    ("teach:\n  canteen.hours: {zh: x}\n", 2, "canteen.hours", "teach.canteen.hours.zh", "single"),
    (
        "teach:\n  canteen.hours: {fr: [x]}\n",
        2,
        "canteen.hours",
        "teach.canteen.hours.fr",
        "zh or en",
    ),
    ("teach: [x]\n", 1, None, "teach", "expected entry id"),
    ("taught: {}\n", 1, None, "taught", "allowed keys are teach"),
    (
        "teach:\n  canteen.menu: {zh: [食堂几点开门]}\n",
        2,
        "canteen.menu",
        "teach.canteen.menu.zh[0]",
        "also a question of entry canteen.hours",
    ),
]


@pytest.mark.parametrize(("text", "line", "entry", "field", "words"), OVERLAYS)
def test_broken_overlay_is_named_in_one_line(
    tmp_path: Path, text: str, line: int, entry: str | None, field: str | None, words: str
) -> None:
    menu = (
        "  - id: canteen.menu\n    questions: {zh: [今天吃什么]}\n    answer: {zh: 菜, en: Food}\n"
    )
    kb_file = write(tmp_path, "kb.yaml", "entries:\n" + GOOD_ENTRY + menu)
    overlay = write(tmp_path, "overlay.yaml", text)
    message = only_problem(kb_file, overlay)
    assert_names(message, overlay, line, entry, field)
    assert words in message


def test_every_problem_is_reported_and_nothing_half_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "faq.yaml",
        "entries:\n"
        + GOOD_ENTRY
        + "  - id: b\n    questions: {zh: [b]}\n    anwser: {zh: b}\n"
        + "  - id: c\n    questions: {zh: c}\n    answer: {zh: c}\n",
    )
    with pytest.raises(FaqError) as raised:
        load(path)
    problems = raised.value.problems
    assert [(problem.entry_id, problem.field) for problem in problems] == [
        ("b", "anwser"),
        ("c", "questions.zh"),
    ]
    assert str(raised.value) == "\n".join(str(problem) for problem in problems)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda folder: folder / "missing.yaml", "no such file or folder"),
        (lambda folder: folder, "folder has no .yaml files"),
        (lambda folder: write(folder, "x.yaml", "") and folder / "x.yaml", "file is empty"),
    ],
)
def test_unusable_path_is_one_problem(tmp_path: Path, make, words: str) -> None:
    path = make(tmp_path)
    assert words in only_problem(path)


def test_binary_junk_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "junk.yaml"
    path.write_bytes(b"entries:\n" + bytes(range(256)) * 4)
    message = only_problem(path)
    # the first byte that is not UTF-8 (0x80) comes after the newline inside range(256)
    assert message.startswith(f"{path}:3: ") and "UTF-8" in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "faq.yaml", "entries:\n" + GOOD_ENTRY)
    path.chmod(0)
    assert "cannot read" in only_problem(path)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("azh:-[]{}\n '\"#&*!|>%@`\t?,")))
def test_any_text_loads_or_gives_problems(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        problems = check(path)
    assert all(isinstance(problem, Problem) and "\n" not in str(problem) for problem in problems)


def test_missing_english_answer_is_reported_in_any_folder(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "entries:\n" + GOOD_ENTRY)
    second = write(
        tmp_path,
        "b.yaml",
        """\
        entries:
          - id: canteen.menu
            questions: {zh: [今天吃什么], en: [What is for lunch?]}
            answer:
              zh: 红烧肉
        """,
    )
    message = only_problem(tmp_path)
    assert_names(message, second, 4, "canteen.menu", "answer.en")
    assert "other entries answer in en (e.g. canteen.hours)" in message
    # one file is held to the same rule
    both = write(tmp_path, "both.yaml", "entries:\n" + GOOD_ENTRY + second.read_text()[9:])
    assert_names(only_problem(both), both, 7, "canteen.menu", "answer.en")


def test_knowledge_base_in_one_language_needs_no_other(tmp_path: Path) -> None:
    write(
        tmp_path, "a.yaml", "entries:\n  - id: a\n    questions: {zh: [甲]}\n    answer: {zh: 甲}\n"
    )
    write(
        tmp_path, "b.yaml", "entries:\n  - id: b\n    questions: {zh: [乙]}\n    answer: {zh: 乙}\n"
    )
    assert [entry.id for entry in load(tmp_path).entries] == ["a", "b"]


def test_copy_of_the_bundled_faq_is_checked_like_the_bundled_one(tmp_path: Path) -> None:
    copy = tmp_path / "my-faq"
    copy.mkdir()
    for item in bundled_path().iterdir():
        if item.name.endswith(".yaml"):
            (copy / item.name).write_bytes(item.read_bytes())
    assert check(copy) == []
    canteen = copy / "entries-canteen.yaml"
    text = canteen.read_text(encoding="utf-8")
    english = re.search(r"\n      en: \|-\n(?:        .*\n)+", text)
    assert english is not None
    canteen.write_text(text.replace(english[0], "\n", 1), encoding="utf-8")
    problems = check(copy)
    assert [(p.file, p.field) for p in problems] == [(str(canteen), "answer.en")]


# --- the bundled knowledge base --------------------------------------------------------------


def test_bundled_faq_loads_with_both_languages() -> None:
    # how fast is measured as cold start (docs/benchmarks.md), not by a timed test
    kb = load()
    assert kb.entries
    for entry in kb.entries:
        for language in LANGUAGES:
            assert entry.questions.get(language), (entry.id, language)
            assert entry.answer.get(language), (entry.id, language)
    assert all(source.startswith("faq/data/") for source in kb.sources)


def test_bundled_faq_is_read_as_package_data_not_from_the_source_tree(tmp_path: Path) -> None:
    """Zip the package (as an installed wheel could be) and load the bundled FAQ from it."""
    archive = tmp_path / "faq.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in (REPO / "faq").rglob("*"):
            if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
                zipped.write(path, path.relative_to(REPO).as_posix())
    code = "import faq.loader as l; kb = l.load(); print(l.__file__, len(kb.entries))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(archive)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    where, count = result.stdout.split()
    assert "faq.zip" in where
    assert int(count) == len(load().entries)
    assert bundled_path().joinpath("station.yaml").is_file()
