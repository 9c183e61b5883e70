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
        [sys.executable, "-m", "bot.cli", "chat", "--config", str(config), *options],
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
    assert "OK, I will reply in English" in out
    assert "Please choose one:" in out, "letter a pressed the canteen topic button"
    assert "(no choice 9" in out
    assert "Please type your question." in out, "an emoji alone is not saved as a question"
    assert "How to use me:" in out, "an unknown command shows the help"


def test_console_chat_with_a_bad_config_is_one_line(tmp_path: Path):
    (tmp_path / "config.yaml").write_text("storage: [unclosed\n", encoding="utf-8")
    result = chat(tmp_path, ["hello"])
    assert result.returncode == 2
    assert result.stderr.startswith("stationbot: ") and result.stderr.count("\n") == 1
