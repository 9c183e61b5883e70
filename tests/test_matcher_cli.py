"""`stationbot match --json` and `stationbot eval`, run as residents' tooling runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

KB = {
    "entries": [
        {
            "id": "canteen.hours",
            "questions": {"zh": ["食堂几点开门"], "en": ["When does the canteen open?"]},
            "answer": {"zh": "7:00", "en": "7:00"},
        },
        {
            "id": "station.address",
            "questions": {"zh": ["驿站在哪里"], "en": ["Where is the station?"]},
            "answer": {"zh": "天宝路", "en": "Tianbao Road"},
        },
    ]
}


def stationbot(*args: str, stdin: bytes = b"", cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        timeout=60,
        env={"PATH": "", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        check=False,
    )


def write_kb(tmp_path: Path) -> Path:
    path = tmp_path / "kb.yaml"
    path.write_text(yaml.safe_dump(KB, allow_unicode=True), encoding="utf-8")
    return path


def test_match_json_prints_one_line_per_non_empty_input_line(tmp_path: Path) -> None:
    lines = [
        "食堂几点开门",
        "",
        "   ",
        '{"q": "not json to us"}',
        "🙂",
        "\x00x",
        "where is the station",
    ]
    stdin = "\n".join(lines).encode() + b"\n\xff\xfe broken utf-8\n"
    done = stationbot(
        "match", "--json", "--faq", str(write_kb(tmp_path)), stdin=stdin, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr.decode()
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    expected = [q for q in lines if q.strip()]
    assert [o["q"] for o in out[:-1]] == expected
    assert len(out) == len(expected) + 1
    assert out[0]["outcome"] == "answer" and out[0]["id"] == "canteen.hours"
    assert out[-2]["id"] == "station.address"
    assert all(set(o) == {"q", "outcome", "id", "suggestions", "score"} for o in out)


def test_match_with_missing_faq_says_so_in_one_line(tmp_path: Path) -> None:
    done = stationbot("match", "--faq", str(tmp_path / "nope.yaml"), stdin=b"x\n", cwd=tmp_path)
    assert done.returncode == 2  # a setup mistake, as for `stationbot run`
    assert done.stdout == b""
    assert b"Traceback" not in done.stderr


def test_match_and_eval_with_a_bad_config_or_faq_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("matching: [not, a, mapping]\n", encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("entries:\n  - id: x\n", encoding="utf-8")
    eval_file = tmp_path / "eval.yaml"
    eval_file.write_text("- {q: 食堂几点开门, expect: canteen.hours}\n", encoding="utf-8")
    for args in (
        ("match", "--config", str(config)),
        ("eval", str(eval_file), "--config", str(config)),
        ("match", "--faq", str(broken)),
        ("eval", str(eval_file), "--faq", str(broken)),
    ):
        done = stationbot(*args, stdin=b"x\n", cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr.decode())
        assert done.stderr.startswith(b"stationbot: ") and b"Traceback" not in done.stderr


def test_match_into_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first answer
    try:
        done = subprocess.run(
            [sys.executable, "-m", "handlers.cli", "match", "--faq", str(write_kb(tmp_path))],
            input="食堂几点开门\n".encode(),
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            timeout=60,
            env={"PATH": "", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            check=False,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, b"")


def test_eval_prints_the_contract_metrics_and_misses(tmp_path: Path) -> None:
    items = [
        {"q": "食堂几点开门", "expect": "canteen.hours"},
        {"q": "驿站在哪里", "expect": "canteen.hours"},
        {"q": "明天下雨吗", "expect": None},
    ]
    eval_file = tmp_path / "eval.yaml"
    eval_file.write_text(yaml.safe_dump(items, allow_unicode=True), encoding="utf-8")
    done = stationbot(
        "eval", str(eval_file), "--faq", str(write_kb(tmp_path)), "--errors", cwd=tmp_path
    )
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert "answer accuracy                 0.500  1/2" in out
    assert "wrong answers                   0.500  1/2" in out
    assert "false answers (out of scope)    0.000  0/1" in out
    assert "驿站在哪里\texpected canteen.hours\tgot answer station.address" in out


def test_eval_rejects_a_malformed_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("q: not a list\n", encoding="utf-8")
    done = stationbot("eval", str(bad), cwd=tmp_path)
    assert done.returncode == 1
    assert len(done.stderr.decode().strip().splitlines()) == 1


def test_match_answers_what_staff_taught_like_the_bot_does(tmp_path: Path) -> None:
    question = "灶披间开伙钟点"  # Shanghainese for "when does the kitchen start cooking"
    (tmp_path / "config.yaml").write_text("storage: {path: bot.db}\n", encoding="utf-8")
    before = stationbot("match", "--json", stdin=question.encode(), cwd=tmp_path)
    assert json.loads(before.stdout)["outcome"] != "answer"

    overlay = {"teach": {"canteen.hours": {"zh": [question]}}}
    (tmp_path / "staff-overlay.yaml").write_text(yaml.safe_dump(overlay, allow_unicode=True))
    after = stationbot("match", "--json", stdin=question.encode(), cwd=tmp_path)
    assert after.returncode == 0, after.stderr.decode()
    result = json.loads(after.stdout)
    assert (result["outcome"], result["id"]) == ("answer", "canteen.hours")
    # a knowledge base given with --faq is matched on its own, without the station's overlay
    (tmp_path / "kb.yaml").write_text(yaml.safe_dump(KB, allow_unicode=True), encoding="utf-8")
    other = stationbot("match", "--json", "--faq", "kb.yaml", stdin=question.encode(), cwd=tmp_path)
    assert other.returncode == 0, other.stderr.decode()


def test_match_reports_a_big_buttons_label_as_the_bot_takes_it(tmp_path: Path):
    """One decision path: a topic button's label opens its topic in the bot, and `match`
    says so; "I want to make a wish" is answered with wish.how in both."""
    labels = ["🍚 社区食堂", "🌟 Make a wish", "我想许个愿"]
    done = stationbot("match", "--json", stdin="\n".join(labels).encode(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    rows = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [(r["outcome"], r["id"]) for r in rows] == [
        ("menu", "category:canteen"),
        ("menu", "wish"),
        ("answer", "wish.how"),
    ]


def test_match_shows_the_second_question_the_bot_offers(tmp_path: Path) -> None:
    done = stationbot("match", stdin="食堂怎么付钱啊还有今天吃什么\n".encode(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert "canteen.payment + canteen.menu" in done.stdout.decode()
