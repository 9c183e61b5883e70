"""`stationbot faq check` and `faq list`: summaries, JSON lines, and no tracebacks."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from handlers import faq_cli

SHARED = Path(__file__).parents[1].parent / "shared"
REPO = Path(__file__).parents[1]

GOOD = """\
entries:
  - id: canteen.hours
    category: canteen
    questions: {zh: [食堂几点开门, 食堂营业时间], en: [When does the canteen open?]}
    answer: {zh: 七点开门, en: At seven.}
  - id: wish.how
    questions: {en: [How do I make a wish?]}
    answer: {zh: 告诉机器人。, en: Tell the bot.}
"""
BROKEN = """\
entries:
  - id: canteen.hours
    questions: {zh: [食堂几点开门]}
    anwser: {zh: 七点}
"""


def stationbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD, encoding="utf-8")
    return path


def test_check_prints_a_summary_and_exits_0(good: Path, capsys: pytest.CaptureFixture) -> None:
    assert faq_cli.check(argparse.Namespace(path=str(good))) == 0
    out = capsys.readouterr().out
    assert out == f"OK: 2 entries (2 zh questions, 2 en questions) from {good}\n"


def test_check_of_broken_file_exits_1_with_each_problem_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = stationbot("faq", "check", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert (
        f"{path}:4: entry canteen.hours: field 'anwser': unknown key; did you mean 'answer'?"
        in result.stderr.splitlines()
    )


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("missing.yaml", None, "no such file or folder"),
        ("empty-folder", "folder", "folder has no .yaml files"),
        ("junk.yaml", os.urandom(2048) + b"\xff\xfe\x00", "not UTF-8"),
        ("deep.yaml", b"[" * 5000, ""),
    ],
)
def test_check_never_shows_a_traceback(
    tmp_path: Path, name: str, content: bytes | str | None, words: str
) -> None:
    path = tmp_path / name
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    result = stationbot("faq", "check", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert words in result.stderr
    assert result.stderr.startswith(str(path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_check_of_unreadable_file_exits_1(good: Path) -> None:
    good.chmod(0)
    result = stationbot("faq", "check", str(good))
    assert result.returncode == 1
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr


def test_bundled_faq_passes_check() -> None:
    result = stationbot("faq", "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: ")
    assert "faq/data/" in result.stdout


def test_check_of_a_folder_reports_a_missing_english_answer(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        "entries:\n  - id: canteen.menu\n    questions: {zh: [今天吃啥]}\n"
        "    answer: {zh: 红烧肉}\n",
        encoding="utf-8",
    )
    result = stationbot("faq", "check", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{tmp_path / 'b.yaml'}:4: entry canteen.menu: field 'answer.en': missing; "
        "other entries answer in en (e.g. canteen.hours), so add it here too",
        "1 problem found",
    ]


def test_check_names_the_line_of_an_unclosed_quote(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        'entries:\n  - id: "canteen.hours\n    questions: {zh: [a]}\n    answer: {zh: b}\n',
        encoding="utf-8",
    )
    result = stationbot("faq", "check", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path}:2: YAML syntax error: the quote")


def test_check_rejects_24_00_and_accepts_8_30(tmp_path: Path) -> None:
    station = (REPO / "faq" / "data" / "station.yaml").read_text(encoding="utf-8")
    assert 'mon: ["08:30-11:30", "13:00-17:00"]' in station
    (tmp_path / "entries.yaml").write_text(GOOD, encoding="utf-8")
    path = tmp_path / "station.yaml"
    path.write_text(station.replace('"08:30-11:30", "13:00-17:00"]', '"8:30-11:30"]'), "utf-8")
    assert stationbot("faq", "check", str(tmp_path)).returncode == 0
    path.write_text(station.replace('"13:00-17:00"]', '"13:00-24:00"]', 1), "utf-8")
    result = stationbot("faq", "check", str(tmp_path))
    assert result.returncode == 1
    line = next(n for n, text in enumerate(station.splitlines(), 1) if "mon: [" in text)
    assert result.stderr.splitlines()[0] == (
        f"{path}:{line}: field 'station.hours.mon[1]': '13:00-24:00': the day ends at 23:59; "
        'write "23:59" for "until midnight"'
    )


def test_faq_format_guide_shows_what_check_prints(tmp_path: Path) -> None:
    guide = (REPO / "docs" / "faq-format.md").read_text(encoding="utf-8")
    # the summary of the bundled FAQ, figures included
    result = stationbot("faq", "check")
    summary = result.stdout.split(" from ")[0]
    documented = re.findall(r"^OK: .* from faq/data/entries-aid\.yaml, \.\.\.$", guide, re.M)
    assert documented == [f"{summary} from faq/data/entries-aid.yaml, ..."]
    # the syntax error example: an unclosed bracket on line 4
    example = re.search(
        r"^faq/data/entries-canteen\.yaml:(\d+): YAML syntax error: .*$", guide, re.M
    )
    assert example is not None
    broken = tmp_path / "entries-canteen.yaml"
    broken.write_text(
        "entries:\n  - id: canteen.hours\n    questions:\n      zh: [食堂几点开门, 食堂几点开饭\n"
        "      en: [When does the canteen open?]\n    answer: {zh: 七点, en: Seven.}\n",
        encoding="utf-8",
    )
    printed = stationbot("faq", "check", str(broken)).stderr.splitlines()[0]
    assert printed.replace(str(broken), "faq/data/entries-canteen.yaml") == example[0]


def test_faq_format_guide_problem_example_is_what_check_prints(tmp_path: Path) -> None:
    guide = (REPO / "docs" / "faq-format.md").read_text(encoding="utf-8")
    block = guide.split("Nothing is loaded until all are fixed:")[1].split("```")[1]
    documented = block.strip().splitlines()
    # the file the guide describes: line 19 `- 食堂几点开门: 早上`, line 43 `anwser:`
    lines = ["# Canteen: meal times, menu, prices.", *["#"] * 5, "entries:"]
    lines += ["  - id: canteen.hours", "    category: canteen", "    live: canteen_hours"]
    lines += ["    questions:", "      zh:", *[f"        - 食堂问题{n}" for n in range(6)]]
    lines += ["        - 食堂几点开门: 早上", "      en:"]
    lines += [f"        - Canteen question {n}?" for n in range(len(lines), 42)]
    lines += ["    anwser:", "      zh: 七点", "      en: Seven."]
    path = tmp_path / "entries-canteen.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert lines[18] == "        - 食堂几点开门: 早上" and lines[42] == "    anwser:"
    printed = stationbot("faq", "check", str(path)).stderr.replace(
        str(path), "faq/data/entries-canteen.yaml"
    )
    assert printed.splitlines() == documented


def test_list_json_has_one_object_per_entry(good: Path, capsys: pytest.CaptureFixture) -> None:
    assert faq_cli.list_entries(argparse.Namespace(faq=str(good), json=True)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "食堂几点开门" in lines[0]  # not \u escapes
    assert [json.loads(line) for line in lines] == [
        {
            "id": "canteen.hours",
            "category": "canteen",
            "questions": {
                "zh": ["食堂几点开门", "食堂营业时间"],
                "en": ["When does the canteen open?"],
            },
            "answer": {"zh": "七点开门", "en": "At seven."},
        },
        {
            "id": "wish.how",
            "category": None,
            "questions": {"zh": [], "en": ["How do I make a wish?"]},
            "answer": {"zh": "告诉机器人。", "en": "Tell the bot."},
        },
    ]


def test_list_table_shows_id_category_and_first_question(
    good: Path, capsys: pytest.CaptureFixture
) -> None:
    assert faq_cli.list_entries(argparse.Namespace(faq=str(good), json=False)) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[1] == ["canteen.hours", "canteen", "食堂几点开门"]
    assert rows[2][:2] == ["wish.how", "-"]  # no zh question: the first one there is


def test_list_of_broken_knowledge_base_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = stationbot("faq", "list", "--faq", str(path), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "anwser" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(not (SHARED / "spec" / "faq-topics.yaml").is_file(), reason="no shared spec")
def test_bundled_faq_covers_every_topic_in_both_languages() -> None:
    topics = yaml.safe_load((SHARED / "spec" / "faq-topics.yaml").read_text(encoding="utf-8"))
    result = stationbot("faq", "list", "--json")
    assert result.returncode == 0, result.stderr
    entries = {item["id"]: item for item in map(json.loads, result.stdout.splitlines())}
    missing = sorted(set(topics) - set(entries))
    assert not missing, f"topics without an entry: {missing}"
    for topic in topics:
        entry = entries[topic]
        for language in ("zh", "en"):
            assert entry["questions"][language], (topic, language)
            assert entry["answer"][language].strip(), (topic, language)
