"""`stationbot inbox / reply / resolve / wishes / stats / export / teach` on a staff PC."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml
from fake_telegram import TOKEN, running_bot

from bot.storage import Storage
from handlers.cli import main


def write_config(tmp_path: Path, *, token: str | None = TOKEN, base_url: str = "") -> Path:
    telegram = {"token": token} if token else {}
    if base_url:
        telegram["base_url"] = base_url
    config = {"storage": {"path": str(tmp_path / "station.db")}, "staff": {"user_ids": [900]}}
    if telegram:
        config["telegram"] = telegram
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


async def seed(tmp_path: Path) -> None:
    async with Storage.open(tmp_path / "station.db") as storage:
        await storage.touch_resident(7, display_name="王阿姨", language="zh")
        await storage.save_question(7, 7, "饭堂礼拜天开伐", [("canteen.hours", 55.0)])
        await storage.save_wish(8, 8, "希望开个烹饪课")
        await storage.save_wish(9, 9, "烹饪课！")


@pytest.fixture
async def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("STATIONBOT_TOKEN", raising=False)
    monkeypatch.delenv("STATIONBOT_CONFIG", raising=False)
    await seed(tmp_path)
    return write_config(tmp_path)


async def run(*argv: str) -> int:
    # the commands run their own event loop, so they go to a thread beside the test's loop
    return await asyncio.to_thread(main, list(argv))


async def test_inbox_json_is_one_object_per_line_newest_first(config: Path, capsys):
    assert await run("inbox", "--json", "--config", str(config)) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [json.loads(line) for line in lines]
    assert {row["ref"] for row in rows} == {"Q0001", "W0001", "W0002"}
    assert set(rows[0]) == {"ref", "kind", "text", "status", "user_id", "channel", "created_at"}
    assert "饭堂礼拜天开伐" in "\n".join(lines)  # not \u escapes


async def test_inbox_text_shows_name_and_age(config: Path, capsys):
    assert await run("inbox", "--config", str(config)) == 0
    out = capsys.readouterr().out
    assert "Q0001  question" in out and "王阿姨: 饭堂礼拜天开伐" in out


async def test_reply_is_queued_and_the_running_bot_delivers_it(
    config: Path, tmp_path: Path, capsys
):
    path = write_config(tmp_path, token=None)  # a staff PC needs no token
    assert await run("reply", "q1", "礼拜天也开", "--config", str(path)) == 0
    assert "Q0001: queued for 王阿姨 on telegram, now answered" in capsys.readouterr().out
    async with running_bot(tmp_path) as (fake, _):  # the bot, on the same database
        [sent] = await fake.wait_for(lambda: fake.sent(7), timeout=10, what="the delivery")
    assert "礼拜天也开" in sent.text and "「饭堂礼拜天开伐」" in sent.text and "Q0001" in sent.text
    async with Storage.open(tmp_path / "station.db") as storage:
        item = await storage.get_item("Q0001")
        assert item.status == "answered" and item.replies[0].actor == "cli:cli"


async def test_wish_status_from_the_pc_tells_the_resident(config: Path, tmp_path: Path, capsys):
    assert await run("wish_status", "W1", "accepted", "下个月开班", "--config", str(config)) == 0
    assert "W0001: accepted (resident told)" in capsys.readouterr().out
    async with Storage.open(tmp_path / "station.db") as storage:
        [told] = await storage.due_messages()
        assert "下个月开班" in told.payload and told.address == "8"
    assert await run("wish_status", "Q1", "done", "--config", str(config)) == 1
    assert "not a wish" in capsys.readouterr().err


async def test_reading_commands_never_create_an_empty_database(tmp_path: Path, capsys):
    path = write_config(tmp_path)
    (tmp_path / "station.db").unlink(missing_ok=True)
    for command in ("inbox", "wishes", "stats"):
        assert await run(command, "--config", str(path)) == 1
        assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "station.db").exists()


async def test_an_empty_inbox_says_so(tmp_path: Path, capsys):
    path = write_config(tmp_path)
    async with Storage.open(tmp_path / "station.db"):
        pass
    assert await run("inbox", "--config", str(path)) == 0
    assert capsys.readouterr().out == "inbox empty: no open questions or wishes\n"
    assert await run("wishes", "--config", str(path)) == 0
    assert capsys.readouterr().out == "no wishes\n"


async def test_resolve_and_unknown_reference(config: Path, capsys):
    assert await run("resolve", "Q1", "phoned her", "--config", str(config)) == 0
    assert "Q0001: resolved" in capsys.readouterr().out
    assert await run("resolve", "Q77", "--config", str(config)) == 1
    assert capsys.readouterr().err == "stationbot: no question or wish Q0077\n"


async def test_wishes_pooled(config: Path, capsys):
    assert await run("wishes", "--json", "--config", str(config)) == 0
    [pool] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (pool["text"], pool["count"], pool["residents"]) == ("希望开个烹饪课", 2, 2)


async def test_stats_json(config: Path, capsys):
    assert await run("stats", "--json", "--days", "3", "--config", str(config)) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["days"], figures["saved_for_staff"], figures["wishes"]) == (3, 1, 2)


async def test_export_csv_file(config: Path, tmp_path: Path, capsys):
    target = tmp_path / "out.csv"
    assert await run("export", "--csv", str(target), "--config", str(config)) == 0
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [row["text"] for row in rows] == ["饭堂礼拜天开伐", "希望开个烹饪课", "烹饪课！"]
    assert f"{target}: 3 rows" in capsys.readouterr().out


async def test_export_to_a_missing_folder_names_the_file_not_a_temporary(
    config: Path, tmp_path: Path, capsys
):
    target = tmp_path / "nonexistent" / "x.csv"
    assert await run("export", "--csv", str(target), "--config", str(config)) == 1
    assert capsys.readouterr().err == (
        f"stationbot: cannot write {target}: the folder {target.parent} does not exist\n"
    )


def unprintable(text: str) -> list[str]:
    """Control and format characters (escape codes, C1 controls, bidi overrides) but newlines."""
    return [c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf")]


async def test_inbox_and_wishes_never_print_control_characters(
    config: Path, tmp_path: Path, capsys
):
    # rows saved before input was cleaned go straight into storage
    question = "停水\x1b]0;pwned\x07\x1b[2J找谁\u202e\x9b"
    wish = "\x1b[31m想学做菜" + "很" * 5000
    async with Storage.open(tmp_path / "station.db") as storage:
        await storage.touch_resident(10, display_name="李\x1b[5m伯伯")
        await storage.save_question(10, 10, question)
        await storage.save_wish(10, 10, wish)

    for command in ("inbox", "wishes"):
        assert await run(command, "--config", str(config)) == 0
        out = capsys.readouterr().out
        assert out and unprintable(out) == []
        assert max(len(line) for line in out.splitlines()) < 200
    assert await run("inbox", "--config", str(config)) == 0
    assert "李�伯伯: 停水�0;pwned��找谁��" in capsys.readouterr().out

    for command in ("inbox", "wishes"):
        assert await run(command, "--json", "--config", str(config)) == 0
        out = capsys.readouterr().out
        assert unprintable(out) == []
        texts = {json.loads(line)["text"] for line in out.splitlines()}
        assert question in texts or wish in texts  # escaped in JSON, not lost


async def test_a_reader_that_goes_away_stops_the_output_quietly(config: Path, tmp_path: Path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -1` once head has its line
    try:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "handlers.cli", "inbox", "--json", "--config", str(config)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, b"")


async def test_teach_writes_the_overlay(config: Path, tmp_path: Path, capsys):
    assert await run("teach", "Q1", "canteen.hours", "--config", str(config)) == 0
    overlay = yaml.safe_load((tmp_path / "staff-overlay.yaml").read_text(encoding="utf-8"))
    assert overlay == {"teach": {"canteen.hours": {"zh": ["饭堂礼拜天开伐"]}}}
    assert await run("teach", "Q1", "canteen.hourz", "--config", str(config)) == 1
    assert "did you mean 'canteen.hours'" in capsys.readouterr().err
