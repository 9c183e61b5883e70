"""`stationbot chat` driven through its stdin and stdout, as a resident at a terminal would."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from faq.loader import load

UNANSWERABLE = "请问下周三小区停水吗，水管工什么时候来修理"


def chat(tmp_path: Path, lines: list[str], *options: str) -> subprocess.CompletedProcess:
    config = tmp_path / "config.yaml"
    if not config.exists():
        config.write_text(f'storage:\n  path: "{tmp_path / "station.db"}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", "chat", "--config", str(config), *options],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        cwd=tmp_path,
        env=env,
    )


def test_console_chat_answers_saves_and_takes_wishes(tmp_path: Path):
    entry = load().get("canteen.prices")
    result = chat(
        tmp_path,
        [
            entry.questions["zh"][0],
            "1",  # 👍 under the answer
            UNANSWERABLE,
            "/wish 希望开一个书法班",
            "/mine",
            "quit",
            "never read: the chat has ended",
        ],
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert entry.answer["zh"].splitlines()[0] in out
    assert "  1) 👍 有帮助" in out and "  2) 👎 没帮助" in out
    assert "谢谢您的反馈！" in out
    assert "编号 Q0001" in out and "编号 W0001" in out
    assert "a) 🍚 社区食堂" in out, "the big topic buttons are listed"
    with sqlite3.connect(tmp_path / "station.db") as db:
        assert db.execute("SELECT text FROM questions").fetchall() == [(UNANSWERABLE,)]
        assert db.execute("SELECT helpful FROM feedback").fetchall() == [(1,)]
    assert "never read" not in out


def test_console_topic_letters_language_and_bad_input(tmp_path: Path):
    result = chat(tmp_path, ["a", "9", "", "/nonsense", "z", "💥"], "--lang", "en")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    out = result.stdout
    assert out.count("Hello! I am the neighbourhood") == 1, "--lang en greets in English"
    assert "Please choose one:" in out, "letter a pressed the canteen topic button"
    assert "(There is no choice 9" in out
    assert "Please type your question." in out, "an emoji alone is not saved as a question"
    assert "How to use me:" in out, "an unknown command shows the help"


def test_console_chat_with_a_bad_config_is_one_line(tmp_path: Path):
    (tmp_path / "config.yaml").write_text("storage: [unclosed\n", encoding="utf-8")
    result = chat(tmp_path, ["hello"])
    assert result.returncode == 2
    assert result.stderr.startswith("stationbot: ") and result.stderr.count("\n") == 1


def test_console_reads_full_width_digits_and_capital_letters_in_chinese(tmp_path: Path):
    # what a Chinese input method types: "Ａ" for a, "１" for 1; "g" and "7" are no button
    result = chat(tmp_path, ["Ａ", "１", "g", "7", UNANSWERABLE])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "请选一个：" in out and "社区食堂供餐时间" in out
    assert "（没有 g 这个选项" in out and "（没有 7 这个选项" in out
    assert "编号 Q0001" in out and "（已存给工作人员，编号 Q0001" in out
    lines = out.splitlines()[1:]  # after the bilingual banner, a Chinese chat is all Chinese
    assert not [line for line in lines if "saved for staff" in line or "no choice" in line]
    with sqlite3.connect(tmp_path / "station.db") as db:
        assert db.execute("SELECT text FROM questions").fetchall() == [(UNANSWERABLE,)]
